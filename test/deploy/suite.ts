// The same checks for each shipped reverse-proxy config (caddy.test.ts, nginx.test.ts):
// a real Winux server (real HTTP, SQLite, session service; the stepping test
// provider) behind the real proxy with TLS, and Chromium going through it over
// HTTPS, trusting exactly the certificate the proxy serves.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createLogger } from '../../src/logger.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { chromiumArgs, SteppingProvider, until } from '../web/harness.ts';
import {
  direct,
  domain,
  startStrangerHttps,
  openEvents,
  request,
  servedSpkiHash,
  startEchoUpstream,
  type EchoUpstream,
  type Proxy as RunningProxy,
} from './proxies.ts';

type Start = (upstream: string) => Promise<RunningProxy>;

/** Records what the page's EventSource receives (a string: tsx would inject helpers the page lacks). */
const recordEventSource = `(() => {
  const seen = [];
  window.__sse = seen;
  const Real = window.EventSource;
  if (!Real) return;
  class Recorded extends Real {
    constructor(url, options) {
      super(url, options);
      this.addEventListener('session', (e) => { try { seen.push(JSON.parse(e.data).status); } catch (_) { seen.push('unparsable'); } });
    }
  }
  Object.defineProperty(window, 'EventSource', { value: Recorded, configurable: true, writable: true });
})();`;

export function proxySuite(kind: RunningProxy['kind'], start: Start): void {
  describe(`Winux behind ${kind} (deploy/${kind === 'caddy' ? 'Caddyfile' : 'nginx.conf'})`, () => {
    let winux: TestServer;
    let stepper: SteppingProvider;
    let proxy: RunningProxy;
    let echo: EchoUpstream;
    let echoProxy: RunningProxy;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    /** Winux's request log lines (pino JSON), to see which client address it believed. */
    const logLines: any[] = [];
    const base = () => `https://${domain}:${proxy.httpsPort}`;

    before(async () => {
      stepper = new SteppingProvider();
      const sink = new Writable({
        write(chunk, _encoding, done) {
          for (const line of String(chunk).split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
          done();
        },
      });
      winux = await startTestServer({
        provider: stepper,
        logger: createLogger('info', sink),
        env: {
          // The proxy connects from 127.0.0.1; only it may speak for a client.
          WINUX_TRUSTED_PROXIES: '127.0.0.1',
          // One creation per client address per minute: a per-address budget the tests can observe.
          WINUX_CREATE_RATE_PER_MINUTE: '1',
          WINUX_CREATE_BURST: '1',
          WINUX_SESSIONS_PER_VISITOR: '50',
          WINUX_SWEEP_SECONDS: '1',
        },
      });
      const upstream = new URL(winux.url).host;
      proxy = await start(upstream);
      echo = await startEchoUpstream();
      echoProxy = await start(echo.address);
      const spki = [...new Set([servedSpkiHash(proxy), servedSpkiHash(echoProxy)])].join(',');
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: [
          ...chromiumArgs,
          // Trust exactly the served certificates' keys, nothing else.
          `--ignore-certificate-errors-spki-list=${spki}`,
          // The public name resolves to loopback only; every other name fails to resolve.
          `--host-resolver-rules=MAP ${domain} 127.0.0.1, MAP * ~NOTFOUND`,
        ],
      });
      context = await browser.newContext({ locale: 'fr-FR', viewport: { width: 1280, height: 800 } });
      await context.addInitScript({ content: recordEventSource });
      page = await context.newPage();
    });

    after(async () => {
      // Each step on its own: one failure must not leave the others running.
      for (const step of [
        () => context?.close(),
        () => browser?.close(),
        () => echoProxy?.stop(),
        () => proxy?.stop(),
        () => echo?.close(),
        async () => {
          stepper?.release();
          await winux?.close();
        },
      ]) {
        try {
          await step();
        } catch (e) {
          console.error(`cleanup: ${String(e)}`);
        }
      }
      if (winux) fs.rmSync(winux.dataDir, { recursive: true, force: true });
    });

    test('Chromium loads the page over HTTPS: / leads to /winux/, with HSTS', async () => {
      const responses: Array<{ url: string; hsts: string | null }> = [];
      // Exactly one header: the proxy's own, with Winux's (it sees X-Forwarded-Proto: https) hidden.
      page.on('response', async (r) => {
        const values = (await r.headersArray()).filter((h) => h.name.toLowerCase() === 'strict-transport-security').map((h) => h.value);
        responses.push({ url: r.url(), hsts: values.length === 1 ? values[0]! : values.length ? `${values.length} headers: ${values.join(' | ')}` : null });
      });
      const answer = await page.goto(`${base()}/`);
      assert.equal(page.url(), `${base()}/winux/`);
      assert.equal(answer?.status(), 200);
      // A secure context: what noVNC (the in-browser desktop) requires.
      assert.deepEqual(await page.evaluate(() => [location.protocol, window.isSecureContext]), ['https:', true]);
      await page.locator('#launch').waitFor();
      const first = responses.find((r) => r.url === `${base()}/`);
      assert.match(first?.hsts ?? '', /^max-age=31536000$/);
      assert.match(responses.find((r) => r.url === `${base()}/winux/`)?.hsts ?? '', /^max-age=31536000$/);
      // Winux saw the original scheme (X-Forwarded-Proto): its visitor cookie is Secure.
      const cookie = (await context.cookies()).find((c) => c.name === 'winux_visitor');
      assert.equal(cookie?.secure, true);
    });

    test('Chromium trusts only the served certificates, not any certificate', async () => {
      const other = await startStrangerHttps();
      const strange = await context.newPage();
      try {
        await assert.rejects(strange.goto(`https://${domain}:${other.port}/`), /ERR_CERT_AUTHORITY_INVALID/);
        assert.equal(other.requests(), 0);
      } finally {
        await strange.close();
        await other.close();
      }
    });

    test('a click launches a session; its event stream drives the page to the credentials', async () => {
      stepper.holdAt('starting');
      await page.click('#launch');
      // Held in "starting": only a pushed event (or the slower fallback poll) can show this step.
      await until(async () => (await page.locator('#steps li.current').innerText()) === 'Démarrage du conteneur', 'the "starting" step');
      // While the creation is held, the stream cannot end: events here came through unbuffered.
      const sse = () => page.evaluate(() => (window as unknown as { __sse: string[] }).__sse);
      await until(async () => (await sse()).includes('creating'), 'a session event in the page while the creation is held');
      stepper.release();
      await page.locator('#view-ready').waitFor();
      const received = await sse();
      assert.ok(received.includes('creating'), `events the page received: ${received.join(', ')}`);
      assert.ok(received.includes('ready'), `events the page received: ${received.join(', ')}`);

      const [session] = (await winux.service.list({ statuses: ['ready'] })).filter((s) => !s.pooled);
      assert.ok(session);
      assert.equal(await page.locator('#v-username').innerText(), session.username);
      assert.equal(await page.locator('#v-password').innerText(), session.password);
      // The Host header came through: the RDP host shown is the public name.
      assert.equal(await page.locator('#v-host').innerText(), domain);
    });

    test('the page calls the API through the proxy', async () => {
      const answers = await page.evaluate(async () => {
        const health = await fetch('/api/winux/health');
        const mine = await fetch('/api/winux/sessions');
        return { health: health.status, healthBody: await health.json(), mine: await mine.json() };
      });
      assert.equal(answers.health, 200);
      assert.equal(answers.healthBody.status, 'ok');
      assert.equal(answers.mine.sessions.length, 1);
      assert.equal(answers.mine.sessions[0].status, 'ready');
    });

    test('the event stream is not buffered or compressed: the first event arrives while the stream stays open', async () => {
      stepper.holdAt('cloning');
      const created = await request(proxy, 'POST', '/api/winux/sessions', { from: '127.0.0.20', body: {} });
      assert.equal(created.status, 202, created.text);
      const { session_id: id, token } = created.json;
      // A client that accepts compression, as browsers do.
      const stream = await openEvents(proxy, `/api/winux/sessions/${id}/events`, {
        from: '127.0.0.20',
        headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip, deflate, br' },
      });
      try {
        assert.equal(stream.res.statusCode, 200);
        assert.match(String(stream.res.headers['content-type']), /^text\/event-stream/);
        assert.equal(stream.res.headers['content-encoding'], undefined);
        const first = await stream.next((e) => e.status === 'creating');
        assert.equal(first.session_id, id);
        // The creation is held, so the server has not ended the stream: the event came through on its own.
        assert.equal(stream.ended(), false);
        stepper.release();
        const ready = await stream.next((e) => e.status === 'ready');
        assert.equal(ready.session_id, id);
      } finally {
        stepper.release();
        stream.close();
      }
    });

    test('a WebSocket under /api/winux/ passes through (test upstream standing in for the desktop stream)', async () => {
      const wsPage = await context.newPage();
      try {
        const origin = `https://${domain}:${echoProxy.httpsPort}`;
        await wsPage.goto(`${origin}/api/winux/ws-test`);
        const reply = await wsPage.evaluate(
          () =>
            new Promise<string>((resolve, reject) => {
              const ws = new WebSocket(`wss://${location.host}/api/winux/sessions/abc123/desktop`);
              ws.onopen = () => ws.send('hello through the proxy');
              ws.onmessage = (e) => {
                resolve(String(e.data));
                ws.close();
              };
              ws.onerror = () => reject(new Error('websocket error'));
              ws.onclose = (e) => reject(new Error(`closed before a reply (${e.code})`));
            }),
        );
        assert.equal(reply, 'echo:hello through the proxy');
        const up = echo.upgrades.at(-1);
        assert.ok(up);
        assert.equal(up.url, '/api/winux/sessions/abc123/desktop');
        assert.equal(up.headers.upgrade?.toLowerCase(), 'websocket');
        assert.match(String(up.headers.connection), /upgrade/i);
        assert.equal(up.headers['x-forwarded-proto'], 'https');
        assert.equal(up.headers['x-forwarded-for'], '127.0.0.1');
        assert.equal(up.socketAddress, '127.0.0.1');
      } finally {
        await wsPage.close();
      }
    });

    test("Winux sees the client address the proxy reports, and only the proxy's", async () => {
      stepper.release();
      const ipsFor = (path: string) => logLines.filter((l) => l.msg === 'request' && l.url === path && l.method === 'POST').map((l) => l.ip);
      const post = (from: string, headers: Record<string, string> = {}) => request(proxy, 'POST', '/api/winux/sessions', { from, body: {}, headers });

      // Through the proxy from 127.0.0.5: its budget of one creation, then 429.
      const a = await post('127.0.0.5');
      assert.equal(a.status, 202, a.text);
      const b = await post('127.0.0.5');
      assert.equal(b.status, 429, b.text);
      assert.equal(b.json.error, 'rate_limited');
      // Another address with a forged X-Forwarded-For naming 127.0.0.5: the proxy
      // reports the real one, so this is a fresh budget.
      const c = await post('127.0.0.6', { 'x-forwarded-for': '127.0.0.5' });
      assert.equal(c.status, 202, c.text);
      const seen = ipsFor('/api/winux/sessions');
      assert.deepEqual(seen.slice(-3), ['127.0.0.5', '127.0.0.5', '127.0.0.6']);

      // Straight to Winux from an address that is not a trusted proxy: its
      // X-Forwarded-For is ignored, whatever it says.
      const d = await direct(`${winux.url}/api/winux/sessions`, 'POST', { from: '127.0.0.9', body: {}, headers: { 'x-forwarded-for': '127.0.0.7' } });
      assert.equal(d.status, 202, d.text);
      const e = await direct(`${winux.url}/api/winux/sessions`, 'POST', { from: '127.0.0.9', body: {}, headers: { 'x-forwarded-for': '127.0.0.8' } });
      assert.equal(e.status, 429, e.text);
      assert.deepEqual(ipsFor('/api/winux/sessions').slice(-2), ['127.0.0.9', '127.0.0.9']);
    });

    test('plain HTTP only redirects to HTTPS', async () => {
      const plain = await direct(`http://127.0.0.1:${proxy.httpPort}/winux/`, 'GET', { headers: { host: domain } });
      assert.ok([301, 302, 307, 308].includes(plain.status), `status ${plain.status}`);
      assert.match(String(plain.headers.location), new RegExp(`^https://${domain.replace('.', '\\.')}(:\\d+)?/winux/$`));
      assert.equal(plain.headers['set-cookie'], undefined);
    });

    test('nothing outside /winux and /api/winux reaches Winux', async () => {
      const before = logLines.length;
      const other = await request(proxy, 'GET', '/admin');
      assert.equal(other.status, 404);
      const lookalike = await request(proxy, 'GET', '/winuxx');
      assert.equal(lookalike.status, 404);
      assert.equal(logLines.slice(before).filter((l) => l.msg === 'request').length, 0);
    });
  });
}
