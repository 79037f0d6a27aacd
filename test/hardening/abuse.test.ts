// Abuse limits seen from outside: who counts as "one client" for the creation
// rate limit and the per-visitor limit (X-Forwarded-For believed only from a
// trusted proxy), request timeouts, CORS, and the page's security headers.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../support/clock.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { recordFigures } from './support/drill.ts';

const api = '/api/winux';
const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(env: Record<string, string>): Promise<TestServer> {
  const s = await startTestServer({ env });
  servers.push(s);
  return s;
}

const from = (xff: string) => ({ headers: { 'x-forwarded-for': xff } });
const figures: Record<string, number> = {};
after(() => {
  if (Object.keys(figures).length) recordFigures('abuse', figures);
});

describe('creation rate limit per client address', () => {
  /** Two creations a minute per client, behind `proxies`. */
  const limited = (proxies: string) =>
    server({ WINUX_CREATE_RATE_PER_MINUTE: '2', WINUX_CREATE_BURST: '2', WINUX_TRUSTED_PROXIES: proxies, WINUX_SESSIONS_PER_VISITOR: '0' });

  test('behind a trusted proxy, each forwarded client has its own budget', async () => {
    // Loopback is the proxy here, as nginx on the same host would be.
    const s = await limited('127.0.0.1,::1');
    assert.equal((await s.request('POST', `${api}/sessions`, from('203.0.113.1'))).status, 202);
    assert.equal((await s.request('POST', `${api}/sessions`, from('203.0.113.1'))).status, 202);
    const third = await s.request('POST', `${api}/sessions`, from('203.0.113.1'));
    assert.equal(third.status, 429);
    assert.equal(third.body.error, 'rate_limited');
    assert.ok(Number(third.headers.get('retry-after')) >= 1, 'Retry-After in seconds');
    assert.equal((await s.request('POST', `${api}/sessions`, from('203.0.113.2'))).status, 202, 'another client is not limited');
  });

  test("a client cannot escape the limit by writing its own X-Forwarded-For in front of the proxy's", async () => {
    // nginx appends the real address: the left part is whatever the client sent.
    const s = await limited('127.0.0.1,::1');
    const statuses = [];
    for (const forged of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) {
      statuses.push((await s.request('POST', `${api}/sessions`, from(`${forged}, 198.51.100.7`))).status);
    }
    assert.deepEqual(statuses, [202, 202, 429]);
  });

  test('from an address that is not a trusted proxy, X-Forwarded-For is ignored', async () => {
    const s = await limited('10.255.255.1');
    const statuses = [];
    for (const forged of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
      statuses.push((await s.request('POST', `${api}/sessions`, from(forged))).status);
    }
    assert.deepEqual(statuses, [202, 202, 429], 'all three count as 127.0.0.1');
  });

  test('the per-visitor limit uses the same client address', async () => {
    const trusted = await server({ WINUX_TRUSTED_PROXIES: '127.0.0.1', WINUX_SESSIONS_PER_VISITOR: '1' });
    assert.equal((await trusted.request('POST', `${api}/sessions`, from('203.0.113.10'))).status, 202);
    assert.equal((await trusted.request('POST', `${api}/sessions`, from('203.0.113.11'))).status, 202);
    const again = await trusted.request('POST', `${api}/sessions`, from('203.0.113.10'));
    assert.equal(again.status, 429);
    assert.equal(again.body.error, 'visitor_limit');

    const untrusted = await server({ WINUX_TRUSTED_PROXIES: '10.255.255.1', WINUX_SESSIONS_PER_VISITOR: '1' });
    assert.equal((await untrusted.request('POST', `${api}/sessions`, from('203.0.113.10'))).status, 202);
    const spoofed = await untrusted.request('POST', `${api}/sessions`, from('203.0.113.11'));
    assert.equal(spoofed.status, 429, 'a forged header does not make a new visitor');
    assert.equal(spoofed.body.error, 'visitor_limit');
  });

  test('a client that resets its connection right after POSTing is not filed under an unknown address', async () => {
    // Its socket is gone before the handler reads the address: it used to become
    // visitor "address:undefined", outside its real address's limit.
    const s = await server({ WINUX_TRUSTED_PROXIES: '10.255.255.1', WINUX_SESSIONS_PER_VISITOR: '1' });
    assert.equal((await s.request('POST', `${api}/sessions`)).status, 202);
    const { port } = new URL(s.url);
    const net = await import('node:net');
    for (let i = 0; i < 30; i++) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => {
          socket.write('POST /api/winux/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
          socket.resetAndDestroy();
          resolve();
        });
        socket.on('error', () => {});
      });
    }
    assert.equal((await s.request('GET', `${api}/info`)).status, 200, 'the server is fine');
    await s.service.idle();
    const visitors = (await s.store.list({})).map((x) => x.visitor);
    assert.deepEqual(visitors, ['address:127.0.0.1'], 'no session for a client without an address');
  });

  test('a script fetching a fresh visitor cookie before each POST never holds more than its address may (rate limit off)', async () => {
    // Visitors are browsers (signed cookie) so a classroom behind one NAT address gets a
    // session each; cookies only divide the address's share, WINUX_SESSIONS_PER_ADDRESS.
    const cap = 5;
    const s = await server({ WINUX_CREATE_RATE_PER_MINUTE: '0', WINUX_SESSIONS_PER_VISITOR: '1', WINUX_SESSIONS_PER_ADDRESS: String(cap) });
    const statuses: number[] = [];
    const attempts = 40;
    for (let i = 0; i < attempts; i++) {
      const info = await fetch(`${s.url}${api}/info`);
      const cookie = (info.headers.get('set-cookie') ?? '').split(';')[0]!;
      assert.match(cookie, /^winux_visitor=/);
      const r = await s.request('POST', `${api}/sessions`, { headers: { cookie } });
      statuses.push(r.status);
      if (r.status === 429) assert.equal(r.body.error, 'address_limit');
    }
    const running = (await s.store.list({ statuses: ['creating', 'ready'] })).length;
    assert.equal(running, cap, 'the cap holds');
    assert.deepEqual(statuses, [...Array(cap).fill(202), ...Array(attempts - cap).fill(429)]);
    // Another address is not affected by this one's use.
    assert.equal((await s.request('POST', `${api}/sessions`, from('203.0.113.99'))).status, 202);
    figures.cookie_cycling_attempts = attempts;
    figures.cookie_cycling_accepted = statuses.filter((x) => x === 202).length;
    figures.cookie_cycling_cap = cap;
    figures.cookie_cycling_running = running;
  });

  test('the cap counts an IPv6 /64 as one address; a session that ends frees its place', async () => {
    const s = await server({ WINUX_TRUSTED_PROXIES: '127.0.0.1', WINUX_SESSIONS_PER_VISITOR: '0', WINUX_SESSIONS_PER_ADDRESS: '2' });
    const a = await s.request('POST', `${api}/sessions`, from('2001:db8:1:2::1'));
    assert.equal(a.status, 202);
    assert.equal((await s.request('POST', `${api}/sessions`, from('2001:db8:1:2:ffff:ffff:ffff:fffe'))).status, 202);
    const third = await s.request('POST', `${api}/sessions`, from('2001:0db8:0001:0002:abcd::9'));
    assert.equal(third.status, 429, 'same /64');
    assert.equal(third.body.error, 'address_limit');
    assert.equal((await s.request('POST', `${api}/sessions`, from('2001:db8:1:3::1'))).status, 202, 'another /64');
    await s.service.idle();
    assert.equal((await s.request('DELETE', `${api}/sessions/${a.body.session_id}`, { token: a.body.token })).status, 202);
    assert.equal((await s.request('POST', `${api}/sessions`, from('2001:db8:1:2::77'))).status, 202, 'a place freed');
  });

  test('a classroom behind one NAT address starts together with the defaults; a script there gets a trickle, not the school', async () => {
    const clock = new ManualClock(Date.now());
    const s = await startTestServer({ clock, reaper: false, env: { WINUX_CREATE_RATE_PER_MINUTE: '10', WINUX_SESSIONS_PER_ADDRESS: '1000' } });
    servers.push(s);
    assert.equal(s.config.createBurst, 30, 'the default burst: a classroom');
    const pupils = [];
    for (let i = 0; i < 30; i++) {
      const info = await fetch(`${s.url}${api}/info`);
      const cookie = (info.headers.get('set-cookie') ?? '').split(';')[0]!;
      pupils.push((await s.request('POST', `${api}/sessions`, { headers: { cookie } })).status);
    }
    assert.deepEqual(pupils, Array(30).fill(202), '30 pupils behind one address, each a session');
    const over = await s.request('POST', `${api}/sessions`);
    assert.equal(over.status, 429);
    assert.equal(over.body.error, 'rate_limited');
    assert.equal(over.headers.get('retry-after'), '6', 'one creation every 6 s at 10 a minute');
    clock.advance(6_000);
    assert.equal((await s.request('POST', `${api}/sessions`)).status, 202, 'the bucket refills steadily');
    assert.equal((await s.request('POST', `${api}/sessions`)).status, 429);
  });

  test('0 turns the rate limit off', async () => {
    const s = await server({ WINUX_CREATE_RATE_PER_MINUTE: '0', WINUX_SESSIONS_PER_VISITOR: '0' });
    for (let i = 0; i < 15; i++) assert.equal((await s.request('POST', `${api}/sessions`)).status, 202);
  });

  test('reads are not rate limited (only creation is)', async () => {
    const s = await server({ WINUX_CREATE_RATE_PER_MINUTE: '1', WINUX_CREATE_BURST: '1' });
    for (let i = 0; i < 20; i++) assert.equal((await s.request('GET', `${api}/info`)).status, 200);
  });
});

describe('request timeouts', () => {
  test('slow or idle clients cannot hold connections forever', async () => {
    const s = await server({});
    const http = s.app.server;
    // A slowloris client drips headers; these bounds make Node drop it.
    assert.ok(http.requestTimeout > 0 && http.requestTimeout <= 60_000, `requestTimeout ${http.requestTimeout}`);
    // Node bounds the headers by the smaller of the two.
    const headersBound = Math.min(http.headersTimeout || Infinity, http.requestTimeout || Infinity);
    assert.ok(headersBound <= 60_000, `headers must arrive within ${headersBound} ms`);
    assert.ok(http.timeout > 0 && http.timeout <= 120_000, `socket idle timeout ${http.timeout}`);
    assert.ok(http.keepAliveTimeout > 0 && http.keepAliveTimeout <= 120_000, `keepAliveTimeout ${http.keepAliveTimeout}`);
  });
});

describe('CORS', () => {
  const preflight = (s: TestServer, origin: string) =>
    fetch(`${s.url}${api}/sessions`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });

  test('only configured origins get CORS headers', async () => {
    const s = await server({ WINUX_CORS_ORIGINS: 'https://school.example' });
    const ok = await preflight(s, 'https://school.example');
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://school.example');
    const evil = await preflight(s, 'https://evil.example');
    assert.equal(evil.headers.get('access-control-allow-origin'), null, 'no ACAO for an unlisted origin');
    const simple = await fetch(`${s.url}${api}/sessions`, { headers: { origin: 'https://evil.example' } });
    assert.equal(simple.headers.get('access-control-allow-origin'), null);
    const lookalike = await preflight(s, 'https://school.example.evil.example');
    assert.equal(lookalike.headers.get('access-control-allow-origin'), null, 'no prefix matching');
  });

  test('without WINUX_CORS_ORIGINS no origin is allowed (the seed allowed all)', async () => {
    const s = await server({});
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1']) {
      const r = await preflight(s, origin);
      assert.equal(r.headers.get('access-control-allow-origin'), null, origin);
    }
  });
});

describe('security headers', () => {
  test('the page forbids framing, inline scripts, sniffing and referrer leaks', async () => {
    const s = await server({});
    const r = await fetch(`${s.url}/winux/`);
    assert.equal(r.status, 200);
    const csp = r.headers.get('content-security-policy') ?? '';
    const directive = (name: string) =>
      csp
        .split(';')
        .map((d) => d.trim())
        .find((d) => d.startsWith(`${name} `)) ?? '';
    assert.match(directive('default-src'), /'self'/);
    assert.match(directive('frame-ancestors'), /'none'/);
    assert.match(directive('object-src'), /'none'/);
    assert.ok(directive('script-src') && !directive('script-src').includes('unsafe-inline'), `script-src: ${directive('script-src')}`);
    assert.ok(!/\*/.test(csp), 'no wildcard sources');
    assert.equal(r.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.match(r.headers.get('referrer-policy') ?? '', /no-referrer|same-origin|strict-origin/);
    assert.equal(r.headers.get('x-powered-by'), null);
  });

  test('API answers carry nosniff and are not cached by shared caches when they hold secrets', async () => {
    const s = await server({});
    const created = await s.request('POST', `${api}/sessions`);
    assert.equal(created.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(created.headers.get('cache-control'), 'no-store', 'the answer holds a password and a token');
    const own = await s.request('GET', `${api}/sessions/${created.body.session_id}`, { token: created.body.token });
    assert.equal(own.headers.get('cache-control'), 'no-store');
    const cookie = created.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Strict/i);
  });
});
