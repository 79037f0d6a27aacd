// What the admin console shows of a Proxmox cluster, through a real Winux server
// against the simulator: each session CT's CPU and memory (one bulk
// /cluster/resources call per sample), each node's memory, disk and CPU, and the
// Winux CT templates per node — with no rebuild offered (templates are pushed),
// a refused rebuild changing nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { startTestServer, tempDir, waitFor, waitForReady, type TestServer } from '../../support/server.ts';
import { fastTuning, simConfig } from './sim-config.ts';

const api = '/api/winux';
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe('the admin console on the Proxmox provider', () => {
  let sim: ProxmoxSim;
  let server: TestServer;
  before(async () => {
    sim = await startProxmoxSim({
      nodes: [
        { name: 'pve1', maxmem: 64 * GiB, mem: 4 * GiB, maxcpu: 16 },
        { name: 'pve2', maxmem: 32 * GiB, mem: 2 * GiB, maxcpu: 8 },
      ],
      timings: { cloneMs: 200, dhcpMs: 100, desktopMs: 100 },
    });
    const dataDir = tempDir();
    const config = simConfig(sim, {
      WINUX_DATA_DIR: dataDir,
      WINUX_SESSIONS_PER_VISITOR: '0',
      WINUX_CREATE_RATE_PER_MINUTE: '0',
      WINUX_CONTAINER_ID_MIN: '30671',
      WINUX_CONTAINER_ID_MAX: '30680',
      WINUX_CORES: '2',
      WINUX_USAGE_SAMPLE_SECONDS: '1',
    });
    server = await startTestServer({ provider: createProxmoxProvider(config, silentLogger, fastTuning(sim)), config, dataDir });
  });
  after(async () => {
    await server?.close();
    await sim?.close();
  });

  const overview = async () => {
    const r = await server.request('GET', `${api}/admin/overview`, { token: server.adminToken });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  it("shows a session CT's CPU and memory as PVE reports them", async () => {
    const created = await server.request('POST', `${api}/sessions`, {});
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const session = await waitForReady(server, created.body.session_id, created.body.token);
    const ct = sim.cluster.cts.get(session.container_id)!;
    // A busy desktop: three quarters of its 2 cores, 700 MiB.
    ct.load = { cpu: 0.75, mem: 700 * MiB };
    const row = await waitFor(
      async () => {
        const r = (await overview()).sessions.find((s: any) => s.session_id === session.session_id);
        return r?.cpu_percent === 150 ? r : null;
      },
      10_000,
      'the sampled CPU of the CT',
    );
    assert.equal(row.memory_bytes, 700 * MiB);
    ct.load = { cpu: 0.1, mem: 300 * MiB };
    await waitFor(
      async () => (await overview()).sessions.find((s: any) => s.session_id === session.session_id)?.memory_bytes === 300 * MiB,
      10_000,
      'a new sample',
    );
  });

  it("shows each node's memory, disk and CPU", async () => {
    const o = await overview();
    assert.deepEqual(
      o.nodes.map((n: any) => n.node),
      ['pve1', 'pve2'],
    );
    const [pve1, pve2] = o.nodes;
    assert.equal(pve1.memory_total_bytes, 64 * GiB);
    assert.equal(pve2.memory_total_bytes, 32 * GiB);
    // The node's memory counts its running CTs (the session's, on one of them).
    assert.equal(
      pve1.memory_used_bytes + pve2.memory_used_bytes,
      6 * GiB + 1024 * MiB * [...sim.cluster.cts.values()].filter((c) => c.status === 'running').length,
    );
    assert.equal(pve1.cpus, 16);
    assert.equal(typeof pve1.cpu_percent, 'number');
    assert.ok(pve1.disk_total_bytes > 0 && pve1.disk_used_bytes >= 0);
    assert.equal(pve1.online, true);
  });

  it('lists the Winux templates per node and offers no rebuild; a rebuild request is refused and changes nothing', async () => {
    // As `winux template push` leaves it.
    sim.cluster.cts.get(9000)!.config.description =
      'Winux desktop template from debian-12-winux_0123456789abcdef_amd64.tar.zst, pushed 2026-11-30T10:00:00.000Z';
    const t = (await server.request('GET', `${api}/admin/template`, { token: server.adminToken })).body;
    assert.equal(t.rebuild_offered, false);
    assert.match(t.rebuild_reason, /winux template push/);
    assert.deepEqual(
      t.copies.map((c: any) => [c.node, c.name, c.hash]),
      [
        ['pve1', '9000 (winux-template)', '0123456789abcdef'],
        ['pve2', '9001 (winux-template)', null],
      ],
    );
    assert.equal(t.copies[0].built_at, '2026-11-30T10:00:00.000Z');
    const refused = await server.request('POST', `${api}/admin/template/rebuild`, { token: server.adminToken, body: {} });
    assert.equal(refused.status, 409);
    assert.match(refused.body.message, /winux template push/);
    assert.equal((await server.request('GET', `${api}/admin/template`, { token: server.adminToken })).body.rebuild.running, false);
    const audit = (await server.request('GET', `${api}/audit?action=template.rebuild`, { token: server.adminToken })).body.entries;
    assert.deepEqual(audit, []);
    // A visitor cannot even look.
    assert.equal((await server.request('GET', `${api}/admin/template`, {})).status, 401);
  });
});
