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

  it("keeps a created CT's promise until a listing shows it running, drops a failed one's at once, and a never-seen one's after a minute", () => {
    let now = 1_000_000;
    const r = new Reservations(() => now);
    const vm = (vmid: number, node: string, status: string) => ({ id: `lxc/${vmid}`, type: 'lxc' as const, vmid, node, status });
    r.add('a', GiB, 101)(true);
    r.add('a', 2 * GiB, 102)(false);
    const running = r.add('b', 4 * GiB, 103);
    assert.equal(r.of('a'), GiB, 'the created one stays promised, the failed one is gone');
    r.settle([vm(101, 'a', 'unknown'), vm(103, 'b', 'stopped')]);
    assert.equal(r.of('a'), GiB, "not yet in its node's figures: still promised");
    assert.equal(r.of('b'), 4 * GiB, 'a creation under way stays promised');
    r.settle([vm(101, 'a', 'running'), vm(103, 'b', 'running')]);
    assert.equal(r.of('a'), 0);
    assert.equal(r.of('b'), 0, "counted in its node's figures once running, even before its creation ends");
    running(true);
    assert.equal(r.of('b'), 0);
    r.add('c', GiB, 104)(true);
    now += 59_000;
    assert.equal(r.of('c'), GiB);
    now += 2_000;
    assert.equal(r.of('c'), 0, 'a CT this token never sees running does not hold memory forever');
  });

  describe('with node figures that lag, as pvestatd pushes them every 10 s', () => {
    let sim: ProxmoxSim;
    let provider: Provider;
    before(async () => {
      // Pushed once at start, then only when the test says (the interval is longer than the test).
      sim = await startProxmoxSim({
        nodes: ['pve1', 'pve2', 'pve3', 'pve4'].map((name) => ({ name, maxmem: 32 * GiB, mem: 4 * GiB })),
        timings: { cloneMs: 10, startMs: 10, dhcpMs: 20, desktopMs: 20 },
        statsIntervalMs: 3_600_000,
      });
      provider = createProxmoxProvider(simConfig(sim, { proxmox_node: 'auto' }), silentLogger, fastTuning(sim));
    });
    after(async () => {
      await provider.close?.();
      await sim.close();
    });

    it('spreads creations one after another between two pushes instead of piling them onto the node that looked emptiest', async () => {
      const perNode = (from: number) => {
        const counts: Record<string, number> = {};
        for (const ct of sim.cluster.cts.values()) if (ct.vmid >= from) counts[ct.node] = (counts[ct.node] ?? 0) + 1;
        return counts;
      };
      for (let i = 0; i < 8; i++) await provider.create(spec(30331 + i), ctxFor());
      const listed = sim.cluster.callsSince(new Map());
      assert.ok(listed['GET /cluster/resources'], 'placement read the node figures');
      assert.deepEqual(perNode(30331), { pve1: 2, pve2: 2, pve3: 2, pve4: 2 }, 'none of these 8 was in the figures yet');
      sim.cluster.pushStats();
      for (let i = 0; i < 4; i++) await provider.create(spec(30341 + i), ctxFor());
      assert.deepEqual(perNode(30341), { pve1: 1, pve2: 1, pve3: 1, pve4: 1 }, 'after a push the figures count them, and the promises are not counted twice');
      for (const m of await provider.list()) await provider.destroy(m.ref);
    });

    it("counts another Winux's CTs that the figures miss, so two replicas creating one after the other spread too", async () => {
      sim.cluster.pushStats();
      const other = createProxmoxProvider(simConfig(sim, { proxmox_node: 'auto' }), silentLogger, fastTuning(sim));
      try {
        const placed: Record<string, number> = {};
        // Two here, six there: the second would put its first two where the first put its own.
        for (let i = 0; i < 8; i++) {
          const m = await (i < 2 ? provider : other).create(spec(30351 + i), ctxFor());
          placed[m.node!] = (placed[m.node!] ?? 0) + 1;
        }
        assert.deepEqual(placed, { pve1: 2, pve2: 2, pve3: 2, pve4: 2 }, "neither process's promises are visible to the other: the listing's CTs are");
        for (const m of await provider.list()) await provider.destroy(m.ref);
      } finally {
        await other.close?.();
      }
    });
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
