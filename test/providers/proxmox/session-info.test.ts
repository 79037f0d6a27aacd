// Issue 16 on Proxmox, against the simulator: the language and the end time
// reach the CT at creation (winux-session-init's --language/--ends-at over SSH
// and pct exec), and later pushes (extensions, claims) run winux-session-set
// there; nothing but digits, fr/en and the validated user name is on the command line.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import type { Provider } from '../../../src/core/provider-port.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { ctxFor, fastTuning, simConfig, spec } from './sim-config.ts';

describe('proxmox: the desktop is told its language and end', () => {
  let sim: ProxmoxSim;
  let provider: Provider;
  before(async () => {
    sim = await startProxmoxSim();
    provider = createProxmoxProvider(simConfig(sim), silentLogger, fastTuning(sim));
  });
  after(async () => {
    await provider.close?.();
    await sim.close();
  });

  it('at creation, then on every push', async () => {
    const endsAt = Date.UTC(2030, 0, 1, 12, 0, 0, 1);
    const m = await provider.create(spec(30001, 'winux-info-001', { language: 'en', endsAt }), ctxFor());
    const ct = sim.cluster.cts.get(30001)!;
    assert.equal(ct.language, 'en');
    assert.equal(ct.endsAt, Math.ceil(endsAt / 1000));
    await provider.setSessionInfo!(m.ref, 'winux', { endsAt: endsAt + 1_800_000 });
    assert.equal(ct.endsAt, Math.ceil(endsAt / 1000) + 1800);
    assert.equal(ct.language, 'en', 'an extension leaves the language alone');
    await provider.setSessionInfo!(m.ref, 'winux', { endsAt, language: 'fr' });
    assert.equal(ct.language, 'fr');
    const pushes = sim.ssh!.commands.filter((c) => c.includes('winux-session-set'));
    assert.equal(pushes.length, 2);
    for (const c of pushes) assert.match(c, /^pct exec 30001 -- sh -c 'if \[ -x \/usr\/local\/sbin\/winux-session-set \]; then exec [^;]* --user winux; fi'$/);
    await assert.rejects(provider.setSessionInfo!(m.ref, 'x;reboot', { endsAt }), /unsafe user name/);
    await provider.destroy(m.ref);
  });
});
