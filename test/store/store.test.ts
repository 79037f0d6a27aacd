// The store against both real databases: SQLite (default) and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { NewSession } from '../../src/core/store-port.ts';
import { Store } from '../../src/store/store.ts';
import { tempDir } from '../support/server.ts';
import { startTempPostgres, type TempPostgres } from '../support/postgres.ts';
import { newSessionFields } from '../support/new-session.ts';

const rules = { idMin: 30001, idMax: 30010, maxSessions: 10, perVisitor: 0 };
let counter = 0;

function newSession(over: Partial<NewSession> = {}): NewSession {
  counter++;
  const id = `winux-${String(counter)
    .padStart(12, 'a')
    .replace(/[0-9]/g, (d) => 'abcdefghij'[Number(d)])}`;
  return newSessionFields(id, 1_700_000_000_000, over);
}

let pg: TempPostgres;
before(async () => {
  pg = await startTempPostgres();
});
after(() => pg?.stop());

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`store on ${dialect}`, () => {
    let store: Store;
    before(async () => {
      store = await Store.open(dialect === 'sqlite' ? `sqlite:${path.join(tempDir(), 'w.db')}` : pg.url, { secretKey: randomBytes(32) });
    });
    after(async () => {
      await store.close();
    });

    test('gives the lowest free id and refuses at capacity', async () => {
      await store.db.deleteFrom('sessions').execute();
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await store.insertWithContainer(newSession(), rules);
        assert.ok(!('refused' in r));
        ids.push(r.containerId);
      }
      assert.deepEqual(ids, [30001, 30002, 30003, 30004, 30005, 30006, 30007, 30008, 30009, 30010]);
      assert.deepEqual(await store.insertWithContainer(newSession(), rules), { refused: 'capacity' });
    });

    test('an id is reused only after its container is released', async () => {
      await store.db.deleteFrom('sessions').execute();
      const a = await store.insertWithContainer(newSession(), rules);
      assert.ok(!('refused' in a));
      await store.transition(a.id, ['creating'], 'destroying', {}, 1);
      const b = await store.insertWithContainer(newSession(), rules);
      assert.ok(!('refused' in b));
      assert.equal(b.containerId, 30002, 'destroying still holds 30001');
      await store.transition(a.id, ['destroying'], 'destroyed', { holdsContainer: false }, 2);
      const c = await store.insertWithContainer(newSession(), rules);
      assert.ok(!('refused' in c));
      assert.equal(c.containerId, 30001);
    });

    test('100 concurrent inserts never give an id twice', async () => {
      await store.db.deleteFrom('sessions').execute();
      const wide = { ...rules, idMax: 30150, maxSessions: 150 };
      const results = await Promise.all(Array.from({ length: 100 }, () => store.insertWithContainer(newSession(), wide)));
      const ids = results.map((r) => ('refused' in r ? -1 : r.containerId));
      assert.equal(new Set(ids).size, 100);
      assert.ok(ids.every((id) => id >= 30001 && id <= 30150));
    });

    test('the database itself rejects a held id twice', async () => {
      await store.db.deleteFrom('sessions').execute();
      const a = await store.insertWithContainer(newSession(), rules);
      assert.ok(!('refused' in a));
      await assert.rejects(
        store.db
          .insertInto('sessions')
          .values({
            ...(await store.db.selectFrom('sessions').selectAll().where('id', '=', a.id).executeTakeFirstOrThrow()),
            id: 'winux-duplicateidx',
          })
          .execute(),
      );
    });

    test('per-visitor limit counts only live sessions of that visitor', async () => {
      await store.db.deleteFrom('sessions').execute();
      const limited = { ...rules, perVisitor: 1 };
      const a = await store.insertWithContainer(newSession({ visitor: 'alice' }), limited);
      assert.ok(!('refused' in a));
      assert.deepEqual(await store.insertWithContainer(newSession({ visitor: 'alice' }), limited), { refused: 'visitor_limit' });
      assert.ok(!('refused' in (await store.insertWithContainer(newSession({ visitor: 'bob' }), limited))));
      await store.transition(a.id, ['creating'], 'destroying', {}, 1);
      assert.ok(!('refused' in (await store.insertWithContainer(newSession({ visitor: 'alice' }), limited))));
    });

    test('a transition happens once: the second actor gets nothing', async () => {
      await store.db.deleteFrom('sessions').execute();
      const a = await store.insertWithContainer(newSession(), rules);
      assert.ok(!('refused' in a));
      const [first, second] = await Promise.all([
        store.transition(a.id, ['creating', 'ready'], 'destroying', {}, 5),
        store.transition(a.id, ['creating', 'ready'], 'destroying', {}, 5),
      ]);
      assert.equal([first, second].filter(Boolean).length, 1);
      assert.equal((await store.get(a.id))?.status, 'destroying');
    });

    test('due sessions and next expiry', async () => {
      await store.db.deleteFrom('sessions').execute();
      await store.insertWithContainer(newSession({ expiresAt: 1000 }), rules);
      await store.insertWithContainer(newSession({ expiresAt: 3000 }), rules);
      assert.equal(await store.nextExpiry(), 1000);
      assert.equal((await store.dueForExpiry(2000, 10)).length, 1);
      assert.equal((await store.dueForExpiry(5000, 1)).length, 1, 'bounded batch');
      assert.equal((await store.dueForExpiry(5000, 10)).length, 2);
    });

    test('round-trips every field', async () => {
      await store.db.deleteFrom('sessions').execute();
      const r = await store.insertWithContainer(newSession({ providerRef: { containerId: 1, node: 'n' }, node: 'n', ip: '10.0.0.1', port: 33890 }), rules);
      assert.ok(!('refused' in r));
      const back = await store.get(r.id);
      assert.deepEqual(back, r);
    });

    test('the audit log: ids count up, filters, paging, purge; a detail named like a secret is refused', async () => {
      const entry = (at: number, sessionId: string | null, action = 'session.create') => ({
        at,
        actor: 'visitor' as const,
        action,
        outcome: 'ok' as const,
        address: '2001:db8::1',
        sessionId,
        detail: { minutes: 5, from_pool: false },
      });
      for (let i = 1; i <= 5; i++) await store.audit.record(entry(i * 1000, i % 2 ? 'winux-aaaaaaaaaaaa' : null));
      const all = await store.audit.query({ limit: 10 });
      assert.equal(all.length, 5);
      assert.ok(all[0]!.id > all[4]!.id, 'newest first');
      assert.deepEqual(all[0]!.detail, { minutes: 5, from_pool: false });
      assert.equal((await store.audit.query({ sessionId: 'winux-aaaaaaaaaaaa', limit: 10 })).length, 3);
      assert.equal((await store.audit.query({ sessionIds: ['winux-aaaaaaaaaaaa'], limit: 10 })).length, 3);
      assert.equal((await store.audit.query({ since: 2000, until: 4000, limit: 10 })).length, 2);
      assert.deepEqual(
        (await store.audit.query({ before: all[1]!.id, limit: 2 })).map((r) => r.id),
        [all[2]!.id, all[3]!.id],
      );
      await assert.rejects(store.audit.record({ ...entry(6000, null), detail: { password: 'x' } }), /looks like a secret/);
      assert.equal(await store.audit.purge(3000), 2);
      assert.equal((await store.audit.query({ limit: 10 })).length, 3);
    });

    test('daily usage rows: written, rewritten for the same day, read from a day on, purged before a day', async () => {
      const row = (day: string, sessions: number) => ({
        day,
        sessions,
        desktopSeconds: sessions * 600,
        failures: 1,
        medianReadySeconds: 1.234,
        p95ReadySeconds: null,
      });
      await store.usage.save([row('2026-01-01', 2), row('2026-01-02', 3)]);
      await store.usage.save([row('2026-01-02', 5)]);
      assert.deepEqual(await store.usage.since('2026-01-01'), [row('2026-01-01', 2), row('2026-01-02', 5)]);
      assert.deepEqual(await store.usage.since('2026-01-02'), [row('2026-01-02', 5)]);
      assert.equal(await store.usage.purge('2026-01-02'), 1);
      assert.deepEqual(await store.usage.since('2000-01-01'), [row('2026-01-02', 5)]);
    });

    test('admin tables: sign-ins expire, a setting is overwritten, blocks expire or last', async () => {
      await store.admin.addSignIn({ secretHash: 'a'.repeat(64), createdAt: 0, expiresAt: 1000, address: null });
      assert.ok(await store.admin.findSignIn('a'.repeat(64), 999));
      assert.equal(await store.admin.findSignIn('a'.repeat(64), 1000), undefined);
      assert.equal(await store.admin.purgeSignIns(1000), 1);
      await store.admin.setSetting('pool_size', '2', 1);
      await store.admin.setSetting('pool_size', '3', 2);
      assert.equal(await store.admin.getSetting('pool_size'), '3');
      assert.equal(await store.admin.getSetting('nothing'), undefined);
      const brief = await store.admin.addBlock({ network: '10.0.0.0/8', reason: '', createdAt: 0, expiresAt: 500 });
      const forever = await store.admin.addBlock({ network: '2001:db8::/64', reason: 'r', createdAt: 0, expiresAt: null });
      assert.notEqual(brief.id, forever.id);
      assert.deepEqual(
        (await store.admin.activeBlocks(100)).map((b) => b.network),
        ['10.0.0.0/8', '2001:db8::/64'],
      );
      assert.deepEqual(
        (await store.admin.activeBlocks(600)).map((b) => b.network),
        ['2001:db8::/64'],
      );
      assert.equal(await store.admin.removeBlock(forever.id), true);
      assert.equal(await store.admin.removeBlock(forever.id), false);
    });
  });
}
