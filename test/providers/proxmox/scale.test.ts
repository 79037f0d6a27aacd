// The background passes' cost on the Proxmox API does not grow with the number
// of sessions: a reaper pass with nothing due calls nothing, a reconciler pass
// makes one bulk listing (`/cluster/resources?type=vm`) whether 100 or 1,000
// sessions are live, on a 10-node simulated cluster. A behaviour test: calls are
// counted by the simulator, nothing is timed (bench/proxmox-scale.ts has figures).
//
// The first sessions are created through the API (the real path); the others
// are seeded as that path leaves them (a ready session in the store, its running
// CT tagged and pooled in the simulator), since creating 990 more over SSH would
// take this file minutes. The bench creates all of them through the API.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import { sessionTags } from '../../../src/providers/proxmox/naming.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { startTestServer, waitForReady, type TestServer } from '../../support/server.ts';
import { fastTuning, simConfig } from './sim-config.ts';

const GiB = 1024 ** 3;
const idMin = 31001;
const idMax = 32100;
/** What a session just inserted has not got yet. */
const notYet = { node: null, ip: null, endpointHost: null, port: null, providerRef: null, readyAt: null, endedAt: null, error: null };

describe('Proxmox API calls per background pass, 100 vs 1,000 live sessions', () => {
  let sim: ProxmoxSim;
  let server: TestServer;

  before(async () => {
    sim = await startProxmoxSim({
      nodes: Array.from({ length: 10 }, (_, i) => ({ name: `pve${i + 1}`, maxmem: 256 * GiB, mem: 4 * GiB })),
      speed: 10,
    });
    const env = {
      WINUX_CONTAINER_ID_MIN: String(idMin),
      WINUX_CONTAINER_ID_MAX: String(idMax),
      WINUX_SESSIONS_PER_VISITOR: '0',
      WINUX_SESSION_MINUTES: '240',
      // The console's CPU/memory sampler has its own loop (one bulk listing per sample):
      // kept out of the window, which counts the reaper's and reconciler's passes only.
      WINUX_USAGE_SAMPLE_SECONDS: '3600',
      proxmox_node: 'auto',
    };
    const provider = createProxmoxProvider(simConfig(sim, env), silentLogger, fastTuning(sim));
    server = await startTestServer({ provider, reaper: false, env });
  });
  after(async () => {
    await server?.close(); // closes the provider too
    await sim?.close();
  });

  /** Adds ready sessions until `total` are live, each with its running CT on the next node's template. */
  async function seedUpTo(total: number): Promise<void> {
    const now = Date.now();
    const nodes = [...sim.cluster.nodes.keys()];
    const rules = { idMin, idMax, maxSessions: idMax - idMin + 1, perVisitor: 0 };
    for (let n = await server.store.countHeld(); n < total; n++) {
      const id = `seeded-${n}`;
      const stored = await server.store.insertWithContainer(
        {
          ...notYet,
          id,
          status: 'creating',
          step: 'allocating',
          pooled: false,
          username: 'winux',
          password: randomBytes(10).toString('hex'),
          tokenHash: randomBytes(32).toString('hex'),
          visitor: `visitor-${n}`,
          clientAddress: '127.0.0.1',
          createdAt: now,
          expiresAt: now + 4 * 3600_000,
          durationMinutes: 240,
        },
        rules,
      );
      assert.ok(!('refused' in stored), 'room for every seeded session');
      const node = nodes[n % nodes.length]!;
      const ct = sim.cluster.addRunningSessionCt(node, stored.containerId, sessionTags(id), 9000 + nodes.indexOf(node));
      const ref = { containerId: ct.vmid, node, vmid: ct.vmid, hostname: `winux-${ct.vmid}`, ip: ct.ip };
      const ready = await server.store.transition(id, ['creating'], 'ready', { step: 'ready', node, ip: ct.ip!, providerRef: ref, readyAt: now }, now);
      assert.ok(ready);
    }
  }

  /** One reaper pass and one reconciler pass, with the calls each made. */
  async function passes() {
    let before = new Map(sim.cluster.calls);
    const reaper = await server.reaper.runOnce({ reconcile: false });
    const reaperCalls = sim.cluster.callsSince(before);
    before = new Map(sim.cluster.calls);
    const reconcile = await server.service.reconcile();
    return { reaper, reaperCalls, reconcile, reconcileCalls: sim.cluster.callsSince(before) };
  }

  it('makes the same calls per pass at 100 and at 1,000 sessions: none for the reaper, one bulk listing for the reconciler', async () => {
    const created = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const r = await server.request('POST', '/api/winux/sessions', { body: {} });
        assert.equal(r.status, 202, JSON.stringify(r.body));
        return waitForReady(server, r.body.session_id, r.body.token, 60_000);
      }),
    );
    assert.equal(new Set(created.map((s) => s.node)).size, 10, 'ten creations at once spread over the ten nodes');

    await seedUpTo(100);
    const at100 = await passes();
    await seedUpTo(1000);
    const at1000 = await passes();

    for (const [n, at] of [
      [100, at100],
      [1000, at1000],
    ] as const) {
      assert.deepEqual(at.reaper, { expired: 0, retried: 0, reconciled: false }, `${n}: nothing due`);
      assert.equal(at.reconcile.checked, n, `${n}: the reconciler checked every live session`);
      assert.deepEqual([at.reconcile.unseen, at.reconcile.failed, at.reconcile.orphans], [0, 0, 0], `${n}: every CT was seen running in the one listing`);
    }
    assert.deepEqual(at100.reaperCalls, {}, 'a reaper pass with nothing due asks Proxmox nothing');
    assert.deepEqual(at100.reconcileCalls, { 'GET /cluster/resources?type=vm': 1 }, 'one bulk listing of guests, not one call per node or per CT');
    assert.deepEqual(at1000.reaperCalls, at100.reaperCalls);
    assert.deepEqual(at1000.reconcileCalls, at100.reconcileCalls, 'ten times the sessions, the same calls');
    assert.equal((await server.store.list({ statuses: ['ready'] })).length, 1000);
  });
});
