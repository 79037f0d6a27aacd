// Fuzzing: thousands of generated hostile requests (odd methods, traversal, SQL
// and unicode in paths, forged tokens, wrong content types, malformed and huge
// bodies, absurd numbers, prototype-pollution keys, raw malformed HTTP) against a
// running server. Never a 5xx, never a stack trace or a password in an answer,
// the server stays healthy, and the sessions table is byte for byte unchanged.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import fc from 'fast-check';
import { recordFigures } from './support/drill.ts';
import { startTestServer, waitFor, type TestServer } from '../support/server.ts';

const api = '/api/winux';
const runs = Number(process.env.HARDENING_FUZZ_RUNS ?? 4000);
const rawRuns = Math.ceil(runs / 5);
const ownerRuns = Math.ceil(runs / 5);
const seed = Number(process.env.DRILL_SEED ?? Date.now() % 1_000_000);

let s: TestServer;
let owner: { id: string; token: string; password: string };
let other: { id: string; password: string };
let snapshot: string;
let port: number;
let sent = 0;
/** Requests the server answered by closing the connection (its parser refused them): allowed, counted. */
let closed = 0;
const statusCounts: Record<string, number> = {};
const count = (status: number | string) => {
  statusCounts[status] = (statusCounts[status] ?? 0) + 1;
};

function sessionsTable(): string {
  const db = new SQLite(path.join(s.dataDir, 'winux.db'), { readonly: true });
  try {
    return JSON.stringify(db.prepare('SELECT * FROM sessions ORDER BY id').all());
  } finally {
    db.close();
  }
}

before(async () => {
  // Every request counts as the same visitor (X-Forwarded-For is not believed from
  // loopback here), who already has a session: no fuzzed POST can create another.
  s = await startTestServer({ env: { WINUX_TRUSTED_PROXIES: '10.255.255.1', WINUX_SESSIONS_PER_VISITOR: '1', WINUX_CREATE_RATE_PER_MINUTE: '0' } });
  port = Number(new URL(s.url).port);
  const mine = await s.request('POST', `${api}/sessions`);
  owner = { id: mine.body.session_id, token: mine.body.token, password: mine.body.password };
  const theirs = await s.service.create({ visitor: '192.0.2.1' });
  other = { id: theirs.session.id, password: theirs.session.password };
  await waitFor(async () => (await s.service.list({ statuses: ['ready'] })).length === 2);
  await s.service.idle();
  snapshot = sessionsTable();
});
after(async () => {
  await s?.close();
});

interface Answer {
  status: number;
  body: string;
}

function send(method: string, urlPath: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  sent++;
  return new Promise((resolve, reject) => {
    // A fresh connection each time: a refused message must not poison the next request's connection.
    if (body) headers = { ...headers, 'content-length': String(body.length) };
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${urlPath.slice(0, 80)} within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** What must hold for every answer, whatever was asked. */
function judge(what: string, a: Answer): void {
  count(a.status);
  assert.ok(a.status >= 100 && a.status < 500, `${what} → ${a.status} ${a.body.slice(0, 200)}`);
  assert.ok(!/\bat .+\.(ts|js):\d+/.test(a.body), `${what}: stack trace in ${a.body.slice(0, 200)}`);
  assert.ok(!a.body.includes(other.password), `${what}: someone's password leaked`);
  if (a.status >= 400 && a.body.startsWith('{')) {
    const parsed = JSON.parse(a.body);
    assert.equal(typeof parsed.error, 'string', `${what}: error code`);
    assert.equal(typeof parsed.message, 'string', `${what}: message`);
  }
}

// ---- generators -------------------------------------------------------------

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const weirdText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom(
    '..',
    '../..',
    '..%2f..%2fetc%2fpasswd',
    '%2e%2e%2f%2e%2e%2f',
    "' OR 1=1--",
    '"; DROP TABLE sessions; --',
    '%00',
    '\u0000',
    '%ff%fe',
    '😀',
    'ｗｉｎｕｘ',
    'winux-ＡＡＡＡ',
    '${jndi:ldap://x}',
    '<script>alert(1)</script>',
    '{{7*7}}',
    '%',
    '%%',
    '%zz',
    '?',
    '#',
    ';',
    '\\..\\..\\windows',
    'A'.repeat(3000),
  ),
);
const idLike = fc.oneof(
  fc.stringMatching(/^winux-[a-z2-7]{12}$/),
  fc.constantFrom('winux-AAAAAAAAAAAA', 'winux-', 'winux-aaaaaaaaaaaa0', 'WINUX-aaaaaaaaaaaa'),
  fc.constantFrom('{owner}', '{other}'),
);
const segment = fc.oneof(
  idLike,
  weirdText.map((t) => encodeURIComponent(t)),
  weirdText.map((t) => encodeURI(t)),
);
const routes = [
  '/sessions',
  '/sessions/{}',
  '/sessions/{}/extend',
  '/sessions/{}/rdp',
  '/sessions/{}/events',
  '/cleanup',
  '/health',
  '/info',
  '/openapi.json',
  '/docs/{}',
  '/{}',
];
const pathArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...routes), segment).map(([r, seg]) => api + r.replace('{}', seg)) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom('/winux/', '/', '/winux/../', '/winux/%2e%2e/', '//', '/api/winux//sessions/'), segment).map(([p, seg]) => p + seg),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      `${api}/sessions/{id}`,
      '/winux/../../../../etc/passwd',
      '/winux/%2e%2e/%2e%2e/etc/passwd',
      '/winux/..%5c..%5cetc%5cpasswd',
      '/winux/index.html%00.js',
      '*',
    ),
  },
);
const queryArb = fc.option(
  fc
    .array(
      fc.tuple(
        fc.constantFrom('limit', 'status', 'pool', '__proto__', 'constructor', 'status[]', 'limit[0]', 'x'),
        fc.oneof(fc.constantFrom('-1', '0', '1e309', 'NaN', '0x10', '99999999999999999999', 'all', 'ready', 'true', '', '[]', '{}'), printable),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`),
  { nil: '' },
);

const absurdNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(-1, 0, 0.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, 2 ** 53),
  fc.constantFrom('1e400', '-0', '30', '0x1e', 'Infinity', '9'.repeat(400)).map((raw) => ({ raw })),
);
const jsonField = (name: string) =>
  fc
    .oneof(absurdNumber, fc.string({ maxLength: 20 }), fc.constant(null), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }), fc.object({ maxDepth: 1 }))
    .map((v) => (typeof v === 'object' && v !== null && 'raw' in v ? `{"${name}": ${String((v as { raw: string }).raw)}}` : JSON.stringify({ [name]: v })));
const bodyArb: fc.Arbitrary<Buffer | undefined> = fc.option(
  fc
    .oneof(
      jsonField('duration_minutes'),
      jsonField('minutes'),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 100 }),
      fc.constantFrom(
        '{"__proto__": {"admin": true}}',
        '{"constructor": {"prototype": {"admin": true}}}',
        '{"duration_minutes": 5, "duration_minutes": 6}',
        '{',
        '{"a":',
        '[]',
        'null',
        '"x"',
        '\ufeff{}',
        '{"minutes": 1}'.repeat(2),
        '['.repeat(5000) + ']'.repeat(5000),
        `{"x": "${'y'.repeat(70 * 1024)}"}`,
      ),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
    )
    .map((text) => Buffer.from(text, 'latin1')),
  { nil: undefined },
);

const tokenArb = fc.oneof(
  printable,
  fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', 'bearer  x', 'Bearer null', 'Bearer undefined'),
  fc.tuple(fc.constantFrom('{owner}', '{other}', 'winux-aaaaaaaaaaaa'), printable).map(([id, junk]) => `Bearer ${id}.${junk}`),
  fc.nat({ max: 40 }).map((i) => `Bearer {admin-mutated-${i}}`),
);
const headersArb = fc.record(
  {
    authorization: tokenArb,
    'content-type': fc.oneof(
      { weight: 3, arbitrary: fc.constant('application/json') },
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-16',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data',
        'multipart/form-data; boundary=x',
        'application/xml',
        '*/*',
        'application/json; charset=bogus',
        'APPLICATION/JSON',
      ),
      printable,
    ),
    cookie: fc.oneof(
      printable.map((v) => `winux_token=${v}`),
      fc.constant('winux_token={other}.x; winux_token=y'),
      printable,
    ),
    'x-forwarded-for': fc.oneof(printable, fc.constantFrom('127.0.0.1', '::1', '10.0.0.1, 127.0.0.1', 'unknown', '1.1.1.1,'.repeat(200))),
    'x-requested-with': fc.constantFrom('winux', 'XMLHttpRequest', ''),
    accept: fc.constantFrom('application/json', 'text/html', '*/*', 'application/x-rdp'),
    range: fc.constantFrom('bytes=0-0', 'bytes=-1', 'bytes=99999999-', 'bytes=a-b'),
    'if-none-match': printable,
  },
  { requiredKeys: [] },
);

function fill(text: string): string {
  return text
    .replaceAll('{owner}', owner.id)
    .replaceAll('{other}', other.id)
    .replaceAll('{id}', other.id)
    .replace(/\{admin-mutated-(\d+)\}/, (_, i) => {
      const t = s.adminToken;
      const at = Number(i) % t.length;
      return t.slice(0, at) + (t[at] === 'A' ? 'B' : 'A') + t.slice(at + 1);
    });
}

// ---- properties ---------------------------------------------------------------

describe('fuzzing', () => {
  test(`${runs} generated hostile requests: no 5xx, nothing leaks, nothing changes`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'TRACE', 'SEARCH'),
        pathArb,
        queryArb,
        headersArb,
        bodyArb,
        async (method, p, query, headers, body) => {
          const filled = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, fill(v)]));
          const urlPath = fill(p) + query;
          let answer: Answer;
          try {
            answer = await send(method, urlPath, filled, body);
          } catch (error) {
            // The client itself refuses some inputs (invalid characters): not sent, not judged.
            const code = (error as { code?: string }).code ?? '';
            if (code.startsWith('ERR_INVALID') || code === 'ERR_UNESCAPED_CHARACTERS') {
              sent--;
              return;
            }
            // The server's parser refused the message and closed the connection (e.g. a body on HEAD): no 5xx.
            if (code.startsWith('HPE_') || code === 'ECONNRESET') {
              closed++;
              return;
            }
            throw error;
          }
          judge(`${method} ${urlPath.slice(0, 120)}`, answer);
        },
      ),
      { numRuns: runs, seed, endOnFailure: true },
    );
  });

  test(`${ownerRuns} malformed requests carrying the owner's real token change nothing`, async () => {
    const invalidExtend = fc.oneof(
      jsonField('minutes').filter((b) => {
        try {
          const m = JSON.parse(b).minutes;
          return !(Number.isInteger(m) && m >= 1);
        } catch {
          return true;
        }
      }),
      fc.constantFrom('{"minutes": 5, "extra": 1}', '{"duration_minutes": 5}', '[]', '"5"', '5', '{', 'null'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.tuple(fc.constant('POST'), fc.constant(`${api}/sessions/{owner}/extend`), invalidExtend),
          fc.tuple(
            fc.constantFrom('PUT', 'PATCH', 'GET', 'HEAD', 'OPTIONS'),
            fc.constantFrom(`${api}/sessions/{owner}`, `${api}/sessions/{owner}/rdp`, `${api}/sessions`),
            fc.option(fc.string(), { nil: undefined }),
          ),
          fc.tuple(
            fc.constantFrom('POST', 'DELETE'),
            fc.constantFrom(`${api}/sessions/{other}`, `${api}/sessions/{other}/extend`, `${api}/cleanup`),
            fc.constant('{}'),
          ),
          fc.tuple(fc.constant('POST'), fc.constant(`${api}/sessions`), fc.oneof(fc.constant('{}'), jsonField('duration_minutes'))),
        ),
        fc.boolean(),
        async ([method, p, body], viaCookie) => {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          // The cookie without the page's header must not allow a change either (CSRF).
          if (viaCookie) headers.cookie = `winux_token=${owner.token}`;
          else headers.authorization = `Bearer ${owner.token}`;
          const urlPath = fill(p);
          const answer = await send(method, urlPath, headers, body === undefined ? undefined : Buffer.from(body));
          judge(`owner ${method} ${urlPath}`, answer);
          if (answer.status === 200 && method === 'POST') assert.fail(`owner ${method} ${urlPath} ${body} succeeded: ${answer.body.slice(0, 200)}`);
        },
      ),
      { numRuns: ownerRuns, seed, endOnFailure: true },
    );
  });

  test(`${rawRuns} raw malformed HTTP messages: the parser answers 4xx or closes, never 5xx`, async () => {
    const line = fc.oneof(
      fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'G\u0000T', 'GET GET', '', 'DELETE'),
          fc.oneof(pathArb, printable),
          fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'HTTPS/1.1', '', 'HTTP/1.1 extra'),
        )
        .map(([m, p, v]) => `${m} ${fill(p)} ${v}`),
      printable,
    );
    const headerLines = fc.array(
      fc.oneof(
        fc.constantFrom(
          'Host: x',
          'Host:',
          'Content-Length: -1',
          'Content-Length: 1e3',
          'Content-Length: 5, 6',
          'Transfer-Encoding: chunked',
          'Transfer-Encoding: gzip, chunked',
          'Content-Type: application/json',
          'X-Injected: a\rb',
          'Bad Header: x',
          ': novalue',
          `X-Long: ${'a'.repeat(20_000)}`,
          'Authorization: Bearer \u00ff\u00fe',
          'Expect: 100-continue',
        ),
        printable.map((t) => `X-F: ${t}`),
      ),
      { maxLength: 5 },
    );
    const tail = fc.constantFrom('', '{}', '0\r\n\r\n', 'zz\r\nxx\r\n0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await fc.assert(
      fc.asyncProperty(line, headerLines, tail, async (l, hs, t) => {
        sent++;
        const raw = `${l}\r\n${hs.join('\r\n')}${hs.length ? '\r\n' : ''}\r\n${t}`;
        const answer = await new Promise<string>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.from(raw, 'latin1')));
          let data = '';
          // An incomplete message may legitimately get no answer: stop waiting after a moment.
          const timer = setTimeout(() => {
            socket.destroy();
            resolve(data);
          }, 300);
          socket.on('data', (d) => {
            data += d.toString('latin1');
            if (/\r\n\r\n/.test(data)) {
              clearTimeout(timer);
              socket.destroy();
              resolve(data);
            }
          });
          socket.on('close', () => {
            clearTimeout(timer);
            resolve(data);
          });
          socket.on('error', () => {
            /* reset by the server: an answer too */
          });
        });
        const statuses = [...answer.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
        count(statuses.length ? `raw ${statuses[0]}` : 'raw closed');
        for (const status of statuses) assert.ok(status < 500, `${JSON.stringify(raw.slice(0, 120))} → ${status}`);
      }),
      { numRuns: rawRuns, seed, endOnFailure: true },
    );
  });

  test('afterwards: healthy, the owner still served, the sessions table unchanged', async () => {
    const health = await s.request('GET', `${api}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const mine = await s.request('GET', `${api}/sessions/${owner.id}`, { token: owner.token });
    assert.equal(mine.status, 200);
    assert.equal(mine.body.password, owner.password);
    await s.service.idle();
    assert.equal(sessionsTable(), snapshot, 'the store is unchanged');
    recordFigures('fuzz', { seed, hostile_requests: sent, closed_by_parser: closed, server_errors: 0, store_changed: 0 });
    console.log(`# fuzzing: ${sent} hostile requests (${closed} refused by the HTTP parser), 0 server errors, store unchanged (seed ${seed})`);
    console.log(`# answers: ${JSON.stringify(statusCounts)}`);
  });
});
