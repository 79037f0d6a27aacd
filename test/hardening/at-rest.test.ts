// Secrets at rest (issue 14, item 8): a copy of the database gives no RDP login. Session
// passwords are sealed with AES-256-GCM under <data>/secret.key (0600, outside the
// database); rows written in clear by an older Winux are sealed on the next start; a key
// that does not match the database stops start-up instead of handing out garbage.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { captureLogs } from '../support/logs.ts';
import { startTestServer, tempDir } from '../support/server.ts';
import { recordFigures } from './support/drill.ts';

const api = '/api/winux';

/** Every byte the database left on disk: the file, its WAL and shared memory. */
function databaseBytes(dataDir: string): Buffer {
  return Buffer.concat(
    fs
      .readdirSync(dataDir)
      .filter((f) => f.startsWith('winux.db'))
      .map((f) => fs.readFileSync(path.join(dataDir, f))),
  );
}

describe('session passwords at rest', () => {
  test('the database files hold no password; the owner still gets it; the key is 0600 and logged by path only', async () => {
    const { logger, lines } = captureLogs('info');
    const dataDir = tempDir();
    const s = await startTestServer({ dataDir, logger, env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
    const passwords: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const r = await s.request('POST', `${api}/sessions`);
        assert.equal(r.status, 202);
        passwords.push(r.body.password);
        const again = await s.request('GET', `${api}/sessions/${r.body.session_id}`, { token: r.body.token });
        assert.equal(again.body.password, r.body.password, 'read back through the key');
      }
      await s.service.idle();
      // While running (WAL not yet checkpointed) and after closing.
      for (const p of passwords) assert.ok(!databaseBytes(dataDir).includes(p), 'no password in the live database files');
    } finally {
      await s.close();
    }
    const bytes = databaseBytes(dataDir);
    assert.ok(bytes.length > 0);
    for (const p of passwords) {
      assert.ok(!bytes.includes(p), 'no password in the database files');
      assert.ok(!bytes.includes(Buffer.from(p).toString('base64')), 'nor in base64');
    }
    const raw = new SQLite(path.join(dataDir, 'winux.db'), { readonly: true });
    const stored = raw.prepare('SELECT password FROM sessions').all() as { password: string }[];
    raw.close();
    assert.equal(stored.length, 3);
    for (const row of stored) assert.match(row.password, /^enc:v1:[A-Za-z0-9_-]+$/);
    recordFigures('at-rest', { passwords_created: passwords.length, passwords_found_in_database_files: passwords.filter((p) => bytes.includes(p)).length });
    const keyFile = path.join(dataDir, 'secret.key');
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    const key = fs.readFileSync(keyFile, 'utf8').trim();
    const log = lines.join('');
    assert.ok(log.includes(keyFile), 'the log says where the key is');
    assert.ok(!log.includes(key), 'never what it is');
    for (const p of passwords) assert.ok(!log.includes(p));
  });

  test('rows stored in clear by an older Winux are sealed on start and still work', async () => {
    const dataDir = tempDir();
    const first = await startTestServer({ dataDir, env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
    const r = await first.request('POST', `${api}/sessions`);
    await first.service.idle();
    await first.close();
    // What a database written before encryption looks like: the password in clear.
    const clear = 'Clear-password-from-0.1';
    const db = new SQLite(path.join(dataDir, 'winux.db'));
    db.prepare('UPDATE sessions SET password = ? WHERE id = ?').run(clear, r.body.session_id);
    db.close();
    assert.ok(databaseBytes(dataDir).includes(clear));

    const second = await startTestServer({ dataDir, env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
    try {
      const seen = await second.request('GET', `${api}/sessions/${r.body.session_id}`, { token: r.body.token });
      assert.equal(seen.body.password, clear, 'the visitor keeps the password they were given');
    } finally {
      await second.close();
    }
    const check = new SQLite(path.join(dataDir, 'winux.db'));
    check.pragma('wal_checkpoint(TRUNCATE)');
    check.close();
    assert.ok(!databaseBytes(dataDir).includes(clear), 'sealed in place');
  });

  test('a secret.key that does not match the database stops start-up with a message naming it', async () => {
    const dataDir = tempDir();
    const first = await startTestServer({ dataDir });
    await first.request('POST', `${api}/sessions`);
    await first.service.idle();
    await first.close();
    fs.writeFileSync(path.join(dataDir, 'secret.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    await assert.rejects(startTestServer({ dataDir }), /secret\.key/);
  });
});
