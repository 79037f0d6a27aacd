// The REST contract through real HTTP: every status and body, bad input, ownership.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, waitFor, type TestServer } from '../support/server.ts';
import { DownProvider, type FakeProvider } from '../support/fake-provider.ts';

const api = '/api/winux';

async function readySession(s: TestServer, body: unknown = {}) {
  const created = await s.request('POST', `${api}/sessions`, { body });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const token = created.body.token as string;
  const id = created.body.session_id as string;
  await waitFor(async () => (await s.request('GET', `${api}/sessions/${id}`, { token })).body.status === 'ready', 5000, 'ready');
  return { id, token, created: created.body };
}

async function rowCount(s: TestServer): Promise<number> {
  return (await s.store.list({})).length;
}

describe('session API', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
  });
  after(async () => {
    await s.close();
  });

  test('POST creates a session: 202, creating, token, credentials and an HttpOnly cookie', async () => {
    const r = await s.request('POST', `${api}/sessions`, { body: { duration_minutes: 15 } });
    assert.equal(r.status, 202);
    assert.equal(r.body.status, 'creating');
    assert.match(r.body.session_id, /^winux-[a-z2-7]{12}$/);
    assert.ok(r.body.token.startsWith(`${r.body.session_id}.`));
    assert.equal(r.body.duration_minutes, 15);
    assert.ok(r.body.password.length >= 16);
    assert.equal(r.body.username, 'winux');
    assert.ok(r.body.container_id >= 30001 && r.body.container_id <= 30999);
    const cookie = r.headers.get('set-cookie') ?? '';
    assert.match(cookie, /winux_token=/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const expiresIn = Date.parse(r.body.expires_at) - Date.parse(r.body.created_at);
    assert.equal(expiresIn, 15 * 60_000);
  });

  test('the language given at creation reaches the provider; files need a provider that moves them (501), owner or admin', async () => {
    const provider = s.provider as FakeProvider;
    const seen: (string | undefined)[] = [];
    const create = provider.create.bind(provider);
    provider.create = (spec, ctx) => {
      seen.push(spec.language);
      return create(spec, ctx);
    };
    try {
      const { id, token } = await readySession(s, { language: 'en' });
      await readySession(s, {});
      assert.deepEqual(seen, ['en', 'fr']);
      const files = await s.request('GET', `${api}/sessions/${id}/files`, { token });
      assert.equal(files.status, 501, JSON.stringify(files.body));
      assert.equal(files.body.error, 'not_supported');
      const other = await readySession(s);
      const foreign = await s.request('GET', `${api}/sessions/${id}/files`, { token: other.token });
      const unknown = await s.request('GET', `${api}/sessions/winux-abcdefgh2345/files`, { token: other.token });
      assert.deepEqual([foreign.status, foreign.body], [unknown.status, unknown.body]);
    } finally {
      provider.create = create;
    }
  });

  test('POST without a body (curl -X POST) uses the default duration', async () => {
    const res = await fetch(`${s.url}${api}/sessions`, { method: 'POST' });
    const body = await res.json();
    assert.equal(res.status, 202);
    assert.equal(body.duration_minutes, 30);
  });

  test('the session becomes ready with host, port and ip', async () => {
    const { id, token } = await readySession(s);
    const r = await s.request('GET', `${api}/sessions/${id}`, { token });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'ready');
    assert.equal(r.body.step, 'ready');
    assert.equal(r.body.host, '127.0.0.1', 'host defaults to the request host');
    assert.equal(typeof r.body.port, 'number');
    assert.ok(r.body.ready_at);
    assert.ok(r.body.remaining_seconds > 0 && r.body.remaining_seconds <= 1800);
  });

  test('DELETE ends it: 202 destroying, then destroyed; again: 200', async () => {
    const { id, token } = await readySession(s);
    const r = await s.request('DELETE', `${api}/sessions/${id}`, { token });
    assert.equal(r.status, 202);
    assert.equal(r.body.status, 'destroying');
    await waitFor(async () => (await s.request('GET', `${api}/sessions/${id}`, { token })).body.status === 'destroyed');
    const again = await s.request('DELETE', `${api}/sessions/${id}`, { token });
    assert.equal(again.status, 200);
    assert.equal(again.body.status, 'destroyed');
    assert.equal(again.body.password, undefined, 'no credentials for an ended session');
    const fake = s.provider as FakeProvider;
    const session = await s.store.get(id);
    assert.ok(!fake.machines().some((m) => m.containerId === session!.containerId), 'container gone');
    assert.equal(session!.holdsContainer, false);
  });

  test('GET /sessions: admin sees all live sessions, an owner only theirs, nobody nothing', async () => {
    const a = await readySession(s);
    const b = await readySession(s);
    const admin = await s.request('GET', `${api}/sessions`, { token: s.adminToken });
    const adminIds = admin.body.sessions.map((x: any) => x.session_id);
    assert.ok(adminIds.includes(a.id) && adminIds.includes(b.id));
    const mine = await s.request('GET', `${api}/sessions`, { token: a.token });
    assert.deepEqual(
      mine.body.sessions.map((x: any) => x.session_id),
      [a.id],
    );
    const anon = await s.request('GET', `${api}/sessions`);
    assert.deepEqual(anon.body, { sessions: [] });
    const byCookie = await s.request('GET', `${api}/sessions`, { headers: { cookie: `winux_token=${b.token}` } });
    assert.deepEqual(
      byCookie.body.sessions.map((x: any) => x.session_id),
      [b.id],
    );
  });

  test("ownership: another session's token, no token, a wrong admin token", async () => {
    const a = await readySession(s);
    const b = await readySession(s);
    const before = await s.store.get(a.id);
    for (const method of ['GET', 'DELETE'] as const) {
      const other = await s.request(method, `${api}/sessions/${a.id}`, { token: b.token });
      assert.equal(other.status, 403, `${method} with another token`);
      assert.equal(other.body.error, 'forbidden');
      assert.equal(other.body.password, undefined);
      const none = await s.request(method, `${api}/sessions/${a.id}`);
      assert.equal(none.status, 401);
      assert.equal(none.body.error, 'unauthorized');
      const wrongAdmin = await s.request(method, `${api}/sessions/${a.id}`, { token: 'x'.repeat(43) });
      assert.equal(wrongAdmin.status, 403);
    }
    const forged = await s.request('GET', `${api}/sessions/${a.id}`, { token: `${a.id}.${'A'.repeat(43)}` });
    assert.equal(forged.status, 403, 'the right id with a wrong secret');
    const extend = await s.request('POST', `${api}/sessions/${a.id}/extend`, { token: b.token, body: {} });
    assert.equal(extend.status, 403);
    const rdp = await s.request('GET', `${api}/sessions/${a.id}/rdp`, { token: b.token });
    assert.equal(rdp.status, 403);
    assert.deepEqual(await s.store.get(a.id), before, 'nothing changed');
    const admin = await s.request('GET', `${api}/sessions/${a.id}`, { token: s.adminToken });
    assert.equal(admin.status, 200);
    assert.equal(admin.body.password, before!.password);
  });

  test('an unknown id answers like a foreign one for a visitor, and 404 for the admin', async () => {
    const b = await readySession(s);
    const unknown = 'winux-aaaaaaaaaaaa';
    const visitor = await s.request('GET', `${api}/sessions/${unknown}`, { token: b.token });
    assert.equal(visitor.status, 403);
    const admin = await s.request('GET', `${api}/sessions/${unknown}`, { token: s.adminToken });
    assert.equal(admin.status, 404);
    assert.equal(admin.body.error, 'not_found');
  });

  test("cookie-authenticated changes need the page's header (CSRF)", async () => {
    const a = await readySession(s);
    const cookie = `winux_token=${a.token}`;
    const bare = await s.request('DELETE', `${api}/sessions/${a.id}`, { headers: { cookie } });
    assert.equal(bare.status, 403);
    assert.equal((await s.store.get(a.id))?.status, 'ready');
    const withHeader = await s.request('DELETE', `${api}/sessions/${a.id}`, { headers: { cookie, 'x-requested-with': 'winux' } });
    assert.equal(withHeader.status, 202);
  });

  test('extend moves expiry and stops at the maximum lifetime', async () => {
    const { id, token, created } = await readySession(s, { duration_minutes: 200 });
    const r1 = await s.request('POST', `${api}/sessions/${id}/extend`, { token, body: { minutes: 30 } });
    assert.equal(r1.status, 200);
    assert.equal(Date.parse(r1.body.expires_at) - Date.parse(created.expires_at), 30 * 60_000);
    const r2 = await s.request('POST', `${api}/sessions/${id}/extend`, { token, body: { minutes: 30 } });
    assert.equal(r2.status, 200);
    assert.equal(r2.body.expires_at, r2.body.max_expires_at, 'capped at 240 minutes');
    assert.equal(r2.body.can_extend, false);
    const r3 = await s.request('POST', `${api}/sessions/${id}/extend`, { token });
    assert.equal(r3.status, 409);
    assert.equal(r3.body.error, 'extension_limit');
  });

  test('the .rdp file names the host, port and user, and no password', async () => {
    const { id, token } = await readySession(s);
    const res = await fetch(`${s.url}${api}/sessions/${id}/rdp`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/x-rdp/);
    assert.match(res.headers.get('content-disposition') ?? '', new RegExp(`${id}\\.rdp`));
    const text = await res.text();
    const session = await s.store.get(id);
    assert.match(text, new RegExp(`full address:s:127\\.0\\.0\\.1:${session!.port}\\r\\n`));
    assert.match(text, /username:s:winux/);
    assert.ok(!text.includes(session!.password));
  });

  test('health, info, OpenAPI and docs', async () => {
    const health = await s.request('GET', `${api}/health`, { token: s.adminToken });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    assert.equal(health.body.store.ok, true);
    const info = await s.request('GET', `${api}/info`);
    assert.equal(info.body.session_minutes, 30);
    assert.equal(info.body.max_session_minutes, 240);
    assert.ok(info.body.estimated_ready_seconds >= 1);
    const openapi = await s.request('GET', `${api}/openapi.json`);
    assert.equal(openapi.status, 200);
    assert.ok(openapi.body.paths['/api/winux/sessions'].post);
    assert.ok(openapi.body.paths['/api/winux/sessions/{id}/extend'].post);
    assert.ok(openapi.body.paths['/api/winux/cleanup'].post);
    const docs = await fetch(`${s.url}${api}/docs/`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger/i);
  });

  test('cleanup needs the admin token', async () => {
    assert.equal((await s.request('POST', `${api}/cleanup`)).status, 401);
    const a = await readySession(s);
    assert.equal((await s.request('POST', `${api}/cleanup`, { token: a.token })).status, 403);
    const ok = await s.request('POST', `${api}/cleanup`, { token: s.adminToken });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { destroyed: 0, sessions: [] });
  });

  test('unknown paths answer JSON 404', async () => {
    const r = await s.request('GET', `${api}/nope`);
    assert.equal(r.status, 404);
    assert.equal(r.body.error, 'not_found');
  });
});

describe('bad input changes nothing', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
  });
  after(async () => {
    await s.close();
  });

  const badBodies: [string, unknown, number][] = [
    ['wrong type', { duration_minutes: '30' }, 400],
    ['float', { duration_minutes: 1.5 }, 400],
    ['negative', { duration_minutes: -5 }, 400],
    ['zero', { duration_minutes: 0 }, 400],
    ['huge', { duration_minutes: 1e12 }, 400],
    ['above the maximum', { duration_minutes: 241 }, 400],
    ['unknown field', { duration_minutes: 10, admin: true }, 400],
    ['an unknown language', { language: 'de' }, 400],
    ['a language of the wrong type', { language: 1 }, 400],
    ['array', [1, 2], 400],
    ['null', null, 400],
    ['malformed JSON', '{"duration_minutes":', 400],
    ['string JSON', '"hello"', 400],
  ];
  for (const [name, body, status] of badBodies) {
    test(`POST /sessions with ${name} → ${status}`, async () => {
      const before = await rowCount(s);
      const r = await s.request('POST', `${api}/sessions`, { body: typeof body === 'string' ? body : JSON.stringify(body) });
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(typeof r.body.error, 'string');
      assert.equal(typeof r.body.message, 'string');
      assert.ok(!/at .*\.ts:\d+/.test(r.body.message), 'no stack trace');
      assert.equal(await rowCount(s), before);
    });
  }

  test('a body over 64 KiB → 413', async () => {
    const before = await rowCount(s);
    const r = await s.request('POST', `${api}/sessions`, { body: JSON.stringify({ x: 'a'.repeat(70 * 1024) }) });
    assert.equal(r.status, 413);
    assert.equal(r.body.error, 'payload_too_large');
    assert.equal(await rowCount(s), before);
  });

  test('a non-JSON content type → 415', async () => {
    const r = await s.request('POST', `${api}/sessions`, { body: 'duration=5', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 415);
  });

  for (const id of ['..%2F..%2Fetc%2Fpasswd', "winux-x'%20OR%201=1--", 'winux-AAAAAAAAAAAA', '%00', 'a'.repeat(300)]) {
    test(`an id with path or SQL characters (${id.slice(0, 24)}) → 4xx`, async () => {
      const before = JSON.stringify(await s.store.list({}));
      for (const method of ['GET', 'DELETE']) {
        const r = await s.request(method, `${api}/sessions/${id}`, { token: s.adminToken });
        assert.ok([400, 404, 414].includes(r.status), `${method} ${r.status}`);
        assert.equal(typeof r.body.error, 'string');
      }
      assert.equal(JSON.stringify(await s.store.list({})), before);
    });
  }

  test('extend with bad minutes → 400', async () => {
    const r = await s.request('POST', `${api}/sessions`, { body: {} });
    for (const minutes of [0, -1, 'ten', 1e9]) {
      const x = await s.request('POST', `${api}/sessions/${r.body.session_id}/extend`, { token: r.body.token, body: { minutes } });
      assert.equal(x.status, 400, String(minutes));
    }
  });

  test('list with a bad query → 400', async () => {
    const r = await s.request('GET', `${api}/sessions?status=bogus`, { token: s.adminToken });
    assert.equal(r.status, 400);
    const l = await s.request('GET', `${api}/sessions?limit=-1`, { token: s.adminToken });
    assert.equal(l.status, 400);
  });
});

describe('limits', () => {
  test('per-visitor limit counts browsers (signed cookie), and callers without one by address', async () => {
    const s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '1' } });
    try {
      const cookieOf = async () => {
        const info = await fetch(`${s.url}${api}/info`);
        const set = info.headers.get('set-cookie') ?? '';
        assert.match(set, /winux_visitor=[^;]+;.*HttpOnly/);
        return set.split(';')[0];
      };
      const alice = await cookieOf();
      const bob = await cookieOf();
      assert.notEqual(alice, bob);
      // Same address (a classroom behind NAT), two browsers: one session each.
      assert.equal((await s.request('POST', `${api}/sessions`, { headers: { cookie: alice } })).status, 202);
      assert.equal((await s.request('POST', `${api}/sessions`, { headers: { cookie: bob } })).status, 202);
      const again = await s.request('POST', `${api}/sessions`, { headers: { cookie: alice } });
      assert.equal(again.status, 429);
      assert.equal(again.body.error, 'visitor_limit');
      // No cookie: counted by address. A forged cookie fails its signature and counts the same.
      assert.equal((await s.request('POST', `${api}/sessions`)).status, 202);
      const forged = await s.request('POST', `${api}/sessions`, { headers: { cookie: 'winux_visitor=made-up-visitor-id-123' } });
      assert.equal(forged.status, 429);
      const unsignedCopy = await s.request('POST', `${api}/sessions`, {
        headers: { cookie: `winux_visitor=${decodeURIComponent(alice.split('=')[1]).split('.')[0]}x` },
      });
      assert.equal(unsignedCopy.status, 429);
      assert.equal((await s.store.list({})).length, 3);
    } finally {
      await s.close();
    }
  });

  test('per-visitor limit → 429 visitor_limit', async () => {
    const s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '1' } });
    try {
      assert.equal((await s.request('POST', `${api}/sessions`)).status, 202);
      const second = await s.request('POST', `${api}/sessions`);
      assert.equal(second.status, 429);
      assert.equal(second.body.error, 'visitor_limit');
      assert.match(second.body.message, /already have a session/);
    } finally {
      await s.close();
    }
  });

  test('100 concurrent POSTs: no id given twice; at capacity 503 capacity_exhausted', async () => {
    const s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_MAX_SESSIONS: '60' } });
    try {
      const results = await Promise.all(Array.from({ length: 100 }, () => s.request('POST', `${api}/sessions`)));
      const ok = results.filter((r) => r.status === 202);
      const full = results.filter((r) => r.status === 503);
      assert.equal(ok.length, 60);
      assert.equal(full.length, 40);
      assert.equal(new Set(ok.map((r) => r.body.container_id)).size, 60);
      assert.equal(full[0].body.error, 'capacity_exhausted');
      assert.match(full[0].body.message, /All desktops are in use/);
      assert.ok(full[0].body.next_free_at, 'says when one frees up');
    } finally {
      await s.close();
    }
  });

  test('id range exhausted → 503 even below WINUX_MAX_SESSIONS', async () => {
    const s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_CONTAINER_ID_MIN: '30001', WINUX_CONTAINER_ID_MAX: '30002' } });
    try {
      assert.equal((await s.request('POST', `${api}/sessions`)).status, 202);
      assert.equal((await s.request('POST', `${api}/sessions`)).status, 202);
      const third = await s.request('POST', `${api}/sessions`);
      assert.equal(third.status, 503);
      assert.equal(third.body.error, 'capacity_exhausted');
    } finally {
      await s.close();
    }
  });

  test('creation rate limit per address → 429 with Retry-After', async () => {
    const s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_CREATE_RATE_PER_MINUTE: '3', WINUX_CREATE_BURST: '3' } });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await s.request('POST', `${api}/sessions`)).status, 202);
      const r = await s.request('POST', `${api}/sessions`);
      assert.equal(r.status, 429);
      assert.equal(r.body.error, 'rate_limited');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
      assert.equal((await s.store.list({})).length, 3);
    } finally {
      await s.close();
    }
  });

  test('health is 503 when the provider is down', async () => {
    const s = await startTestServer({ provider: new DownProvider() });
    try {
      const r = await s.request('GET', `${api}/health`, { token: s.adminToken });
      assert.equal(r.status, 503);
      assert.equal(r.body.status, 'degraded');
      assert.equal(r.body.provider.ok, false);
    } finally {
      await s.close();
    }
  });
});

describe('page delivery', () => {
  test('the page is served compressed at /winux/, and / leads there', async () => {
    const s = await startTestServer();
    try {
      const root = await fetch(`${s.url}/`, { redirect: 'manual' });
      assert.equal(root.status, 302);
      assert.equal(root.headers.get('location'), '/winux/');
      const page = await fetch(`${s.url}/winux/winux.js`, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(page.status, 200);
      assert.equal(page.headers.get('content-encoding'), 'gzip');
      const html = await fetch(`${s.url}/winux/`);
      assert.match(await html.text(), /Lancer une session Winux/);
      assert.match(html.headers.get('content-security-policy') ?? '', /default-src 'self'/);
      // The page brings the visitor cookie, so its first API calls (sent together) share it.
      const visitor = /winux_visitor=[^;]+/.exec(html.headers.get('set-cookie') ?? '')?.[0];
      assert.ok(visitor, 'the page sets the visitor cookie');
      for (const path of ['info', 'sessions']) {
        const r: Response = await fetch(`${s.url}${api}/${path}`, { headers: { cookie: visitor } });
        assert.equal(r.headers.get('set-cookie'), null, `${path} keeps the page's visitor cookie`);
      }
    } finally {
      await s.close();
    }
  });
});
