// Many launches at once from one template: PVE locks the template for each
// clone ("CT is locked (disk)"), so unserialised clones would fail. All 20 must
// succeed with distinct ids. A second provider instance (another Winux replica)
// sharing the template exercises the cross-process path: it only sees the lock.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import type { Provider } from '../../../src/core/provider-port.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { ctxFor, fastTuning, simConfig, spec } from './sim-config.ts';

describe('proxmox provider under concurrency', () => {
  let sim: ProxmoxSim;
  let a: Provider;
  let b: Provider;

  before(async () => {
    sim = await startProxmoxSim({ timings: { cloneMs: 40, startMs: 30, dhcpMs: 60, desktopMs: 80 } });
    a = createProxmoxProvider(simConfig(sim), silentLogger, fastTuning(sim));
    b = createProxmoxProvider(simConfig(sim), silentLogger, fastTuning(sim));
  });
  after(async () => {
    await a.close?.();
    await b.close?.();
    await sim.close();
  });

  it('20 simultaneous creates from one template (two Winux instances) all succeed with distinct ids and addresses', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => 30101 + i);
    const results = await Promise.allSettled(ids.map((id, i) => (i % 2 ? b : a).create(spec(id), ctxFor())));
    const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    assert.deepEqual(failures, []);
    const machines = results.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<Provider['create']>>>).value);
    assert.equal(new Set(machines.map((m) => m.ref.containerId)).size, 20);
    assert.equal(new Set(machines.map((m) => m.ip)).size, 20);
    assert.equal((await a.list()).length, 20);
    // The other instance's clones really met the template's lock (this is what the queue + retry handle).
    assert.equal([...sim.cluster.tasks.values()].filter((t) => t.type === 'vzclone').length, 20);
    assert.ok(sim.cluster.lockRejections > 0, 'the two instances met the template lock');
    await Promise.all(machines.map((m, i) => (i % 2 ? b : a).destroy(m.ref)));
    assert.deepEqual(await a.list(), []);
    assert.equal(sim.cluster.cts.size, 1, 'only the template is left');
  });
});
