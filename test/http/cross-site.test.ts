// Cross-site requests (issue 14, item 4): another site's page must not be able to make
// its visitors' browsers start or end desktops, while curl and API clients keep working.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { recordFigures } from '../hardening/support/drill.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const api = '/api/winux';

describe('state-changing requests from other sites are refused', () => {
  let s: TestServer;
  let own: string;
  before(async () => {
    s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_CORS_ORIGINS: 'https://school.example' } });
    own = new URL(s.url).origin;
  });
  let refused = 0;
  let tried = 0;
  after(async () => {
    recordFigures('cross-site', { cross_site_tried: tried, cross_site_refused: refused, cross_site_created: createdByForeign });
    await s.close();
  });
  let createdByForeign = 0;

  const count = async () => (await s.store.list({})).length;

  test('POST /sessions with a foreign Origin and Sec-Fetch-Site: cross-site, no body: 403, nothing created', async () => {
    const before = await count();
    const r = await s.request('POST', `${api}/sessions`, { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'cross_site_request');
    assert.match(r.body.message, /other web sites/);
    assert.equal(await count(), before);
  });

  test('each signal alone is enough: a foreign Origin, Sec-Fetch-Site cross-site or same-site, Origin "null"', async () => {
    const before = await count();
    const cases: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { origin: `${own}.evil.example` },
      { origin: own.replace('http:', 'ftp:') },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of cases) {
      const r = await s.request('POST', `${api}/sessions`, { headers });
      tried++;
      if (r.status === 403) refused++;
      if (r.status === 202) createdByForeign++;
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.equal(r.body.error, 'cross_site_request');
    }
    assert.equal(await count(), before);
  });

  test('the same hook guards every state-changing route (DELETE, extend, cleanup), even with a valid token', async () => {
    const created = await s.request('POST', `${api}/sessions`);
    assert.equal(created.status, 202);
    const id = created.body.session_id;
    const foreign = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' };
    const del = await s.request('DELETE', `${api}/sessions/${id}`, { token: created.body.token, headers: foreign });
    assert.equal(del.status, 403);
    assert.equal(del.body.error, 'cross_site_request');
    const ext = await s.request('POST', `${api}/sessions/${id}/extend`, { token: created.body.token, headers: foreign, body: {} });
    assert.equal(ext.status, 403);
    const cleanup = await s.request('POST', `${api}/cleanup`, { token: s.adminToken, headers: foreign });
    assert.equal(cleanup.status, 403);
    assert.notEqual((await s.store.get(id))?.status, 'destroying');
    // Reads stay open: a GET changes nothing.
    const read = await s.request('GET', `${api}/sessions/${id}`, { token: created.body.token, headers: foreign });
    assert.equal(read.status, 200);
  });

  test('our own page (same Origin, Sec-Fetch-Site: same-origin), a configured CORS origin, curl and API clients work', async () => {
    const page = await s.request('POST', `${api}/sessions`, { headers: { origin: own, 'sec-fetch-site': 'same-origin' } });
    assert.equal(page.status, 202);
    const typed = await s.request('POST', `${api}/sessions`, { headers: { 'sec-fetch-site': 'none' } });
    assert.equal(typed.status, 202);
    const school = await s.request('POST', `${api}/sessions`, { headers: { origin: 'https://school.example', 'sec-fetch-site': 'cross-site' } });
    assert.equal(school.status, 202, 'WINUX_CORS_ORIGINS lists it on purpose');
    const curl = await s.request('POST', `${api}/sessions`);
    assert.equal(curl.status, 202, 'no Origin, no Sec-Fetch-*: curl -X POST …/sessions');
  });

  test('behind a proxy that drops the port from Host (nginx $host), the Origin host name still matches', async () => {
    // fetch() always sends its own Host: inject() sends what the proxy would.
    const post = (origin: string) => s.app.inject({ method: 'POST', url: `${api}/sessions`, headers: { host: 'desktops.example.org', origin } });
    assert.equal((await post('https://desktops.example.org')).statusCode, 202);
    assert.equal((await post('https://evil.example')).statusCode, 403);
  });
});
