// The console's server side through real HTTP: sign-in for an HttpOnly cookie
// (kept across a restart, gone after sign-out), the admin routes refused to
// visitors, an audit row for every action and none holding a secret, the pool
// size changed at run time and kept, blocks answered with 403 address_blocked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, waitFor, type TestServer } from '../support/server.ts';
import { FailingProvider } from '../support/fake-provider.ts';

const api = '/api/winux';
const csrf = { 'x-requested-with': 'winux' };

async function signIn(s: TestServer): Promise<string> {
  const r = await s.request('POST', `${api}/admin/session`, { body: { token: s.adminToken } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const set = r.headers.get('set-cookie') ?? '';
  const cookie = /winux_admin=([^;]+)/.exec(set)?.[1];
  assert.ok(cookie, set);
  return `winux_admin=${cookie}`;
}

async function allAudit(s: TestServer) {
  const r = await s.request('GET', `${api}/audit?limit=1000`, { token: s.adminToken });
  assert.equal(r.status, 200);
  return r.body.entries as any[];
}

/** Every admin-only route, with a body that would be valid for the admin. */
const adminRoutes: [string, string, unknown?][] = [
  ['GET', '/admin/overview'],
  ['GET', '/admin/events'],
  ['GET', '/admin/pool'],
  ['PUT', '/admin/pool', { size: 1 }],
  ['GET', '/admin/blocks'],
  ['POST', '/admin/blocks', { network: '203.0.113.0/24' }],
  ['DELETE', '/admin/blocks/1'],
  ['POST', '/admin/sessions/end-expired', {}],
  ['POST', '/admin/sessions/end-all', {}],
  ['GET', '/admin/template'],
  ['POST', '/admin/template/rebuild', {}],
  ['GET', '/admin/session'],
  ['GET', '/audit'],
  ['GET', '/audit?format=jsonl'],
  ['GET', '/metrics'],
  ['POST', '/cleanup', {}],
];

describe('admin console API', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
  });
  after(async () => {
    await s.close();
  });

  test('sign-in gives an HttpOnly SameSite=Strict cookie; a wrong token gets 401 and an audit row; sign-out ends it at once', async () => {
    const wrong = await s.request('POST', `${api}/admin/session`, { body: { token: 'not-the-admin-token' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'unauthorized');
    assert.equal(wrong.headers.get('set-cookie'), null);

    const r = await s.request('POST', `${api}/admin/session`, { body: { token: s.adminToken } });
    const set = r.headers.get('set-cookie') ?? '';
    assert.match(set, /HttpOnly/i);
    assert.match(set, /SameSite=Strict/i);
    assert.match(set, /Path=\//);
    assert.doesNotMatch(set, /Secure/i, 'plain HTTP: no Secure flag (it would never be sent back)');
    assert.ok(!set.includes(s.adminToken), 'the cookie is not the token');
    const cookie = `winux_admin=${/winux_admin=([^;]+)/.exec(set)![1]}`;

    const me = await s.request('GET', `${api}/admin/session`, { headers: { cookie } });
    assert.equal(me.status, 200);
    assert.equal(me.body.via, 'cookie');
    const list = await s.request('GET', `${api}/admin/overview`, { headers: { cookie } });
    assert.equal(list.status, 200);
    assert.ok(Array.isArray(list.body.sessions));

    // A cookie-authenticated change needs the page's header (CSRF guard), like the visitor page's.
    const noHeader = await s.request('PUT', `${api}/admin/pool`, { headers: { cookie }, body: { size: 0 } });
    assert.equal(noHeader.status, 403);

    const out = await s.request('DELETE', `${api}/admin/session`, { headers: { cookie, ...csrf } });
    assert.equal(out.status, 204);
    const after = await s.request('GET', `${api}/admin/overview`, { headers: { cookie } });
    assert.equal(after.status, 401, 'the old cookie no longer works');

    const actions = (await allAudit(s)).filter((e) => e.action.startsWith('admin.sign'));
    assert.deepEqual(
      actions.map((e) => [e.action, e.outcome]),
      [
        ['admin.sign_out', 'ok'],
        ['admin.sign_in', 'ok'],
        ['admin.sign_in', 'refused'],
      ],
    );
    assert.ok(actions.every((e) => e.address === '127.0.0.1'));
  });

  test("a visitor's cookie or token gets 401/403 on every admin route, and a forged console cookie too", async () => {
    const created = await s.request('POST', `${api}/sessions`, {});
    const token = created.body.token as string;
    const visitorCookie = `winux_token=${token}`;
    const forged = `winux_admin=${'A'.repeat(43)}`;
    for (const [method, path, body] of adminRoutes) {
      for (const who of [{ token }, { headers: { cookie: visitorCookie, ...csrf } }, { headers: { cookie: forged, ...csrf } }, {}]) {
        const r = await s.request(method, `${api}${path}`, { ...who, body });
        assert.ok([401, 403].includes(r.status), `${method} ${path} as ${JSON.stringify(who).slice(0, 40)}: ${r.status}`);
        assert.ok(typeof r.body === 'object' && r.body.error, `${method} ${path}: a JSON error`);
      }
    }
  });

  test('an audit row for create, extend, end (by visitor and admin), bulk end, pool resize, blocks; none holds a secret', async () => {
    const cookie = await signIn(s);
    const a = await s.request('POST', `${api}/sessions`, {});
    await waitFor(async () => (await s.store.get(a.body.session_id))?.status === 'ready');
    const ext = await s.request('POST', `${api}/sessions/${a.body.session_id}/extend`, { token: a.body.token, body: { minutes: 5 } });
    assert.equal(ext.status, 200);
    const endByVisitor = await s.request('DELETE', `${api}/sessions/${a.body.session_id}`, { token: a.body.token });
    assert.equal(endByVisitor.status, 202);

    const b = await s.request('POST', `${api}/sessions`, {});
    const extAdmin = await s.request('POST', `${api}/sessions/${b.body.session_id}/extend`, { headers: { cookie, ...csrf }, body: {} });
    assert.equal(extAdmin.status, 200);
    const endByAdmin = await s.request('DELETE', `${api}/sessions/${b.body.session_id}`, { headers: { cookie, ...csrf } });
    assert.equal(endByAdmin.status, 202);

    const c = await s.request('POST', `${api}/sessions`, {});
    const all = await s.request('POST', `${api}/admin/sessions/end-all`, { headers: { cookie, ...csrf }, body: {} });
    assert.equal(all.status, 200);
    assert.ok(all.body.sessions.includes(c.body.session_id));

    const block = await s.request('POST', `${api}/admin/blocks`, {
      headers: { cookie, ...csrf },
      body: { network: '2001:db8:1::/48', minutes: 30, reason: 'test' },
    });
    assert.equal(block.status, 201, JSON.stringify(block.body));
    assert.equal((await s.request('DELETE', `${api}/admin/blocks/${block.body.id}`, { headers: { cookie, ...csrf } })).status, 204);
    await s.service.idle();

    const rows = await allAudit(s);
    const of = (id: string) => rows.filter((e) => e.session_id === id).map((e) => `${e.action}:${e.actor}`);
    assert.deepEqual(of(a.body.session_id).reverse(), ['session.create:visitor', 'session.extend:visitor', 'session.end:visitor']);
    assert.deepEqual(of(b.body.session_id).reverse(), ['session.create:visitor', 'session.extend:admin', 'session.end:admin']);
    assert.deepEqual(of(c.body.session_id).reverse(), ['session.create:visitor', 'session.end:admin']);
    for (const action of ['admin.end_all', 'block.add', 'block.remove'])
      assert.ok(
        rows.some((e) => e.action === action && e.actor === 'admin'),
        action,
      );

    // No row, in any column, holds a password, a token, the admin token or the console cookie.
    const secrets = [s.adminToken, cookie.split('=')[1]!];
    for (const session of await s.store.list({})) secrets.push(session.password, session.tokenHash);
    for (const t of [a.body.token, b.body.token, c.body.token]) secrets.push(t, t.split('.')[1]);
    const jsonl = await s.request('GET', `${api}/audit?format=jsonl`, { token: s.adminToken });
    assert.match(jsonl.headers.get('content-type') ?? '', /ndjson/);
    const lines = String(jsonl.body).trim().split('\n');
    assert.equal(lines.length, rows.length, 'the export holds every row');
    const dbDump = JSON.stringify(await (s.store as any).db.selectFrom('audit_log').selectAll().execute());
    for (const secret of secrets) {
      assert.ok(!jsonl.body.includes(secret), 'no secret in the export');
      assert.ok(!dbDump.includes(secret), 'no secret in the table');
    }
  });

  test('audit filters and pages: by session, actor, action, time; next_before walks back; bad filters are 400', async () => {
    const a = await s.request('POST', `${api}/sessions`, {});
    const bySession = await s.request('GET', `${api}/audit?session_id=${a.body.session_id}`, { token: s.adminToken });
    assert.deepEqual(
      bySession.body.entries.map((e: any) => e.action),
      ['session.create'],
    );
    const admins = await s.request('GET', `${api}/audit?actor=admin&limit=1000`, { token: s.adminToken });
    assert.ok(admins.body.entries.length > 0 && admins.body.entries.every((e: any) => e.actor === 'admin'));
    const creates = await s.request('GET', `${api}/audit?action=session.create&limit=2`, { token: s.adminToken });
    assert.equal(creates.body.entries.length, 2);
    const next = await s.request('GET', `${api}/audit?action=session.create&limit=2&before=${creates.body.next_before}`, { token: s.adminToken });
    assert.ok(next.body.entries.every((e: any) => e.id < creates.body.next_before && e.action === 'session.create'));
    const future = await s.request('GET', `${api}/audit?since=${new Date(Date.now() + 3600_000).toISOString()}`, { token: s.adminToken });
    assert.deepEqual(future.body.entries, []);
    for (const bad of ['actor=root', 'limit=0', 'since=yesterday', 'action=DROP%20TABLE', 'nope=1']) {
      const r = await s.request('GET', `${api}/audit?${bad}`, { token: s.adminToken });
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.error, 'bad_request');
    }
  });

  test('blocks: a blocked address gets 403 address_blocked with a message, until unblocked; bad networks are 400', async () => {
    for (const network of ['not-an-ip', '10.0.0.0/33', '10.0.0.0/4', '::/0']) {
      const r = await s.request('POST', `${api}/admin/blocks`, { token: s.adminToken, body: { network } });
      assert.equal(r.status, 400, network);
    }
    const before = (await s.request('GET', `${api}/admin/blocks`, { token: s.adminToken })).body.blocks.length;
    const block = await s.request('POST', `${api}/admin/blocks`, { token: s.adminToken, body: { network: '127.0.0.0/8', minutes: 10 } });
    assert.equal(block.status, 201);
    assert.ok(block.body.expires_at);
    const refused = await s.request('POST', `${api}/sessions`, {});
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'address_blocked');
    assert.match(refused.body.message, /blocked/);
    assert.ok(refused.body.blocked_until);
    const overview = await s.request('GET', `${api}/admin/overview`, { token: s.adminToken });
    assert.ok(overview.body.abuse.clients.some((c: any) => c.key === '127.0.0.1' && c.refused >= 1));
    assert.equal(overview.body.abuse.blocks.length, before + 1);
    await s.request('DELETE', `${api}/admin/blocks/${block.body.id}`, { token: s.adminToken });
    assert.equal((await s.request('POST', `${api}/sessions`, {})).status, 202);
    assert.equal((await s.request('DELETE', `${api}/admin/blocks/${block.body.id}`, { token: s.adminToken })).status, 404);
  });
});

describe('admin state across a restart', () => {
  test('a console sign-in, the pool size and a permanent block survive a restart', async () => {
    const first = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_POOL_SIZE: '0' } });
    const dataDir = first.dataDir;
    const cookie = await signIn(first);
    const resized = await first.request('PUT', `${api}/admin/pool`, { headers: { cookie, ...csrf }, body: { size: 2 } });
    assert.equal(resized.status, 200);
    assert.equal(resized.body.size, 2);
    await waitFor(async () => (await first.store.list({ pooled: true, statuses: ['ready'] })).length === 2, 8000, 'pool grew to 2');
    const tooBig = await first.request('PUT', `${api}/admin/pool`, { headers: { cookie, ...csrf }, body: { size: 5000 } });
    assert.equal(tooBig.status, 400);
    await first.request('POST', `${api}/admin/blocks`, { headers: { cookie, ...csrf }, body: { network: '198.51.100.7' } });
    await first.close();

    const second = await startTestServer({ dataDir, env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_POOL_SIZE: '0' } });
    try {
      const pool = await second.request('GET', `${api}/admin/pool`, { headers: { cookie } });
      assert.equal(pool.status, 200, 'the sign-in survived the restart');
      assert.equal(pool.body.size, 2, 'the size set from the console outlives WINUX_POOL_SIZE');
      const blocks = await second.request('GET', `${api}/admin/blocks`, { headers: { cookie } });
      assert.deepEqual(
        blocks.body.blocks.map((b: any) => [b.network, b.expires_at]),
        [['198.51.100.7/32', null]],
      );
      const rows = (await second.request('GET', `${api}/audit?action=pool.resize`, { headers: { cookie } })).body.entries;
      assert.deepEqual(rows[0].detail, { from: 0, to: 2 });
      const shrink = await second.request('PUT', `${api}/admin/pool`, { headers: { cookie, ...csrf }, body: { size: 0 } });
      assert.equal(shrink.body.size, 0);
      await waitFor(async () => (await second.store.list({ pooled: true, statuses: ['creating', 'ready'] })).length === 0, 8000, 'pool shrank to 0');
    } finally {
      await second.close();
    }
  });

  test('failures: a failed creation is listed with its error and step, audited, and cleaned', async () => {
    const s = await startTestServer({ provider: new FailingProvider(), env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
    try {
      const r = await s.request('POST', `${api}/sessions`, {});
      await waitFor(async () => (await s.store.get(r.body.session_id))?.status === 'failed');
      await s.service.idle();
      const o = await s.request('GET', `${api}/admin/overview`, { token: s.adminToken });
      const f = o.body.failures.failed.find((x: any) => x.session_id === r.body.session_id);
      assert.ok(f, JSON.stringify(o.body.failures));
      assert.match(f.error, /simulated failure/);
      assert.equal(f.cleaned, true);
      const rows = (await s.request('GET', `${api}/audit?session_id=${r.body.session_id}`, { token: s.adminToken })).body.entries;
      assert.ok(rows.some((e: any) => e.action === 'session.failed' && e.outcome === 'failed'));
      assert.ok(o.body.usage.days.at(-1).failures >= 1);
    } finally {
      await s.close();
    }
  });
});
