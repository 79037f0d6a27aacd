// The whole path through the real server: HTTP API → service → LXC provider →
// a real desktop, logged into with FreeRDP at the host:port the API returns.
// Then a server killed with SIGKILL in the middle of creations, restarted on
// the same data: nothing may be left behind.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createLxcProvider } from '../../../src/providers/lxc/index.ts';
import { run } from '../../../src/providers/lxc/exec.ts';
import { containerName, rdpPort } from '../../../src/providers/lxc/naming.ts';
import { startTestServer, waitForReady, tempDir, waitFor, type TestServer } from '../../support/server.ts';
import { leftovers, logger, lxcRange, portAccepts, prepareHost, rdpLogin, startXvfb } from './helpers.ts';

const api = '/api/winux';
// Ids and ports of their own, away from the provider test's and a real server's.
const { env, config, cleanAll } = lxcRange(30801, 34701, 10);
let xvfb: Awaited<ReturnType<typeof startXvfb>>;

before(
  async () => {
    await prepareHost(config);
    await cleanAll();
    xvfb = await startXvfb();
  },
  { timeout: 45 * 60_000 },
);

after(async () => {
  xvfb?.stop();
  await cleanAll();
});

test('POST → ready → RDP login at the returned host:port → DELETE leaves nothing', { timeout: 300_000 }, async () => {
  const server: TestServer = await startTestServer({ provider: createLxcProvider(config, logger), env });
  try {
    const created = await server.request('POST', `${api}/sessions`, {});
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const { token, session_id: id } = created.body;
    const session = await waitForReady(server, id, token, 240_000);
    const containerId = session.container_id as number;
    assert.equal(session.port, rdpPort(config, containerId));
    assert.equal(session.host, '127.0.0.1');
    assert.ok(session.password.length >= 16);

    assert.equal(await rdpLogin(config, containerId, session.port, session.username, `${session.password}!`, xvfb.display), 'refused');
    assert.equal(await rdpLogin(config, containerId, session.port, session.username, session.password, xvfb.display), 'accepted');

    const del = await server.request('DELETE', `${api}/sessions/${id}`, { token });
    assert.ok([200, 202].includes(del.status), JSON.stringify(del.body));
    await waitFor(async () => (await server.request('GET', `${api}/sessions/${id}`, { token })).body.status === 'destroyed', 120_000, 'destroyed');
    assert.deepEqual(await leftovers(config, containerId), []);
    assert.equal(await portAccepts(session.port), false, 'the RDP port is still open');
  } finally {
    await server.close();
  }
});

test('an expired session is destroyed by the reaper, leaving nothing', { timeout: 300_000 }, async () => {
  const server: TestServer = await startTestServer({ provider: createLxcProvider(config, logger), env: { ...env, WINUX_SWEEP_SECONDS: '2' } });
  try {
    const created = await server.request('POST', `${api}/sessions`, { body: { duration_minutes: 1 } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const { token, session_id: id, container_id: containerId } = created.body;
    await waitForReady(server, id, token, 240_000);
    assert.equal(await portAccepts(rdpPort(config, containerId)), true, 'control: the port is open while the session lives');
    await waitFor(async () => (await server.request('GET', `${api}/sessions/${id}`, { token })).body.status === 'destroyed', 150_000, 'expiry');
    assert.deepEqual(await leftovers(config, containerId), []);
    assert.equal(await portAccepts(rdpPort(config, containerId)), false);
  } finally {
    await server.close();
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function startServerProcess(dataDir: string, port: number): ChildProcess {
  return spawn(process.execPath, [path.resolve(import.meta.dirname, '../../../bin/winux.js'), 'serve', '--no-prepare'], {
    env: {
      ...process.env,
      ...env,
      WINUX_DATA_DIR: dataDir,
      WINUX_HOST: '127.0.0.1',
      WINUX_PORT: String(port),
      WINUX_LOG_LEVEL: 'warn',
      WINUX_SWEEP_SECONDS: '2',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Waits until the server on `port` answers its health check. */
function healthy(port: number, what: string) {
  const answers = () =>
    fetch(`http://127.0.0.1:${port}${api}/health`)
      .then((r) => r.ok)
      .catch(() => false);
  return waitFor(answers, 60_000, what);
}

async function api2(port: number, method: string, urlPath: string, token?: string) {
  const res = await fetch(`http://127.0.0.1:${port}${api}${urlPath}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json().catch(() => null)) as any };
}

test('a server killed with SIGKILL during creations leaves nothing once restarted and its sessions ended', { timeout: 480_000 }, async () => {
  const dataDir = tempDir();
  const port = await freePort();
  let child = startServerProcess(dataDir, port);
  const stopChild = async (c: ChildProcess, signal: NodeJS.Signals) => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await exited;
  };
  try {
    await healthy(port, 'the server');
    const sessions: Array<{ id: string; token: string; containerId: number }> = [];
    for (let i = 0; i < 2; i++) {
      const r = await api2(port, 'POST', '/sessions');
      assert.equal(r.status, 202, JSON.stringify(r.body));
      sessions.push({ id: r.body.session_id, token: r.body.token, containerId: r.body.container_id });
    }
    // Kill it once the clones exist but before the desktops are ready.
    await waitFor(() => sessions.every((s) => existsSync(path.join(config.lxc.path, containerName(s.containerId), 'config'))), 60_000, 'the clones');
    const statuses = await Promise.all(sessions.map(async (s) => (await api2(port, 'GET', `/sessions/${s.id}`, s.token)).body.status));
    await stopChild(child, 'SIGKILL');
    assert.ok(statuses.includes('creating'), `control: the server must die mid-creation (statuses were ${statuses.join(', ')})`);
    // An orphan too: a session container the store knows nothing about.
    await run('lxc-copy', ['-P', config.lxc.path, '-n', config.lxc.template, '-N', containerName(30810), '-s', '-B', 'overlayfs']);

    child = startServerProcess(dataDir, port);
    await healthy(port, 'the restarted server');
    await waitFor(async () => !existsSync(path.join(config.lxc.path, containerName(30810))), 60_000, 'the orphan to be removed');
    // Interrupted creations are resumed (or failed and cleaned): each ends up settled, never stuck.
    for (const s of sessions) {
      const status = await waitFor(
        async () => {
          const r = await api2(port, 'GET', `/sessions/${s.id}`, s.token);
          return ['ready', 'failed'].includes(r.body?.status) ? (r.body.status as string) : null;
        },
        240_000,
        `session ${s.id} to settle`,
      );
      if (status === 'ready') {
        const d = await api2(port, 'DELETE', `/sessions/${s.id}`, s.token);
        assert.ok([200, 202].includes(d.status));
      }
    }
    for (const s of sessions) {
      await waitFor(async () => (await leftovers(config, s.containerId)).length === 0, 120_000, `${containerName(s.containerId)} to be gone`);
    }
    assert.deepEqual(await leftovers(config, 30810), []);
  } finally {
    await stopChild(child, 'SIGTERM');
  }
});
