// Placement over several nodes by free memory, from one /cluster/resources call
// per decision; in-flight creations count against their node.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import { chooseNode, Reservations } from '../../../src/providers/proxmox/placement.ts';
import type { Provider } from '../../../src/core/provider-port.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { ctxFor, fastTuning, simConfig, spec } from './sim-config.ts';

const GiB = 1024 ** 3;

describe('placement', () => {
  it('chooses the online allowed node with the most free memory, minus reservations', () => {
    const nodes = [
      { type: 'node' as const, node: 'a', status: 'online' as const, mem: 10 * GiB, maxmem: 64 * GiB },
      { type: 'node' as const, node: 'b', status: 'online' as const, mem: 4 * GiB, maxmem: 32 * GiB },
      { type: 'node' as const, node: 'c', status: 'offline' as const, mem: 0, maxmem: 512 * GiB },
    ];
    const r = new Reservations();
    assert.equal(chooseNode({ nodes, allowed: ['auto'], reservations: r, needBytes: GiB }), 'a');
    assert.equal(chooseNode({ nodes, allowed: ['b', 'c'], reservations: r, needBytes: GiB }), 'b');
    assert.equal(chooseNode({ nodes, allowed: ['auto'], eligible: new Set(['b']), reservations: r, needBytes: GiB }), 'b');
    const release = r.add('a', 30 * GiB);
    assert.equal(chooseNode({ nodes, allowed: ['auto'], reservations: r, needBytes: GiB }), 'b');
    release();
    assert.throws(() => chooseNode({ nodes, allowed: ['auto'], reservations: r, needBytes: 100 * GiB }), /cluster is full/);
    assert.throws(() => chooseNode({ nodes, allowed: ['c'], reservations: r, needBytes: GiB }), /No online Proxmox node/);
  });

  describe('over two simulated nodes', () => {
    let sim: ProxmoxSim;
    let provider: Provider;
    before(async () => {
      sim = await startProxmoxSim({
        nodes: [
          { name: 'pve1', maxmem: 16 * GiB, mem: 10 * GiB },
          { name: 'pve2', maxmem: 16 * GiB, mem: 6 * GiB },
        ],
        timings: { cloneMs: 20, startMs: 20, dhcpMs: 30, desktopMs: 40 },
      });
      provider = createProxmoxProvider(simConfig(sim, { proxmox_node: 'auto' }), silentLogger, fastTuning(sim));
    });
    after(async () => {
      await provider.close?.();
      await sim.close();
    });

    it("fills the emptier node first, then balances, each clone from its own node's template", async () => {
      // Free: pve1 6 GiB, pve2 10 GiB. 1 GiB each → pve2 ×4 until equal, then alternating.
      const placed: string[] = [];
      for (let i = 0; i < 6; i++) placed.push((await provider.create(spec(30301 + i), ctxFor())).node!);
      assert.deepEqual(placed.slice(0, 4), ['pve2', 'pve2', 'pve2', 'pve2']);
      assert.deepEqual([...placed.slice(4)].sort(), ['pve1', 'pve2']);
      for (const ct of sim.cluster.cts.values()) {
        if (ct.vmid >= 30301) assert.match(String(ct.config.rootfs), ct.node === 'pve1' ? /base-9000-/ : /base-9001-/);
      }
      // The SSH password step ran on each CT's own node (pct only sees local CTs).
      for (const ct of sim.cluster.cts.values()) if (ct.vmid >= 30301) assert.ok(ct.users.get('winux')?.startsWith('pw-'));
      // Simultaneous launches spread too (reservations), rather than all picking pve1/pve2 from one snapshot.
      const burst = await Promise.all([0, 1, 2, 3].map((i) => provider.create(spec(30311 + i), ctxFor())));
      const counts = burst.reduce<Record<string, number>>((acc, m) => {
        acc[m.node!] = (acc[m.node!] ?? 0) + 1;
        return acc;
      }, {});
      assert.deepEqual(counts, { pve1: 2, pve2: 2 });
      for (const m of await provider.list()) await provider.destroy(m.ref);
      assert.deepEqual(await provider.list(), []);
    });

    it('places only on configured nodes', async () => {
      const p = createProxmoxProvider(simConfig(sim, { proxmox_node: 'pve1' }), silentLogger, fastTuning(sim));
      const m = await p.create(spec(30321), ctxFor());
      assert.equal(m.node, 'pve1');
      await p.destroy(m.ref);
      await p.close?.();
    });
  });
});
