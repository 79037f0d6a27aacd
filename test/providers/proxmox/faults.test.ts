// Fault injection: 20 % of API calls answer 5xx (half of them after PVE already
// acted, the answer lost), some tasks fail, and some workers die leaving their
// locks. Every create must either succeed or throw, and destroying everything
// afterwards must leave no session CT behind.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import type { Provider } from '../../../src/core/provider-port.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { ctxFor, fastTuning, simConfig, spec } from './sim-config.ts';

describe('proxmox provider with injected faults', () => {
  let sim: ProxmoxSim;
  let provider: Provider;

  before(async () => {
    sim = await startProxmoxSim({
      seed: Number(process.env.WINUX_SIM_SEED ?? 7),
      timings: { cloneMs: 30, startMs: 30, dhcpMs: 50, desktopMs: 60, destroyMs: 20 },
    });
    provider = createProxmoxProvider(simConfig(sim), silentLogger, fastTuning(sim, { staleLockMs: 200 }));
  });
  after(async () => {
    await provider.close?.();
    await sim.close();
  });

  it('20 % 5xx, failing and crashing tasks: each create succeeds or throws; destroy leaves zero CTs', async () => {
    sim.cluster.faults.http5xxRate = 0.2;
    sim.cluster.faults.taskFailRate = 0.1;
    sim.cluster.faults.taskCrashRate = 0.05;
    const ids = Array.from({ length: 20 }, (_, i) => 30201 + i);
    const results = await Promise.allSettled(ids.map((id) => provider.create(spec(id), ctxFor())));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    // Faults stay on while cleaning up: destroy has to cope with them too.
    const destroyed = await Promise.allSettled(ids.map((id) => provider.destroy({ containerId: id })));
    assert.deepEqual(
      destroyed.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
      [],
    );
    sim.cluster.faults.http5xxRate = 0;
    const left = [...sim.cluster.cts.values()].filter((c) => c.vmid !== 9000).map((c) => `${c.vmid}:${c.config.lock ?? ''}`);
    assert.deepEqual(left, []);
    assert.equal(sim.cluster.cts.get(9000)?.config.lock, undefined, 'template not left locked');
    // Most sessions should survive 20 % faults thanks to safe retries (not a timing assertion: a behaviour one).
    assert.ok(ok >= 10, `only ${ok}/20 creates succeeded`);
    const crashed = [...sim.cluster.tasks.values()].filter((t) => t.exitstatus === 'unexpected status').length;
    const failedTasks = [...sim.cluster.tasks.values()].filter((t) => t.exitstatus && t.exitstatus !== 'OK' && t.exitstatus !== 'unexpected status').length;
    assert.ok(crashed + failedTasks > 0, 'faults were actually injected');
  });
});
