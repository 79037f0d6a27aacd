// Expiry timing with a clock moved by hand: a session ends at its expiry (the
// timer armed on the next expiry), not at the next sweep.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../support/clock.ts';
import { FakeProvider, NeverReadyProvider } from '../support/fake-provider.ts';
import { startTestServer, waitFor } from '../support/server.ts';

const api = '/api/winux';

describe('reaper', () => {
  test('the expiry timer is armed for the earliest expires_at and ends the session then, not before', async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider();
    // A one-hour sweep: only the expiry timer can end the session on time.
    const s = await startTestServer({ provider: fake, clock, env: { WINUX_SWEEP_SECONDS: '3600', WINUX_SESSIONS_PER_VISITOR: '0' } });
    try {
      const r = await s.request('POST', `${api}/sessions`, { body: { duration_minutes: 2 } });
      await waitFor(async () => (await s.store.get(r.body.session_id))!.status === 'ready');
      const expiresAt = Date.parse(r.body.expires_at);
      await waitFor(() => clock.nextTimerAt() === expiresAt, 5000, 'timer armed at expires_at');
      clock.advance(expiresAt - clock.now() - 1);
      await new Promise((res) => setTimeout(res, 100));
      assert.equal((await s.store.get(r.body.session_id))!.status, 'ready', 'not ended a millisecond early');
      clock.advance(1);
      await waitFor(async () => (await s.store.get(r.body.session_id))!.status === 'destroyed', 5000, 'destroyed at expiry');
      assert.equal(fake.machines().length, 0);
    } finally {
      await s.close();
    }
  });

  test('extending re-arms the timer; a new earlier session re-arms it too', async () => {
    const clock = new ManualClock();
    const s = await startTestServer({ clock, env: { WINUX_SWEEP_SECONDS: '3600', WINUX_SESSIONS_PER_VISITOR: '0' } });
    try {
      const a = await s.request('POST', `${api}/sessions`, { body: { duration_minutes: 10 } });
      await waitFor(() => clock.nextTimerAt() === Date.parse(a.body.expires_at), 5000, 'armed for a');
      const ext = await s.request('POST', `${api}/sessions/${a.body.session_id}/extend`, { token: a.body.token, body: { minutes: 5 } });
      await waitFor(() => clock.nextTimerAt() === Date.parse(ext.body.expires_at), 5000, 're-armed after extend');
      const b = await s.request('POST', `${api}/sessions`, { body: { duration_minutes: 1 } });
      await waitFor(() => clock.nextTimerAt() === Date.parse(b.body.expires_at), 5000, 're-armed for the earlier session');
    } finally {
      await s.close();
    }
  });

  test('runOnce ends what is due and reports it; POST /cleanup does the same now', async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider();
    const s = await startTestServer({ provider: fake, clock, reaper: false, env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await s.request('POST', `${api}/sessions`, { body: { duration_minutes: 1 } })).body.session_id);
      const late = await s.request('POST', `${api}/sessions`, { body: { duration_minutes: 60 } });
      await waitFor(async () => (await s.store.list({ statuses: ['ready'] })).length === 6);
      clock.advance(61_000);
      const first = await s.reaper.runOnce({ reconcile: false });
      assert.equal(first.expired, 5);
      await s.service.idle();
      for (const id of ids) assert.equal((await s.store.get(id))!.status, 'destroyed');
      assert.equal((await s.store.get(late.body.session_id))!.status, 'ready');
      const cleanup = await s.request('POST', `${api}/cleanup`, { token: s.adminToken });
      assert.deepEqual(cleanup.body, { destroyed: 0, sessions: [] });
      clock.advance(60 * 60_000);
      const now = await s.request('POST', `${api}/cleanup`, { token: s.adminToken });
      assert.deepEqual(now.body, { destroyed: 1, sessions: [late.body.session_id] });
      assert.equal((await s.store.get(late.body.session_id))!.status, 'destroyed');
      assert.equal(fake.machines().length, 0);
    } finally {
      await s.close();
    }
  });

  test('a session that expires while still being created is ended too', async () => {
    const clock = new ManualClock();
    const fake = new NeverReadyProvider();
    const s = await startTestServer({ provider: fake, clock, reaper: false });
    try {
      const r = await s.request('POST', `${api}/sessions`, { body: { duration_minutes: 1 } });
      await waitFor(() => fake.machines().length === 1);
      clock.advance(60_000);
      const stats = await s.reaper.runOnce({ reconcile: false });
      assert.equal(stats.expired, 1);
      await waitFor(async () => (await s.store.get(r.body.session_id))!.status === 'destroyed');
      assert.equal(fake.machines().length, 0);
    } finally {
      await s.close();
    }
  });
});
