// Drill: the database becomes unwritable under a running server (a full or
// read-only disk, a file made immutable by an admin). Here the SQLite file and its
// WAL are made immutable with `chattr +i`, which even root cannot write through;
// and, for replicated deployments, the PostgreSQL server is stopped and restarted.
// Writes must fail with a clear 503 JSON error (no stack, no secret, no path),
// reads keep working, nothing is half-written, the server survives its background
// loops failing, and once the disk is writable again everything works.
// Ends with 0 containers leaked, 0 sessions stuck.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { postgresInstalled, startRestartablePostgres } from './support/postgres-outage.ts';
import { api, endEverything, integrityCheck, json, newDrill, recordFigures, rows, stop, waitSettled } from './support/drill.ts';

function immutable(files: string[], on: boolean): void {
  execFileSync('chattr', [on ? '+i' : '-i', ...files]);
}

function chattrWorks(dir: string): boolean {
  const probe = path.join(dir, 'chattr-probe');
  fs.writeFileSync(probe, 'x');
  const ok = spawnSync('chattr', ['+i', probe]).status === 0;
  if (ok) spawnSync('chattr', ['-i', probe]);
  fs.rmSync(probe);
  return ok;
}

test('the SQLite database becomes unwritable: clear 503s, no corruption, recovery', async (t) => {
  const drill = newDrill({ FAKE_STEP_MS: '10' });
  if (!chattrWorks(drill.dir)) {
    t.skip('chattr +i is not supported on this filesystem');
    return;
  }
  const p = await drill.start();
  const db = drill.dbUrl.replace(/^sqlite:/, '');
  // Never the -shm file: it is memory-mapped, and a write fault there is SIGBUS, not an error.
  const files = [db, `${db}-wal`];
  let locked = false;
  try {
    const [a, b] = await Promise.all([0, 1].map(() => json(p, 'POST', `${api}/sessions`).then((r) => r.body)));
    await waitSettled(drill, 20_000);
    const before = await rows(drill.dbUrl);
    const secrets = [p.adminToken, a.token, b.token, a.password, b.password];

    immutable(files, true);
    locked = true;
    const outage = {
      create: await json(p, 'POST', `${api}/sessions`),
      delete: await json(p, 'DELETE', `${api}/sessions/${a.session_id}`, { token: a.token }),
      extend: await json(p, 'POST', `${api}/sessions/${b.session_id}/extend`, { token: b.token, body: { minutes: 5 } }),
      adminDelete: await json(p, 'DELETE', `${api}/sessions/${b.session_id}`, { token: p.adminToken }),
    };
    for (const [what, r] of Object.entries(outage)) {
      assert.equal(r.status, 503, `${what} during the outage: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'store_unavailable', what);
      assert.match(r.body.message, /database/i);
      const text = JSON.stringify(r.body);
      for (const secret of secrets) assert.ok(!text.includes(secret), `${what}: no secret in the error`);
      assert.ok(!text.includes(drill.dir) && !/SQLITE|\.ts:\d+/.test(text), `${what}: no internals in ${text}`);
    }
    const read = await json(p, 'GET', `${api}/sessions/${a.session_id}`, { token: a.token });
    assert.equal(read.status, 200, 'reads keep working');
    assert.equal(read.body.status, 'ready');
    // Reads still work, so only a write tells that nothing can be created or ended.
    await new Promise((r) => setTimeout(r, 1100)); // past the health check's 1 s memo
    const health = await json(p, 'GET', `${api}/health`, { token: p.adminToken });
    assert.equal(health.status, 503, `health during the outage: ${JSON.stringify(health.body)}`);
    assert.equal(health.body.status, 'degraded');
    assert.equal(health.body.store.ok, false);
    assert.match(health.body.store.detail, /read-only/);
    assert.ok(!JSON.stringify(health.body).includes(drill.dir), 'no path in the health answer, even for the admin');
    const publicHealth = await json(p, 'GET', `${api}/health`);
    assert.deepEqual(publicHealth.body.checks[0], { name: 'store', status: 'failing' });
    assert.equal(health.body.sessions.ready, 2, 'counts are still read');
    // Let the reaper's sweeps (every second) hit the unwritable store a few times.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(p.child.exitCode, null, 'the server survived');
    assert.equal(p.child.signalCode, null, 'the server survived');
    assert.deepEqual(await rows(drill.dbUrl), before, 'nothing was half-written');

    immutable(files, false);
    locked = false;
    assert.equal(integrityCheck(drill.dbUrl), 'ok');
    await new Promise((r) => setTimeout(r, 1100));
    const healthy = await json(p, 'GET', `${api}/health`, { token: p.adminToken });
    assert.equal(healthy.status, 200, `health after the outage: ${JSON.stringify(healthy.body)}`);
    assert.equal(healthy.body.store.detail, 'reachable, writable');

    // Back to normal: the refused actions now work.
    const ended = await json(p, 'DELETE', `${api}/sessions/${a.session_id}`, { token: a.token });
    assert.equal(ended.status, 202);
    const fresh = await json(p, 'POST', `${api}/sessions`);
    assert.equal(fresh.status, 202);
    const settled = await waitSettled(drill, 20_000);
    assert.equal(settled.find((r) => r.id === a.session_id)?.status, 'destroyed');
    assert.equal(settled.find((r) => r.id === fresh.body.session_id)?.status, 'ready');

    const audit = await endEverything(drill, p);
    recordFigures('database-unwritable', {
      refused_with_503: Object.keys(outage).length,
      corrupted: 0,
      containers_leaked: audit.leaked,
      sessions_stuck: audit.stuck,
    });
    t.diagnostic(
      `database unwritable: ${Object.keys(outage).length} writes refused with 503 store_unavailable, reads served, integrity ok after; ${audit.leaked} containers leaked, ${audit.stuck} sessions stuck`,
    );
    assert.equal(audit.leaked, 0, 'containers leaked');
    assert.equal(audit.stuck, 0, 'sessions stuck');
  } finally {
    if (locked) immutable(files, false);
    await stop(p);
  }
});

test('the PostgreSQL server goes down and comes back: clear 503s, the server survives, recovery', async (t) => {
  if (!postgresInstalled()) {
    t.skip('PostgreSQL is not installed (scripts/setup-test-host.sh installs it)');
    return;
  }
  const pg = await startRestartablePostgres();
  const drill = newDrill({ FAKE_STEP_MS: '10', WINUX_DATABASE_URL: pg.url });
  const p = await drill.start();
  let down = false;
  try {
    const a = (await json(p, 'POST', `${api}/sessions`)).body;
    await waitSettled(drill, 20_000);
    const before = await rows(drill.dbUrl);

    pg.down('fast');
    down = true;
    // Idle pooled connections were just terminated by the server: that alone must not kill Winux.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(p.child.exitCode, null, 'the server survived its database going away');
    assert.equal(p.child.signalCode, null);
    const outage = {
      create: await json(p, 'POST', `${api}/sessions`),
      read: await json(p, 'GET', `${api}/sessions/${a.session_id}`, { token: a.token }),
      delete: await json(p, 'DELETE', `${api}/sessions/${a.session_id}`, { token: a.token }),
    };
    for (const [what, r] of Object.entries(outage)) {
      assert.equal(r.status, 503, `${what} during the outage: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'store_unavailable', what);
      const text = JSON.stringify(r.body);
      for (const secret of [p.adminToken, a.token, a.password]) assert.ok(!text.includes(secret), `${what}: no secret`);
      assert.ok(!text.includes(pg.url), `${what}: no connection string`);
    }
    const health = await json(p, 'GET', `${api}/health`, { token: p.adminToken });
    assert.equal(health.status, 503, 'health says the store is down');
    assert.match(health.body.store.detail, /^unreachable/);
    assert.ok(!JSON.stringify(health.body).includes(pg.url), 'no connection string in the public health answer');

    pg.up();
    down = false;
    assert.deepEqual(await rows(drill.dbUrl), before, 'nothing was half-written');
    const again = await json(p, 'GET', `${api}/sessions/${a.session_id}`, { token: a.token });
    assert.equal(again.status, 200, 'reconnects by itself');
    assert.equal((await json(p, 'POST', `${api}/sessions`)).status, 202);
    await waitSettled(drill, 20_000);

    const audit = await endEverything(drill, p);
    recordFigures('database-postgres-down', { refused_with_503: Object.keys(outage).length, containers_leaked: audit.leaked, sessions_stuck: audit.stuck });
    t.diagnostic(
      `PostgreSQL down: ${Object.keys(outage).length} requests answered 503 store_unavailable, server survived, reconnected; ${audit.leaked} containers leaked, ${audit.stuck} sessions stuck`,
    );
    assert.equal(audit.leaked, 0, 'containers leaked');
    assert.equal(audit.stuck, 0, 'sessions stuck');
  } finally {
    if (down) pg.up();
    await stop(p);
    pg.remove();
  }
});
