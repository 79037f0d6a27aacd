// The warm pool: members kept ready, claimed by a click (already `ready`),
// refilled, recycled when old, never in the way of visitors, visible to admins.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../support/clock.ts';
import { FailingProvider, FakeProvider } from '../support/fake-provider.ts';
import { startTestServer, waitFor, type TestServer } from '../support/server.ts';

const api = '/api/winux';

/** Records what a claim tells the machine, and holds each push until the test lets it go. */
class TellingFake extends FakeProvider {
  told: { id: number; endsAt: number; language?: string }[] = [];
  private release!: () => void;
  private gate = new Promise<void>((r) => (this.release = r));
  async setSessionInfo(ref: { containerId: number }, _user: string, info: { endsAt: number; language?: string }) {
    await this.gate;
    this.told.push({ id: ref.containerId, endsAt: info.endsAt, ...(info.language ? { language: info.language } : {}) });
  }
  letPushesThrough(): void {
    this.release();
  }
}

async function poolMembers(s: TestServer, status = 'ready') {
  return await s.store.list({ pooled: true, statuses: [status as never] });
}

describe('warm pool', () => {
  test('a click gets a ready desktop from the pool, answered before anything runs in the machine; its end time follows; the pool refills', async () => {
    const fake = new TellingFake();
    const s = await startTestServer({ provider: fake, env: { WINUX_POOL_SIZE: '2', WINUX_SESSIONS_PER_VISITOR: '0' } });
    try {
      await waitFor(async () => (await poolMembers(s)).length === 2, 8000, 'pool filled');
      const before = await poolMembers(s);
      // Every push into the machine is held: the answer must not wait for one.
      const r = await s.request('POST', `${api}/sessions`, { body: { duration_minutes: 20 } });
      assert.equal(r.status, 202);
      assert.equal(r.body.status, 'ready', 'answered with a ready desktop');
      assert.equal(r.body.pooled, false);
      assert.ok(r.body.host && r.body.port);
      assert.equal(Date.parse(r.body.expires_at) - Date.parse(r.body.created_at), 20 * 60_000);
      assert.deepEqual(fake.told, [], 'nothing was run in the machine before the answer');
      const original = before.find((m) => m.id === r.body.session_id);
      assert.ok(original, 'the session is a former pool member');
      // Its own password, made for it alone and shown to nobody before this answer.
      assert.equal(r.body.password, original.password);
      assert.notEqual(r.body.password, before.find((m) => m.id !== original.id)!.password, 'each member has its own');
      fake.letPushesThrough();
      await waitFor(async () => fake.told.length > 0, 5000, 'the end time pushed into the desktop');
      assert.deepEqual(
        fake.told,
        [{ id: r.body.container_id, endsAt: Date.parse(r.body.expires_at) }],
        'the end only: the member is in the visitor’s language',
      );
      const mine = await s.request('GET', `${api}/sessions/${r.body.session_id}`, { token: r.body.token });
      assert.equal(mine.status, 200);
      await waitFor(async () => (await poolMembers(s)).length === 2, 8000, 'pool refilled');
      const adminPool = await s.request('GET', `${api}/sessions?pool=true`, { token: s.adminToken });
      assert.equal(adminPool.body.sessions.length, 2);
      assert.ok(adminPool.body.sessions.every((x: any) => x.pooled === true));
      const visitors = await s.request('GET', `${api}/sessions`, { token: s.adminToken });
      assert.deepEqual(
        visitors.body.sessions.map((x: any) => x.session_id),
        [r.body.session_id],
        "pool members are not listed as visitors' sessions",
      );
    } finally {
      await s.close();
    }
  });

  test('after a claim, the replacement and the end-time push wait WINUX_POOL_QUIET_SECONDS: the first frames have the CPU', async () => {
    const fake = new TellingFake();
    fake.letPushesThrough();
    const s = await startTestServer({ provider: fake, env: { WINUX_POOL_SIZE: '1', WINUX_POOL_QUIET_SECONDS: '2', WINUX_SESSIONS_PER_VISITOR: '0' } });
    try {
      await waitFor(async () => (await poolMembers(s)).length === 1, 8000, 'pool filled');
      const machinesBefore = fake.calls.create;
      const claimedAt = Date.now();
      const r = await s.request('POST', `${api}/sessions`);
      assert.equal(r.body.status, 'ready');
      // Well inside the quiet period: no new machine, nothing pushed into the claimed one.
      await new Promise((res) => setTimeout(res, 800));
      assert.ok(Date.now() - claimedAt < 2000, 'the check ran inside the quiet period');
      assert.equal(fake.calls.create, machinesBefore, 'no replacement was started yet');
      assert.equal(fake.told.length, 0, 'nothing pushed into the claimed desktop yet');
      // An extension meanwhile is pushed at once (as always)…
      const ext = await s.request('POST', `${api}/sessions/${r.body.session_id}/extend`, { token: r.body.token, body: { minutes: 5 } });
      assert.equal(ext.status, 200, JSON.stringify(ext.body));
      const extendedEnd = Date.parse(ext.body.expires_at);
      assert.ok(extendedEnd > Date.parse(r.body.expires_at));
      await waitFor(async () => fake.told.length === 1, 5000, 'the extension pushed');
      // …and after the quiet period, the replacement comes and the claim's push does not undo the extension.
      await waitFor(async () => (await poolMembers(s)).length === 1, 8000, 'pool refilled');
      assert.ok(Date.now() - claimedAt >= 2000, 'not before the quiet period ended');
      await waitFor(async () => fake.told.length === 2, 5000, "the claim's end-time push");
      assert.deepEqual(
        fake.told.map((t) => [t.id, t.endsAt]),
        [
          [r.body.container_id, extendedEnd],
          [r.body.container_id, extendedEnd],
        ],
      );
    } finally {
      await s.close();
    }
  });

  test('the pool never takes capacity a visitor needs: it shrinks first', async () => {
    const fake = new FakeProvider({ stepDelayMs: 5 });
    const s = await startTestServer({ provider: fake, env: { WINUX_POOL_SIZE: '2', WINUX_MAX_SESSIONS: '2', WINUX_SESSIONS_PER_VISITOR: '0' } });
    try {
      await waitFor(async () => (await poolMembers(s)).length === 2, 8000, 'pool filled');
      // Two visitors take both members; a pool member is never rebuilt while capacity is in use.
      const a = await s.request('POST', `${api}/sessions`, { headers: {} });
      const b = await s.request('POST', `${api}/sessions`);
      assert.equal(a.body.status, 'ready');
      assert.equal(b.body.status, 'ready');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await s.store.list({ pooled: true, statuses: ['creating', 'ready'] })).length, 0);
      const c = await s.request('POST', `${api}/sessions`);
      assert.equal(c.status, 503);
      // One ends and the pool starts rebuilding a (slow) spare in the freed slot; a visitor
      // asking meanwhile gets the slot: the spare is ended for them.
      fake.options.stepDelayMs = 400;
      await s.request('DELETE', `${api}/sessions/${a.body.session_id}`, { token: a.body.token });
      const spare = await waitFor(async () => (await poolMembers(s, 'creating'))[0], 8000, 'a spare being built');
      const d = await s.request('POST', `${api}/sessions`);
      assert.equal(d.status, 202, JSON.stringify(d.body));
      assert.equal(d.body.status, 'creating');
      assert.equal((await s.store.get(spare.id))!.status, 'destroyed');
    } finally {
      await s.close();
    }
  });

  test('members are recycled after WINUX_POOL_MAX_AGE_MINUTES and replaced', async () => {
    const clock = new ManualClock(Date.now());
    const fake = new FakeProvider();
    const s = await startTestServer({ provider: fake, clock, reaper: false, env: { WINUX_POOL_SIZE: '1', WINUX_POOL_MAX_AGE_MINUTES: '60' } });
    try {
      const first = await s.pool.runOnce();
      assert.equal(first.created, 1);
      await waitFor(async () => (await poolMembers(s)).length === 1);
      const [old] = await poolMembers(s);
      clock.advance(61 * 60_000);
      const second = await s.pool.runOnce();
      assert.equal(second.recycled, 1);
      assert.equal(second.created, 1);
      await waitFor(async () => (await s.store.get(old.id))!.status === 'destroyed');
      await waitFor(async () => (await poolMembers(s)).length === 1);
      assert.notEqual((await poolMembers(s))[0].id, old.id);
      assert.equal(fake.machines().length, 1, 'nothing leaked');
    } finally {
      await s.close();
    }
  });

  test('failing members make the pool back off instead of looping', async () => {
    const fake = new FailingProvider({ create: () => true });
    const s = await startTestServer({ provider: fake, reaper: false, env: { WINUX_POOL_SIZE: '1' } });
    try {
      await s.pool.runOnce();
      await waitFor(
        async () => (await s.store.list({ pooled: true, statuses: ['failed'] })).length === 1 && !(await s.store.list({ holdsContainer: true })).length,
      );
      const next = await s.pool.runOnce();
      assert.equal(next.backingOff, true);
      assert.equal(next.created, 0);
      assert.equal(fake.calls.create, 1);
    } finally {
      await s.close();
    }
  });

  test("pool members survive a restart as members (reconciled like sessions), expired visitors' rules do not apply to them", async () => {
    const fake = new FakeProvider();
    const s = await startTestServer({ provider: fake, env: { WINUX_POOL_SIZE: '1', WINUX_SESSION_MINUTES: '1' } });
    const dataDir = s.dataDir;
    await waitFor(async () => (await poolMembers(s)).length === 1);
    await s.close();
    const again = await startTestServer({ provider: fake, dataDir, env: { WINUX_POOL_SIZE: '1' } });
    try {
      assert.equal((await poolMembers(again)).length, 1);
      assert.equal(fake.machines().length, 1, "the member's container is not an orphan");
      const cleanup = await again.request('POST', `${api}/cleanup`, { token: again.adminToken });
      assert.equal(cleanup.body.destroyed, 0);
    } finally {
      await again.close();
    }
  });
});
