// Two SessionServices (two replicas) on one real PostgreSQL, each with its own fake
// provider over one machine file (one cluster): work stays with the replica holding its
// lease, a session ended on the other replica is removed by the lease holder, work is
// taken over only once a lease ran out, and only the leader's sweep acts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { systemClock } from '../../src/core/clock.ts';
import { SessionService } from '../../src/core/service.ts';
import { silentLogger } from '../../src/logger.ts';
import { Store } from '../../src/store/store.ts';
import { FakeProvider, NeverReadyProvider, SlowProvider } from '../support/fake-provider.ts';
import { startTempPostgres, type TempPostgres } from '../support/postgres.ts';
import { tempDir, waitFor } from '../support/server.ts';

let pg: TempPostgres;
const key = randomBytes(32);
const machineFile = path.join(tempDir(), 'machines.json');
const open: { store: Store; service: SessionService }[] = [];

async function replica(name: string, provider: FakeProvider): Promise<{ store: Store; service: SessionService; provider: FakeProvider }> {
  const config = loadConfig({
    WINUX_DATA_DIR: tempDir(),
    WINUX_DATABASE_URL: pg.url,
    WINUX_REPLICA_ID: name,
    WINUX_LEASE_SECONDS: '3',
    WINUX_SESSIONS_PER_VISITOR: '0',
    WINUX_CONTAINER_ID_MIN: '30001',
    WINUX_CONTAINER_ID_MAX: '30020',
  });
  const store = await Store.open(pg.url, { secretKey: key });
  const service = new SessionService({ config, store, provider, logger: silentLogger, clock: systemClock });
  open.push({ store, service });
  return { store, service, provider };
}

before(async () => {
  pg = await startTempPostgres();
});
after(async () => {
  // Shutdown stops what is still running (the dead replica's endless creation) and hands it over.
  for (const { service, store } of open) {
    await service.shutdown(0);
    await service.idle();
    await store.close();
  }
  pg?.stop();
});

describe('two replicas on one PostgreSQL', () => {
  test('a session ended on the other replica is stopped and removed by the one building it', async () => {
    const a = await replica('replica-a', new SlowProvider(300, { stateFile: machineFile }));
    const b = await replica('replica-b', new FakeProvider({ stateFile: machineFile }));
    a.service.heartbeat.start();
    // Leadership is the last test's business: this heartbeat renews work leases only.
    await a.service.heartbeat.resign();
    const { session } = await a.service.create({ visitor: 'v1' });
    assert.equal((await a.store.get(session.id))?.owner, 'replica-a');
    await waitFor(async () => (await a.store.get(session.id))?.step === 'starting', 5000, 'the machine to exist');
    await b.service.destroy(session.id, 'visitor ended it');
    await waitFor(async () => (await a.store.get(session.id))?.status === 'destroyed', 10_000, 'the session to be destroyed');
    // The lease is given up just after the last write of the removal.
    await waitFor(async () => (await a.store.get(session.id))?.owner === null, 5000, 'the lease to be given up');
    a.service.heartbeat.stop();
    assert.equal(b.provider.calls.destroy, 0, 'the replica without the lease removed nothing');
    assert.ok(a.provider.calls.destroy >= 1);
    assert.equal((await a.provider.list()).length, 0, 'no machine left');
  });

  test("a dead replica's creation is left alone while its lease runs, then taken over by the leader", async () => {
    // A builds forever and then "dies": its heartbeat stops, nothing of it runs any more.
    const a = await replica('replica-dead', new NeverReadyProvider({ stateFile: machineFile }));
    const c = await replica('replica-c', new FakeProvider({ stateFile: machineFile }));
    const { session } = await a.service.create({ visitor: 'v2' });
    await waitFor(async () => (await a.store.get(session.id))?.step === 'starting', 5000, 'the machine to exist');
    // Within the lease, C's sweep does nothing to it.
    assert.equal(await c.service.retryStuck(), 0);
    await c.service.reconcile();
    assert.equal((await c.store.get(session.id))?.owner, 'replica-dead');
    assert.equal(c.provider.calls.create, 0);
    await waitFor(async () => ((await c.store.get(session.id))?.leaseUntil ?? 0) < Date.now(), 10_000, 'the lease to run out');
    assert.ok((await c.service.retryStuck()) >= 1);
    await waitFor(async () => (await c.store.get(session.id))?.status === 'ready', 10_000, 'the takeover to finish the creation');
    assert.equal(c.provider.calls.create, 1, 'C built it (adopting what A had made)');
    // The lease is given up just after the last write of the creation, not with it.
    await waitFor(async () => (await c.store.get(session.id))?.owner === null, 5000, 'the lease to be given up');
    await c.service.destroy(session.id, 'done', { wait: true });
    assert.equal((await c.store.get(session.id))?.status, 'destroyed');
  });

  test('one leader at a time; the one that steps down at shutdown is replaced at once', async () => {
    const d = await replica('replica-d', new FakeProvider({ stateFile: machineFile }));
    const e = await replica('replica-e', new FakeProvider({ stateFile: machineFile }));
    // Whatever earlier tests left: the lease is free once its holders are gone.
    await d.store.db.deleteFrom('leases').execute();
    await d.service.heartbeat.beat();
    await e.service.heartbeat.beat();
    assert.equal(d.service.isLeader, true);
    assert.equal(e.service.isLeader, false);
    await d.service.shutdown(100);
    await e.service.heartbeat.beat();
    assert.equal(e.service.isLeader, true);
  });
});
