// What several replicas share through the store: work leases, the leader lease,
// creation budgets, and change notifications, on a real PostgreSQL with two Store
// instances (two replicas' connections); SQLite (one process) grants every claim.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { NewSession, SessionChange } from '../../src/core/store-port.ts';
import { Store } from '../../src/store/store.ts';
import { tempDir } from '../support/server.ts';
import { startTempPostgres, type TempPostgres } from '../support/postgres.ts';
import { newSessionFields } from '../support/new-session.ts';

const rules = { idMin: 30001, idMax: 30050, maxSessions: 50, perVisitor: 0 };
const t0 = 1_700_000_000_000;
let counter = 0;

function newSession(over: Partial<NewSession> = {}): NewSession {
  counter++;
  return newSessionFields(`winux-replica-${counter}`, t0, { visitor: `v${counter}`, expiresAt: t0 + 3_600_000, durationMinutes: 60, ...over });
}

async function inserted(store: Store, over: Partial<NewSession> = {}) {
  const s = await store.insertWithContainer(newSession(over), rules);
  assert.ok(!('refused' in s));
  return s;
}

let pg: TempPostgres;
let a: Store;
let b: Store;
before(async () => {
  pg = await startTempPostgres();
  const key = randomBytes(32);
  a = await Store.open(pg.url, { secretKey: key });
  b = await Store.open(pg.url, { secretKey: key });
});
after(async () => {
  await a?.close();
  await b?.close();
  pg?.stop();
});

describe('work leases on PostgreSQL', () => {
  test('a live lease keeps the work with its owner; once it runs out another replica may claim it', async () => {
    const s = await inserted(a, { owner: 'replica-a', leaseUntil: t0 + 30_000 });
    assert.equal(a.shared, true);
    assert.equal(await b.claimWork(s.id, 'replica-b', t0 + 40_000, t0 + 10_000), undefined, 'lease still running');
    assert.equal((await a.get(s.id))?.owner, 'replica-a');
    assert.deepEqual(await b.abandoned('replica-b', t0 + 10_000, 100), []);
    // The owner itself may claim again (renew).
    assert.equal((await a.claimWork(s.id, 'replica-a', t0 + 50_000, t0 + 10_000))?.leaseUntil, t0 + 50_000);
    // Past the lease: abandoned, and B takes it.
    assert.deepEqual(
      (await b.abandoned('replica-b', t0 + 60_000, 100)).map((x) => x.id),
      [s.id],
    );
    const taken = await b.claimWork(s.id, 'replica-b', t0 + 90_000, t0 + 60_000);
    assert.equal(taken?.owner, 'replica-b');
    // A's heartbeat now finds it owns nothing: it must stop.
    assert.deepEqual(await a.renewWork('replica-a', t0 + 100_000), []);
    assert.deepEqual(await b.renewWork('replica-b', t0 + 100_000), [{ id: s.id, status: 'creating' }]);
    await b.releaseWork(s.id, 'replica-b');
    assert.equal((await a.get(s.id))?.owner, null);
    // Released (no owner): free to claim at once, and not "abandoned" (stuck() retries it, with back-off).
    assert.deepEqual(await a.abandoned('replica-a', t0 + 200_000, 100), []);
    assert.ok(await a.claimWork(s.id, 'replica-a', t0 + 1, t0));
  });

  test('work handed over at shutdown is abandoned at once, not a lease later', async () => {
    const s = await inserted(a, { owner: 'replica-h', leaseUntil: t0 + 600_000 });
    assert.equal(await a.handOverWork('replica-h'), 1);
    assert.ok((await b.abandoned('replica-b', t0, 100)).some((x) => x.id === s.id));
    assert.equal((await b.claimWork(s.id, 'replica-b', t0 + 30_000, t0))?.owner, 'replica-b');
  });

  test('one leader at a time; it takes over when the lease runs out or is dropped', async () => {
    assert.equal(await a.holdLease('leader', 'replica-a', t0 + 30_000, t0), true);
    assert.equal(await b.holdLease('leader', 'replica-b', t0 + 40_000, t0 + 10_000), false);
    assert.equal(await a.holdLease('leader', 'replica-a', t0 + 50_000, t0 + 20_000), true, 'renewed by its holder');
    assert.equal(await b.holdLease('leader', 'replica-b', t0 + 80_000, t0 + 49_999), false);
    assert.equal(await b.holdLease('leader', 'replica-b', t0 + 80_000, t0 + 50_001), true, 'lease ran out');
    assert.equal(await a.holdLease('leader', 'replica-a', t0 + 90_000, t0 + 60_000), false);
    await b.dropLease('leader', 'replica-b');
    assert.equal(await a.holdLease('leader', 'replica-a', t0 + 90_000, t0 + 60_000), true, 'dropped: free at once');
  });

  test('a creation budget is one bucket for every replica, even when they take at the same moment', async () => {
    const burst = 5;
    // Ten takes at once, from both replicas: exactly the burst is granted.
    const waits = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).takeBudget('198.51.100.7', 6, burst, t0)));
    assert.equal(waits.filter((w) => w === 0).length, burst);
    assert.ok(
      waits.filter((w) => w > 0).every((w) => w === 10),
      `6 a minute: one more in 10 s (${waits})`,
    );
    // Refilled at the rate, whichever replica asks.
    assert.equal(await a.takeBudget('198.51.100.7', 6, burst, t0 + 10_000), 0);
    assert.ok((await b.takeBudget('198.51.100.7', 6, burst, t0 + 10_000)) > 0);
    // Another address is untouched.
    assert.equal(await b.takeBudget('198.51.100.8', 6, burst, t0), 0);
  });

  test('a change published by one replica reaches the other at once (LISTEN/NOTIFY)', async () => {
    const got: SessionChange[] = [];
    const arrived = new Promise<void>((resolve) => {
      const off = b.subscribe((c) => {
        got.push(c);
        if (c.id === 'session-x') {
          off();
          resolve();
        }
      });
    });
    // The listening connection is set up on the first subscribe: publish until it hears.
    const publishing = setInterval(() => void a.publish({ id: 'session-x', stepOnly: true, origin: 'replica-a' }), 50);
    try {
      await arrived;
    } finally {
      clearInterval(publishing);
    }
    assert.deepEqual(got.at(-1), { id: 'session-x', stepOnly: true, origin: 'replica-a' });
  });
});

describe('SQLite: one process', () => {
  let store: Store;
  before(async () => {
    store = await Store.open(`sqlite:${path.join(tempDir(), 'w.db')}`, { secretKey: randomBytes(32) });
  });
  after(() => store.close());

  test('every claim and the leader lease are granted: a lease on record is the previous process’s', async () => {
    assert.equal(store.shared, false);
    const s = await inserted(store, { owner: 'dead-process', leaseUntil: t0 + 600_000 });
    assert.equal((await store.claimWork(s.id, 'me', t0 + 30_000, t0))?.owner, 'me');
    assert.equal(await store.holdLease('leader', 'dead-process', t0 + 600_000, t0), true);
    assert.equal(await store.holdLease('leader', 'me', t0 + 30_000, t0), true);
  });

  test('the creation budget works the same in one process', async () => {
    assert.equal(await store.takeBudget('203.0.113.1', 60, 2, t0), 0);
    assert.equal(await store.takeBudget('203.0.113.1', 60, 2, t0), 0);
    assert.equal(await store.takeBudget('203.0.113.1', 60, 2, t0), 1);
    assert.equal(await store.takeBudget('203.0.113.1', 60, 2, t0 + 1000), 0);
  });
});
