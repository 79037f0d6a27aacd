// The CLI against a running server, as an admin would use it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, waitFor, type TestServer } from '../support/server.ts';

const run = promisify(execFile);
const bin = path.resolve(import.meta.dirname, '../../bin/winux.js');

describe('winux CLI', () => {
  let s: TestServer;
  const cli = (args: string[], env: Record<string, string> = {}) =>
    run(process.execPath, [bin, '--url', s.url, ...args], { env: { ...process.env, WINUX_DATA_DIR: s.dataDir, ...env } });

  before(async () => {
    s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
  });
  after(async () => {
    await s.close();
  });

  test('sessions create --wait, list, show, delete, with the admin token from the data dir', async () => {
    const created = JSON.parse((await cli(['sessions', 'create', '--minutes', '5', '--wait'])).stdout);
    assert.equal(created.status, 'ready');
    assert.equal(created.duration_minutes, 5);
    assert.ok(created.token);
    const list = (await cli(['sessions', 'list'])).stdout;
    assert.match(list, new RegExp(created.session_id));
    assert.match(list, /ready/);
    const listed = JSON.parse((await cli(['--json', 'sessions', 'list'])).stdout);
    assert.ok(listed.some((x: any) => x.session_id === created.session_id));
    const shown = JSON.parse((await cli(['sessions', 'show', created.session_id])).stdout);
    assert.equal(shown.password, created.password);
    const deleted = (await cli(['sessions', 'delete', created.session_id])).stdout;
    assert.match(deleted, /destroying/);
    await waitFor(async () => (await s.store.get(created.session_id))!.status === 'destroyed');
  });

  test('cleanup reports how many expired sessions it ended', async () => {
    const out = (await cli(['cleanup'])).stdout;
    assert.match(out, /Ended 0 expired session\(s\)\./);
  });

  test("a wrong --token is refused with the API's message and exit code 1", async () => {
    await assert.rejects(cli(['--token', 'nope-nope-nope-nope', 'cleanup']), (e: any) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /admin token.*HTTP 403/);
      return true;
    });
  });

  test('an unknown session gives a clear error', async () => {
    await assert.rejects(cli(['sessions', 'show', 'winux-aaaaaaaaaaaa']), (e: any) => {
      assert.match(e.stderr, /No such session/);
      return true;
    });
  });

  test('no server: says how to start one', async () => {
    await assert.rejects(
      run(process.execPath, [bin, '--url', 'http://127.0.0.1:9', 'sessions', 'list'], { env: { ...process.env, WINUX_DATA_DIR: s.dataDir } }),
      (e: any) => {
        assert.match(e.stderr, /No Winux server answers at http:\/\/127\.0\.0\.1:9.*winux serve/);
        return true;
      },
    );
  });

  test('doctor reports the store, the data dir and the server', async () => {
    const r = await cli(['--json', 'doctor']).catch((e) => e);
    const checks = JSON.parse(r.stdout);
    const byName = Object.fromEntries(checks.map((c: any) => [c.name, c]));
    assert.equal(byName.store.ok, true);
    assert.equal(byName['data dir'].ok, true);
    assert.equal(byName.server.ok, true);
    assert.match(byName.server.detail, /answers at/);
  });
});

describe('scripts/cleanup_winux_sessions.sh (cron)', () => {
  test('ends expired sessions through the API and appends a line to its log', async () => {
    const { ManualClock } = await import('../support/clock.ts');
    const fs = await import('node:fs');
    const clock = new ManualClock(Date.now());
    const s = await startTestServer({ clock, reaper: false });
    try {
      const r = await s.request('POST', '/api/winux/sessions', { body: { duration_minutes: 1 } });
      await waitFor(async () => (await s.store.get(r.body.session_id))!.status === 'ready');
      clock.advance(2 * 60_000);
      const log = path.join(s.dataDir, 'cron.log');
      const script = path.resolve(import.meta.dirname, '../../scripts/cleanup_winux_sessions.sh');
      await run('bash', [script], { env: { ...process.env, WINUX_DATA_DIR: s.dataDir, WINUX_URL: s.url, WINUX_CLEANUP_LOG: log } });
      assert.match(fs.readFileSync(log, 'utf8'), /^\S+ Ended 1 expired session\(s\)\.\n$/);
      assert.equal((await s.store.get(r.body.session_id))!.status, 'destroyed');
    } finally {
      await s.close();
    }
  });
});
