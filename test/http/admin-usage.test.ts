// The console's usage charts reach past the sessions' purge: the reconciler keeps
// one row a day (migration 0008) while each day's sessions are all kept, and those
// rows last WINUX_USAGE_DAYS. Real server, real SQLite, a fake provider, a clock
// moved by hand.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeProvider } from '../support/fake-provider.ts';
import { startTestServer, waitFor, type TestServer } from '../support/server.ts';
import { shiftedClock } from '../web/harness.ts';

const api = '/api/winux';
const day = 24 * 3600_000;

describe('usage by day past the purge', () => {
  let s: TestServer;
  const clock = shiftedClock();
  before(async () => {
    s = await startTestServer({ provider: new FakeProvider(), clock, env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_USAGE_DAYS: '30' } });
  });
  after(async () => {
    await s?.close();
  });

  const usage = async (days: number) => {
    const r = await s.request('GET', `${api}/admin/overview?days=${days}`, { token: s.adminToken });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.usage.days as { day: string; sessions: number; desktop_hours: number; failures: number; median_ready_seconds: number | null }[];
  };

  test("a day's figures survive the purge of its sessions, until WINUX_USAGE_DAYS", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await s.request('POST', `${api}/sessions`, {});
      assert.equal(r.status, 202, JSON.stringify(r.body));
      ids.push(r.body.session_id);
    }
    await waitFor(async () => (await Promise.all(ids.map((id) => s.store.get(id)))).every((x) => x?.status === 'ready'), 10_000, 'ready');
    for (const id of ids) await s.request('DELETE', `${api}/sessions/${id}`, { token: s.adminToken });
    await waitFor(async () => (await Promise.all(ids.map((id) => s.store.get(id)))).every((x) => x?.status === 'destroyed'), 10_000, 'ended');
    const today = new Date(clock.now()).toISOString().slice(0, 10);
    const live = (await usage(7)).at(-1)!;
    assert.equal(live.day, today);
    assert.equal(live.sessions, 3);
    assert.notEqual(live.median_ready_seconds, null);
    await s.service.reconcile();

    // Ten days on: the sessions are purged, their day is still charted.
    clock.advance(10 * day);
    await s.service.reconcile();
    for (const id of ids) assert.equal(await s.store.get(id), undefined, 'the session row is purged');
    const month = await usage(30);
    assert.equal(month.length, 30);
    const kept = month.find((d) => d.day === today)!;
    assert.deepEqual(kept, live);
    assert.equal(month.filter((d) => d.sessions > 0).length, 1);
    assert.ok(
      (await usage(7)).every((d) => d.sessions === 0),
      'a week back does not reach it',
    );

    // Past WINUX_USAGE_DAYS the day goes too.
    clock.advance(25 * day);
    await s.service.reconcile();
    assert.ok((await usage(30)).every((d) => d.sessions === 0));
    assert.deepEqual(await s.store.usage.since(today), []);
  });

  test('a number of days outside 7..WINUX_USAGE_DAYS is refused with a clear error', async () => {
    for (const days of ['3', '31', 'abc', '-1']) {
      const r = await s.request('GET', `${api}/admin/overview?days=${days}`, { token: s.adminToken });
      assert.equal(r.status, 400, days);
      assert.equal(typeof r.body.message, 'string');
    }
  });
});
