// Crash recovery: a real server process is killed (SIGKILL) between steps, started
// again on the same data dir, and must finish or undo what was in flight.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { Store } from '../../src/store/store.ts';
import { tempDir, waitFor } from '../support/server.ts';

const api = '/api/winux';
const main = path.resolve(import.meta.dirname, '../support/fake-server-main.ts');

interface Proc {
  child: ChildProcess;
  url: string;
  adminToken: string;
  exited: Promise<number | null>;
}

async function startProcess(dataDir: string, env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', main], {
    env: {
      ...process.env,
      WINUX_DATA_DIR: dataDir,
      WINUX_HOST: '127.0.0.1',
      WINUX_PORT: '0',
      WINUX_LOG_LEVEL: 'warn',
      WINUX_SESSIONS_PER_VISITOR: '0',
      WINUX_CREATE_RATE_PER_MINUTE: '0',
      FAKE_STATE_FILE: path.join(dataDir, 'machines.json'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const first = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', () => reject(new Error('server exited before it served')));
  });
  return { child, exited, ...JSON.parse(first) };
}

async function post(p: Proc): Promise<any> {
  const res = await fetch(`${p.url}${api}/sessions`, { method: 'POST' });
  return res.json();
}

function machines(dataDir: string): number[] {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dataDir, 'machines.json'), 'utf8')) as { containerId: number }[]).map((m) => m.containerId).sort();
  } catch {
    return [];
  }
}

async function sessions(dataDir: string) {
  const store = await Store.open(`sqlite:${path.join(dataDir, 'winux.db')}`);
  try {
    return await store.list({});
  } finally {
    await store.close();
  }
}

describe('crash recovery', () => {
  test('killed after the container was built but before "ready" was written: the restart finishes the creation', async () => {
    const dir = tempDir();
    const crashing = await startProcess(dir, { FAKE_CRASH_AT: 'machine-created' });
    const created = await post(crashing);
    await crashing.exited;
    assert.equal((await sessions(dir))[0].status, 'creating');
    assert.deepEqual(machines(dir), [created.container_id]);
    const again = await startProcess(dir);
    try {
      const ready = await waitFor(
        async () => {
          const r = await fetch(`${again.url}${api}/sessions/${created.session_id}`, { headers: { authorization: `Bearer ${created.token}` } });
          const body = await r.json();
          return body.status === 'ready' ? body : undefined;
        },
        8000,
        'ready after restart',
      );
      assert.equal(ready.password, created.password, 'the token and credentials still work');
      assert.deepEqual(machines(dir), [created.container_id], 'adopted, not built twice');
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  });

  test('killed after the container was removed but before "destroyed" was written: the restart completes it', async () => {
    const dir = tempDir();
    const first = await startProcess(dir, { FAKE_CRASH_AT: 'machine-removed' });
    const created = await post(first);
    await waitFor(
      async () =>
        (await (await fetch(`${first.url}${api}/sessions/${created.session_id}`, { headers: { authorization: `Bearer ${created.token}` } })).json()).status ===
        'ready',
    );
    await fetch(`${first.url}${api}/sessions/${created.session_id}`, { method: 'DELETE', headers: { authorization: `Bearer ${created.token}` } });
    await first.exited;
    const before = (await sessions(dir))[0];
    assert.equal(before.status, 'destroying');
    assert.equal(before.holdsContainer, true);
    const again = await startProcess(dir);
    try {
      await waitFor(async () => (await sessions(dir))[0].status === 'destroyed', 8000, 'destroyed after restart');
      assert.equal((await sessions(dir))[0].holdsContainer, false);
      assert.deepEqual(machines(dir), []);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  });

  test('SIGKILL in the middle of 10 creations: after restart every session is ready or failed-and-cleaned, nothing leaks', async () => {
    const dir = tempDir();
    const first = await startProcess(dir, { FAKE_STEP_MS: '150' });
    const created = await Promise.all(Array.from({ length: 10 }, () => post(first)));
    await new Promise((r) => setTimeout(r, 250));
    first.child.kill('SIGKILL');
    await first.exited;
    assert.ok(
      (await sessions(dir)).some((s) => s.status === 'creating'),
      'the kill interrupted creations',
    );
    const again = await startProcess(dir, { FAKE_STEP_MS: '5' });
    try {
      const settled = await waitFor(
        async () => {
          const all = await sessions(dir);
          return all.every((s) => s.status === 'ready' || (s.status === 'failed' && !s.holdsContainer)) ? all : undefined;
        },
        10_000,
        'every session settled',
      );
      assert.equal(settled.length, 10);
      const readyIds = settled
        .filter((s) => s.status === 'ready')
        .map((s) => s.containerId)
        .sort();
      assert.deepEqual(machines(dir), readyIds, 'a machine for each ready session, and only those');
      assert.equal(new Set(created.map((c) => c.container_id)).size, 10);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  });

  test('an orphan container left by a crash (no session row) is removed at start', async () => {
    const dir = tempDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'machines.json'), JSON.stringify([{ containerId: 30777, state: 'running', password: 'x', username: 'winux' }]));
    const p = await startProcess(dir);
    try {
      // Removed in the background: serving does not wait on a slow removal.
      await waitFor(async () => (machines(dir).length === 0 ? true : undefined), 5_000, 'the orphan removed');
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });

  test('SIGTERM lets in-flight creations finish before exiting', async () => {
    const dir = tempDir();
    const p = await startProcess(dir, { FAKE_STEP_MS: '100' });
    const created = await post(p);
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
    const [s] = await sessions(dir);
    assert.equal(s.id, created.session_id);
    assert.equal(s.status, 'ready');
  });
});
