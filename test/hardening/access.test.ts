// Access between visitors: a token reaches only its own session, a visitor's list
// shows only their sessions, and probing ids teaches nothing (an unknown id and
// somebody else's id answer byte for byte the same).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { newSessionId } from '../../src/core/credentials.ts';
import { startTestServer, waitFor, type TestServer } from '../support/server.ts';

const api = '/api/winux';
let s: TestServer;
let alice: { id: string; token: string };
let bob: { id: string; token: string; password: string };

before(async () => {
  s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '1', WINUX_TRUSTED_PROXIES: '127.0.0.1' } });
  const a = await s.request('POST', `${api}/sessions`, { headers: { 'x-forwarded-for': '198.51.100.1' } });
  const b = await s.request('POST', `${api}/sessions`, { headers: { 'x-forwarded-for': '198.51.100.2' } });
  alice = { id: a.body.session_id, token: a.body.token };
  bob = { id: b.body.session_id, token: b.body.token, password: b.body.password };
  for (const x of [alice, bob]) {
    await waitFor(async () => (await s.request('GET', `${api}/sessions/${x.id}`, { token: x.token })).body.status === 'ready');
  }
});
after(() => s.close());

/** Everything of an answer an attacker can observe, minus headers that differ per request. */
async function observe(method: string, path: string, o: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const r = await s.request(method, path, o);
  const headers = [...r.headers.entries()].filter(([k]) => !['date', 'content-length'].includes(k)).sort();
  return { status: r.status, body: r.body, headers };
}

describe("a visitor's view", () => {
  test("the list shows only the caller's own sessions", async () => {
    const mine = await s.request('GET', `${api}/sessions`, { token: alice.token });
    assert.deepEqual(
      mine.body.sessions.map((x: any) => x.session_id),
      [alice.id],
    );
    assert.ok(!JSON.stringify(mine.body).includes(bob.password));
    const none = await s.request('GET', `${api}/sessions`);
    assert.deepEqual(none.body.sessions, [], 'no token, no sessions');
  });

  test("a forged token naming someone else's id lists nothing", async () => {
    const forged = `${bob.id}.${'A'.repeat(43)}`;
    const r = await s.request('GET', `${api}/sessions`, { token: forged });
    assert.deepEqual(r.body.sessions, []);
    const viaCookie = await s.request('GET', `${api}/sessions`, { headers: { cookie: `winux_token=${forged}` } });
    assert.deepEqual(viaCookie.body.sessions, []);
  });

  test('a token cannot read, extend, download or end another session', async () => {
    const before = (await s.request('GET', `${api}/sessions/${bob.id}`, { token: bob.token })).body;
    for (const [method, suffix, body] of [
      ['GET', '', undefined],
      ['POST', '/extend', { minutes: 5 }],
      ['GET', '/rdp', undefined],
      ['DELETE', '', undefined],
    ] as const) {
      const r = await s.request(method, `${api}/sessions/${bob.id}${suffix}`, { token: alice.token, body });
      assert.equal(r.status, 403, `${method} ${suffix}`);
      assert.ok(!JSON.stringify(r.body).includes(bob.password));
    }
    const after = (await s.request('GET', `${api}/sessions/${bob.id}`, { token: bob.token })).body;
    assert.equal(after.status, 'ready');
    assert.equal(after.expires_at, before.expires_at, 'not extended');
  });
});

describe('guessing ids', () => {
  const unknown = newSessionId();
  const cases: [string, string, unknown][] = [
    ['GET', '', undefined],
    ['GET', '/rdp', undefined],
    ['POST', '/extend', {}],
    ['DELETE', '', undefined],
  ];

  for (const [method, suffix, body] of cases) {
    test(`${method} ${suffix || '/{id}'}: someone else's id and an unknown id answer the same`, async () => {
      for (const who of [
        { token: alice.token },
        { token: `${unknown}.${'x'.repeat(43)}` },
        {},
        { headers: { cookie: `winux_token=${alice.token}`, 'x-requested-with': 'winux' } },
      ]) {
        const foreign = await observe(method, `${api}/sessions/${bob.id}${suffix}`, { ...who, body });
        const nobody = await observe(method, `${api}/sessions/${unknown}${suffix}`, { ...who, body });
        assert.deepEqual(foreign, nobody, JSON.stringify(who));
        assert.ok(foreign.status === 401 || foreign.status === 403, `status ${foreign.status}`);
      }
    });
  }

  test('a forged token for a real id answers like one for an unknown id', async () => {
    const real = await observe('GET', `${api}/sessions/${bob.id}`, { token: `${bob.id}.${'x'.repeat(43)}` });
    const fake = await observe('GET', `${api}/sessions/${unknown}`, { token: `${unknown}.${'x'.repeat(43)}` });
    assert.deepEqual(real, fake);
  });

  test("bob's session is untouched after all that", async () => {
    const r = await s.request('GET', `${api}/sessions/${bob.id}`, { token: bob.token });
    assert.equal(r.body.status, 'ready');
  });
});

describe('admin routes', () => {
  test('a missing, wrong, truncated or extended admin token is refused', async () => {
    const real = s.adminToken;
    const wrong = [undefined, 'x', real.slice(0, -1), `${real}x`, real.toUpperCase() === real ? real.toLowerCase() : real.toUpperCase(), ` ${real}x`];
    for (const token of wrong) {
      const list = await s.request('GET', `${api}/sessions?status=all`, { token });
      assert.ok(list.status === 200 ? list.body.sessions.length === 0 : [401, 403].includes(list.status), `list with ${token?.length}`);
      const cleanup = await s.request('POST', `${api}/cleanup`, { token });
      assert.ok([401, 403].includes(cleanup.status), `cleanup with ${token?.length}: ${cleanup.status}`);
    }
    const admin = await s.request('GET', `${api}/sessions`, { token: real });
    assert.equal(admin.body.sessions.length, 2);
  });
});
