// The whole path through a real Winux server on the Proxmox provider against the
// simulator: POST → ready (the RDP stand-in answers at the returned host:port)
// → DELETE → nothing left. Then a server SIGKILLed while a clone is running,
// restarted on the same data: the session must end ready or failed, and no CT
// may be left that the store does not hold.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import { portOpen } from '../../../src/providers/proxmox/readiness.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { startTestServer, tempDir, waitFor, waitForReady } from '../../support/server.ts';
import { fastTuning, simConfig } from './sim-config.ts';

const api = '/api/winux';
const env = { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_CREATE_RATE_PER_MINUTE: '0', WINUX_CONTAINER_ID_MIN: '30501', WINUX_CONTAINER_ID_MAX: '30520' };

describe('Winux API on the Proxmox provider', () => {
  let sim: ProxmoxSim;
  before(async () => {
    sim = await startProxmoxSim({ timings: { cloneMs: 400, dhcpMs: 200, desktopMs: 300 } });
  });
  after(async () => {
    await sim.close();
  });

  it('POST → ready at host:port → DELETE leaves no CT', async () => {
    const dataDir = tempDir();
    const config = simConfig(sim, { ...env, WINUX_DATA_DIR: dataDir });
    const server = await startTestServer({ provider: createProxmoxProvider(config, silentLogger, fastTuning(sim)), config, dataDir });
    try {
      const created = await server.request('POST', `${api}/sessions`, {});
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const { token, session_id: id } = created.body;
      const session = await waitForReady(server, id, token, 30_000);
      assert.equal(session.node, 'pve1');
      assert.equal(session.port, 3389);
      assert.equal(session.host, session.ip);
      assert.equal(await portOpen(session.host, session.port), true);
      const ct = sim.cluster.cts.get(session.container_id)!;
      assert.equal(ct.users.get(session.username), session.password, 'the password the API shows is the one set in the CT');
      const del = await server.request('DELETE', `${api}/sessions/${id}`, { token });
      assert.ok([200, 202].includes(del.status), JSON.stringify(del.body));
      await waitFor(async () => (await server.request('GET', `${api}/sessions/${id}`, { token })).body.status === 'destroyed', 30_000, 'destroyed');
      assert.deepEqual([...sim.cluster.cts.keys()], [9000]);
    } finally {
      await server.close();
    }
  });

  async function startProcess(dataDir: string): Promise<{ child: ChildProcess; url: string; exited: Promise<unknown> }> {
    const e = simConfigEnv(dataDir);
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'server-main.ts')], {
      env: { ...process.env, ...e },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const first = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', () => reject(new Error('server exited before serving')));
    });
    return { child, exited, ...JSON.parse(first) };
  }

  function simConfigEnv(dataDir: string): Record<string, string> {
    const e = sim.env({ ...env, WINUX_PROVIDER: 'proxmox', WINUX_DATA_DIR: dataDir, WINUX_HOST: '127.0.0.1', WINUX_PORT: '0', WINUX_LOG_LEVEL: 'warn' });
    delete e.proxmox_ssh_known_hosts;
    return { ...e, WINUX_TEST_PROXMOX_TUNING: JSON.stringify(fastTuning(sim)) };
  }

  it('server killed while cloning, restarted: reconciled, nothing orphaned', async () => {
    const dataDir = tempDir();
    const first = await startProcess(dataDir);
    const res = await fetch(`${first.url}${api}/sessions`, { method: 'POST' });
    const created = (await res.json()) as { session_id: string; token: string; container_id: number };
    assert.equal(res.status, 202);
    // Kill it while PVE holds the clone lock: the CT exists, half made, still tagged like the template.
    await waitFor(() => sim.cluster.cts.get(created.container_id)?.config.lock === 'create', 10_000, 'the clone to start');
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startProcess(dataDir);
    try {
      const final = await waitFor(
        async () => {
          const r = await fetch(`${second.url}${api}/sessions/${created.session_id}`, { headers: { authorization: `Bearer ${created.token}` } });
          const body = (await r.json()) as { status: string; error?: string };
          return ['ready', 'failed', 'destroyed'].includes(body.status) ? body : null;
        },
        30_000,
        'the interrupted session to settle',
      );
      assert.equal(final.status, 'ready', String(final.error));
      const ct = sim.cluster.cts.get(created.container_id)!;
      assert.equal(ct.status, 'running');
      assert.equal(ct.config.tags, `winux;winux-session-${created.session_id.toLowerCase().replace(/[^a-z0-9_+.-]/g, '-')}`);
      assert.equal(sim.cluster.cts.get(9000)!.config.lock, undefined);
      // And an orphan (a Winux CT the store does not know) is removed by the next start-up.
      const provider = createProxmoxProvider(simConfig(sim, env), silentLogger, fastTuning(sim));
      await provider.create(
        {
          sessionId: 'orphan',
          containerId: 30519,
          hostname: 'winux-30519',
          username: 'winux',
          password: 'orphan-Secret-1',
          memoryMb: 512,
          cores: 1,
          diskGb: 4,
          pidsMax: 1024,
        },
        { signal: new AbortController().signal, progress: () => {} },
      );
      await provider.close?.();
      second.child.kill('SIGTERM');
      await second.exited;
      const third = await startProcess(dataDir);
      try {
        await waitFor(() => !sim.cluster.cts.has(30519), 15_000, 'the orphan to be removed');
        assert.ok(sim.cluster.cts.has(created.container_id), 'the live session kept its CT');
        const del = await fetch(`${third.url}${api}/sessions/${created.session_id}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${created.token}` },
        });
        assert.ok([200, 202].includes(del.status));
        await waitFor(() => !sim.cluster.cts.has(created.container_id), 15_000, 'the session CT to go');
      } finally {
        third.child.kill('SIGTERM');
        await third.exited;
      }
    } finally {
      if (second.child.exitCode === null) {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    }
    assert.deepEqual([...sim.cluster.cts.keys()], [9000]);
  });
});
