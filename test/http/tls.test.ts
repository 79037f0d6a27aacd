// Winux's own HTTPS, for real: certificates made with openssl at test time (a
// throwaway CA and its leaves for localhost/127.0.0.1, from test/support), a real
// server from startServer, clients that trust only that CA. Bad files stop start-up
// naming the variable and never showing key material; renewed files reach new
// connections without a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createLogger, silentLogger, type Logger } from '../../src/logger.ts';
import { readTlsPair, watchTlsFiles } from '../../src/http/tls.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { makeTestCa } from '../support/self-signed-cert.ts';
import { tempDir, waitFor } from '../support/server.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const execFileAsync = promisify(execFile);

/** Lines of base64 from a PEM file: none of them may ever appear in a message or a log. */
function secretLines(pem: string): string[] {
  return pem
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .map((l) => l.slice(0, 24))
    .filter((l) => l.length >= 16);
}

function capturingLogger(): { logger: Logger; lines: Record<string, any>[]; text: () => string } {
  const lines: Record<string, any>[] = [];
  const raw: string[] = [];
  const logger = createLogger('debug', {
    write: (s: string) => {
      raw.push(s);
      lines.push(JSON.parse(s));
    },
  });
  return { logger, lines, text: () => raw.join('') };
}

async function start(
  env: Record<string, string>,
  options: { logger?: Logger; tlsCheckIntervalMs?: number } = {},
): Promise<RunningServer & { dataDir: string }> {
  const dataDir = tempDir('winux-tls-');
  const config = loadConfig({ WINUX_DATA_DIR: dataDir, WINUX_HOST: '127.0.0.1', WINUX_PORT: '0', WINUX_CREATE_RATE_PER_MINUTE: '0', ...env });
  const server = await startServer({
    config,
    provider: new FakeProvider(),
    logger: options.logger ?? silentLogger,
    reaper: false,
    tlsCheckIntervalMs: options.tlsCheckIntervalMs,
  });
  return { ...server, dataDir };
}

/** Fails start-up with these files and returns the message (checking it names nothing secret and nothing started). */
async function startFails(env: Record<string, string>, secrets: string[]): Promise<string> {
  const dataDir = tempDir('winux-tls-bad-');
  let message = '';
  await assert.rejects(
    async () => {
      const config = loadConfig({ WINUX_DATA_DIR: path.join(dataDir, 'data'), WINUX_HOST: '127.0.0.1', WINUX_PORT: '0', ...env });
      await startServer({ config, provider: new FakeProvider(), logger: silentLogger, reaper: false });
    },
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `a ConfigError, got ${String(error)}`);
      message = error.message;
      return true;
    },
  );
  for (const secret of secrets) assert.ok(!message.includes(secret), `the message shows file content: ${message}`);
  assert.ok(!fs.existsSync(path.join(dataDir, 'data')), 'TLS is checked before the data dir or the database is touched');
  return message;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  fingerprint?: string;
}

/** One request on a fresh connection (agent: false), trusting only `ca`. */
function request(
  url: string,
  options: { ca?: string; method?: string; headers?: Record<string, string>; body?: string; rawPath?: string } = {},
): Promise<Answer> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      target,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
        ...(options.rawPath ? { path: options.rawPath } : {}),
        ...(options.ca ? { ca: options.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        const fingerprint = (res.socket as tls.TLSSocket).getPeerCertificate?.()?.fingerprint256;
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), fingerprint }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The certificate a new TLS connection is given. */
function peerFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}

/** Replaces `target` the way certbot and Caddy do: write a new file beside it, then rename over it. */
function replaceByRename(target: string, content: string): void {
  const next = `${target}.new-${process.hrtime.bigint()}`;
  fs.writeFileSync(next, content, { mode: 0o600 });
  fs.renameSync(next, target);
}

describe('Winux serves HTTPS itself', () => {
  const root = tempDir('winux-tls-ca-');
  const ca = makeTestCa(path.join(root, 'ca'));
  const good = ca.issue('good');
  let server: RunningServer & { dataDir: string };
  before(async () => {
    server = await start({ WINUX_TLS_CERT: good.certFile, WINUX_TLS_KEY: good.keyFile, WINUX_HTTP_REDIRECT_PORT: '0' });
  });
  after(async () => {
    await server?.close();
  });

  test('WINUX_PORT speaks HTTPS only, with the configured certificate and HSTS', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await request(`${server.url}/api/winux/health`, { ca: ca.caPem });
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).status, 'ok');
    assert.equal(health.fingerprint, good.fingerprint);
    assert.equal(health.headers['strict-transport-security'], 'max-age=31536000');
    const page = await request(`${server.url}/winux/`, { ca: ca.caPem });
    assert.equal(page.status, 200);
    assert.equal(page.headers['strict-transport-security'], 'max-age=31536000', 'the page too');
    const cookie = String(page.headers['set-cookie']);
    assert.match(cookie, /winux_visitor=/);
    assert.match(cookie, /; Secure/, 'cookies are Secure over HTTPS');
    // Plain HTTP on the HTTPS port gets no answer at all: nothing crosses in clear.
    await assert.rejects(request(`${server.url.replace('https:', 'http:')}/api/winux/health`));
  });

  test('the CLI reaches its own server over HTTPS, pinned to WINUX_TLS_CERT, and refuses another certificate', async () => {
    const port = new URL(server.url).port;
    const cli = (certFile: string) =>
      execFileAsync(process.execPath, [path.join(repo, 'bin', 'winux.js'), 'cleanup'], {
        env: {
          ...process.env,
          WINUX_DATA_DIR: server.dataDir,
          WINUX_HOST: '127.0.0.1',
          WINUX_PORT: port,
          WINUX_TLS_CERT: certFile,
          WINUX_TLS_KEY: good.keyFile,
          WINUX_URL: '',
        },
      });
    // An admin call: the token from the data dir went over the pinned HTTPS connection.
    assert.match((await cli(good.certFile)).stdout, /Ended 0 expired session\(s\)\./);
    const other = ca.issue('other');
    await assert.rejects(cli(other.certFile), (e: { stderr: string }) =>
      /answers, but the server's certificate is not the one in WINUX_TLS_CERT/.test(e.stderr),
    );
  });

  test('the redirect port answers only with a 308 to the same path on HTTPS', async () => {
    assert.ok(server.redirectUrl, 'WINUX_HTTP_REDIRECT_PORT listens');
    const httpsPort = new URL(server.url).port;
    const redirectPort = new URL(server.redirectUrl!).port;
    const page = await request(`${server.redirectUrl}/winux/?lang=fr`, { headers: { host: `winux.example:${redirectPort}` } });
    assert.equal(page.status, 308);
    assert.equal(page.headers.location, `https://winux.example:${httpsPort}/winux/?lang=fr`, 'Host-derived name, the HTTPS port');
    assert.equal(page.headers['set-cookie'], undefined, 'no cookie over plain HTTP');
    assert.equal(page.headers['strict-transport-security'], undefined, 'HSTS means nothing over HTTP');
    const api = await request(`${server.redirectUrl}/api/winux/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(api.status, 308, 'the API is not served over plain HTTP either (308 keeps the method)');
    assert.equal(api.headers.location, `https://127.0.0.1:${httpsPort}/api/winux/sessions`);
    assert.ok(!api.body.includes('token'), 'no session was created');
    assert.equal((await server.store.list({})).length, 0);
    const v6 = await request(`${server.redirectUrl}/`, { headers: { host: '[::1]:80' } });
    assert.equal(v6.headers.location, `https://[::1]:${httpsPort}/`);
    const bad = await request(`${server.redirectUrl}/`, { headers: { host: 'evil.example/x?' } });
    assert.equal(bad.status, 400, 'a Host that is not a host name is not echoed into a Location');
    // Following the redirect with the CA trusted reaches the real thing.
    const followed = await request(String(api.headers.location).replace('/sessions', '/health'), { ca: ca.caPem });
    assert.equal(followed.status, 200);
  });

  test('WINUX_PUBLIC_HOST names the redirect target; WINUX_ACME_WEBROOT serves ACME challenges and nothing else', async () => {
    const webroot = path.join(root, 'acme');
    fs.mkdirSync(path.join(webroot, '.well-known', 'acme-challenge'), { recursive: true });
    fs.writeFileSync(path.join(webroot, '.well-known', 'acme-challenge', 'Tok3n_-x'), 'Tok3n_-x.thumbprint');
    fs.writeFileSync(path.join(webroot, 'secret.txt'), 'not for the web');
    const s = await start({
      WINUX_TLS_CERT: good.certFile,
      WINUX_TLS_KEY: good.keyFile,
      WINUX_HTTP_REDIRECT_PORT: '0',
      WINUX_PUBLIC_HOST: 'winux.school.example',
      WINUX_ACME_WEBROOT: webroot,
    });
    try {
      const r = await request(`${s.redirectUrl}/winux/`, { headers: { host: 'anything.example' } });
      assert.equal(r.status, 308);
      assert.equal(r.headers.location, `https://winux.school.example:${new URL(s.url).port}/winux/`);
      const challenge = await request(`${s.redirectUrl}/.well-known/acme-challenge/Tok3n_-x`);
      assert.equal(challenge.status, 200);
      assert.equal(challenge.body, 'Tok3n_-x.thumbprint');
      assert.equal((await request(`${s.redirectUrl}/.well-known/acme-challenge/unknown`)).status, 404);
      const traversal = await request(`${s.redirectUrl}/`, { rawPath: '/.well-known/acme-challenge/../../secret.txt' });
      assert.equal(traversal.status, 308, 'a path that is not a token is only redirected');
      assert.match(String(traversal.headers.location), /acme-challenge\/\.\.\/\.\.\/secret\.txt$/, 'the raw path was sent');
      assert.ok(!traversal.body.includes('not for the web'));
      assert.equal((await request(`${s.redirectUrl}/.well-known/acme-challenge/Tok3n_-x`, { method: 'POST' })).status, 308);
    } finally {
      await s.close();
    }
  });

  test('a redirect port already in use stops start-up naming WINUX_HTTP_REDIRECT_PORT', async () => {
    const taken = http.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as { port: number }).port);
    try {
      await assert.rejects(
        start({ WINUX_TLS_CERT: good.certFile, WINUX_TLS_KEY: good.keyFile, WINUX_HTTP_REDIRECT_PORT: port }),
        new RegExp(`WINUX_HTTP_REDIRECT_PORT: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`),
      );
    } finally {
      taken.close();
    }
  });

  test('without TLS: no HSTS and no Secure cookie, unless a trusted proxy says the browser is on HTTPS', async () => {
    const s = await start({});
    try {
      assert.match(s.url, /^http:\/\//);
      assert.equal(s.redirectUrl, undefined);
      const plain = await request(`${s.url}/winux/`);
      assert.equal(plain.status, 200);
      assert.equal(plain.headers['strict-transport-security'], undefined);
      assert.doesNotMatch(String(plain.headers['set-cookie']), /Secure/);
      // 127.0.0.1 is a trusted proxy by default (WINUX_TRUSTED_PROXIES): Caddy or nginx terminating TLS.
      const proxied = await request(`${s.url}/winux/`, { headers: { 'x-forwarded-proto': 'https' } });
      assert.equal(proxied.headers['strict-transport-security'], 'max-age=31536000');
      assert.match(String(proxied.headers['set-cookie']), /; Secure/);
    } finally {
      await s.close();
    }
    const untrusted = await start({ WINUX_TRUSTED_PROXIES: '192.0.2.1' });
    try {
      const forged = await request(`${untrusted.url}/winux/`, { headers: { 'x-forwarded-proto': 'https' } });
      assert.equal(forged.headers['strict-transport-security'], undefined, 'X-Forwarded-Proto from an untrusted client is ignored');
      assert.doesNotMatch(String(forged.headers['set-cookie']), /Secure/);
    } finally {
      await untrusted.close();
    }
  });

  test('bad TLS input stops start-up with a message naming the variable, never the content', async () => {
    const other = ca.issue('other');
    const expired = ca.issue('expired', { start: '20200101000000Z', end: '20200102000000Z' });
    const bad = path.join(root, 'bad');
    fs.mkdirSync(bad);
    const notPem = path.join(bad, 'notes.txt');
    fs.writeFileSync(notPem, 'just some text\nnot a certificate\n');
    const truncatedKey = path.join(bad, 'truncated.key');
    fs.writeFileSync(truncatedKey, good.keyPem.slice(0, good.keyPem.length - 40));
    const encryptedKey = path.join(bad, 'encrypted.key');
    execFileSync('openssl', ['pkey', '-in', good.keyFile, '-out', encryptedKey, '-aes256', '-passout', 'pass:hunter2hunter2']);
    const secrets = [
      ...secretLines(good.keyPem),
      ...secretLines(other.keyPem),
      ...secretLines(expired.keyPem),
      ...secretLines(good.certPem),
      'just some text',
      'hunter2',
    ];
    const cases: [string, Record<string, string>, RegExp][] = [
      ['missing certificate file', { WINUX_TLS_CERT: path.join(bad, 'nope.crt'), WINUX_TLS_KEY: good.keyFile }, /WINUX_TLS_CERT: no file at .*nope\.crt/],
      ['missing key file', { WINUX_TLS_CERT: good.certFile, WINUX_TLS_KEY: path.join(bad, 'nope.key') }, /WINUX_TLS_KEY: no file at .*nope\.key/],
      ['a directory', { WINUX_TLS_CERT: good.certFile, WINUX_TLS_KEY: bad }, /WINUX_TLS_KEY: .*bad is a directory; expected a PEM private key file/],
      ['not PEM', { WINUX_TLS_CERT: notPem, WINUX_TLS_KEY: good.keyFile }, /WINUX_TLS_CERT: .*notes\.txt holds no PEM certificate/],
      ['key file not PEM', { WINUX_TLS_CERT: good.certFile, WINUX_TLS_KEY: notPem }, /WINUX_TLS_KEY: .*notes\.txt holds no PEM private key/],
      [
        'swapped',
        { WINUX_TLS_CERT: good.keyFile, WINUX_TLS_KEY: good.certFile },
        /WINUX_TLS_CERT: .* holds a private key, not a certificate \(are WINUX_TLS_CERT and WINUX_TLS_KEY swapped\?\)/,
      ],
      ['truncated key', { WINUX_TLS_CERT: good.certFile, WINUX_TLS_KEY: truncatedKey }, /WINUX_TLS_KEY: .*truncated\.key/],
      ['encrypted key', { WINUX_TLS_CERT: good.certFile, WINUX_TLS_KEY: encryptedKey }, /WINUX_TLS_KEY: .*encrypted\.key is protected by a passphrase/],
      [
        'key of another certificate',
        { WINUX_TLS_CERT: good.certFile, WINUX_TLS_KEY: other.keyFile },
        /WINUX_TLS_KEY: the private key in .*other\.key does not belong to the certificate in WINUX_TLS_CERT/,
      ],
      [
        'expired certificate',
        { WINUX_TLS_CERT: expired.certFile, WINUX_TLS_KEY: expired.keyFile },
        /WINUX_TLS_CERT: the certificate in .*expired\.crt \([^)]*O=expired[^)]*\) expired on 2020-01-02T00:00:00\.000Z/,
      ],
    ];
    for (const [what, env, expected] of cases) {
      const message = await startFails(env, secrets);
      assert.match(message, expected, what);
    }
  });

  test('only one of the pair, or a redirect port without TLS, is a configuration error', () => {
    for (const [env, expected] of [
      [{ WINUX_TLS_CERT: good.certFile }, /WINUX_TLS_KEY: expected the PEM private key file too/],
      [{ WINUX_TLS_KEY: good.keyFile }, /WINUX_TLS_CERT: expected the PEM certificate file too/],
      [{ WINUX_HTTP_REDIRECT_PORT: '8080' }, /WINUX_HTTP_REDIRECT_PORT: expected only with WINUX_TLS_CERT and WINUX_TLS_KEY/],
      [
        { WINUX_TLS_CERT: good.certFile, WINUX_TLS_KEY: good.keyFile, WINUX_PORT: '8443', WINUX_HTTP_REDIRECT_PORT: '8443' },
        /WINUX_HTTP_REDIRECT_PORT: expected a port other than WINUX_PORT/,
      ],
      [{ WINUX_HSTS_MAX_AGE_SECONDS: 'forever' }, /WINUX_HSTS_MAX_AGE_SECONDS/],
      [
        { WINUX_TLS_CERT: good.certFile, WINUX_TLS_KEY: good.keyFile, WINUX_ACME_WEBROOT: root },
        /WINUX_ACME_WEBROOT: expected only with WINUX_HTTP_REDIRECT_PORT/,
      ],
    ] as [Record<string, string>, RegExp][]) {
      assert.throws(
        () => loadConfig(env),
        (e: unknown) => e instanceof ConfigError && expected.test(e.message),
        JSON.stringify(Object.keys(env)),
      );
    }
  });

  test("a key the server's user cannot read is named (checked as nobody: root reads anything)", (t) => {
    if (process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0) return t.skip('needs root and setpriv to act as another user');
    const dir = path.join(root, 'unreadable');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(root, 0o755);
    fs.chmodSync(ca.dir, 0o755);
    fs.chmodSync(good.certFile, 0o644);
    const key = path.join(dir, 'locked.key');
    fs.writeFileSync(key, good.keyPem);
    fs.chmodSync(key, 0o000);
    const script = `import { readTlsPair } from ${JSON.stringify(path.join(repo, 'src/http/tls.ts'))};
      try { readTlsPair({ certFile: ${JSON.stringify(good.certFile)}, keyFile: ${JSON.stringify(key)} }); console.log('READ'); }
      catch (e) { console.log(e.name + ': ' + e.message); }`;
    const run = spawnSync(
      'setpriv',
      ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: repo, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/tmp' } },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /ConfigError: [\s\S]*WINUX_TLS_KEY: .*locked\.key cannot be read by the user running Winux \(uid 65534\): permission denied/);
    for (const secret of secretLines(good.keyPem)) assert.ok(!run.stdout.includes(secret));
  });
});

describe('renewed certificate files are picked up without a restart', () => {
  const root = tempDir('winux-tls-renew-');
  const ca = makeTestCa(path.join(root, 'ca'));
  const first = ca.issue('first');
  const second = ca.issue('second');
  const third = ca.issue('third');
  const live = path.join(root, 'live');
  fs.mkdirSync(live);
  const certFile = path.join(live, 'fullchain.pem');
  const keyFile = path.join(live, 'privkey.pem');
  fs.writeFileSync(certFile, first.certPem);
  fs.writeFileSync(keyFile, first.keyPem, { mode: 0o600 });
  const logs = capturingLogger();
  let server: RunningServer & { dataDir: string };
  let port: number;
  before(async () => {
    server = await start({ WINUX_TLS_CERT: certFile, WINUX_TLS_KEY: keyFile }, { logger: logs.logger, tlsCheckIntervalMs: 50 });
    port = Number(new URL(server.url).port);
  });
  after(async () => {
    await server?.close();
  });

  const warnings = () => logs.lines.filter((l) => l.msg?.startsWith('TLS files changed but cannot be used'));

  test('a new pair written by rename reaches new connections; open ones keep theirs', async () => {
    assert.equal(await peerFingerprint(port, ca.caPem), first.fingerprint);
    const open = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.caPem }, () => resolve(socket));
      socket.on('error', reject);
    });
    const loaded = logs.lines.find((l) => l.msg === 'TLS certificate loaded');
    assert.equal(loaded?.fingerprint256, first.fingerprint);
    // The key first, then the certificate: in between the pair does not match, and the old one stays.
    replaceByRename(keyFile, second.keyPem);
    replaceByRename(certFile, second.certPem);
    await waitFor(async () => (await peerFingerprint(port, ca.caPem)) === second.fingerprint, 15_000, 'the renewed certificate');
    const reloaded = await waitFor(() => logs.lines.find((l) => l.msg === 'TLS certificate reloaded'), 5_000, 'the reload log line');
    assert.equal(reloaded.fingerprint256, second.fingerprint);
    assert.match(reloaded.subject, /O=second/);
    assert.match(reloaded.valid_to, /^\d{4}-\d\d-\d\dT/);
    const health = await request(`${server.url}/api/winux/health`, { ca: ca.caPem });
    assert.equal(health.status, 200, 'the same server goes on serving');
    // The connection opened before the renewal was not dropped, and still has the old certificate.
    assert.equal(open.getPeerCertificate().fingerprint256, first.fingerprint);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      open.on('data', (c: Buffer) => {
        text += c.toString('latin1');
      });
      open.on('end', () => resolve(text));
      open.on('error', reject);
      open.write('GET /api/winux/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 200 /);
  });

  test('a mismatched or half-written replacement keeps the running certificate and says why', async () => {
    const before = warnings().length;
    replaceByRename(certFile, third.certPem); // third's certificate, second's key
    await waitFor(() => warnings().length > before, 15_000, 'a warning about the mismatched pair');
    assert.match(warnings().at(-1)!.problems.join('\n'), /WINUX_TLS_KEY: the private key in .*privkey\.pem does not belong to the certificate/);
    assert.equal(await peerFingerprint(port, ca.caPem), second.fingerprint, 'still the previous certificate');

    const halfway = warnings().length;
    fs.writeFileSync(keyFile, third.keyPem.slice(0, 60)); // a writer caught in the middle, in place
    await waitFor(() => warnings().length > halfway, 15_000, 'a warning about the half-written key');
    assert.equal(await peerFingerprint(port, ca.caPem), second.fingerprint, 'still the previous certificate');

    fs.writeFileSync(keyFile, third.keyPem); // the writer finishes: now the pair is whole
    await waitFor(async () => (await peerFingerprint(port, ca.caPem)) === third.fingerprint, 15_000, 'the completed pair');
    const all = logs.text();
    for (const secret of [...secretLines(first.keyPem), ...secretLines(second.keyPem), ...secretLines(third.keyPem)]) {
      assert.ok(!all.includes(secret), 'no key material in the logs');
    }
  });
});

test('a certificate nearing its end without renewal is reported once a day, by a clock driven by hand', () => {
  const root = tempDir('winux-tls-expiry-');
  const leaf = makeTestCa(path.join(root, 'ca')).issue('leaf');
  const pair = readTlsPair({ certFile: leaf.certFile, keyFile: leaf.keyFile });
  assert.match(pair.warnings.join('\n'), /WINUX_TLS_CERT: the certificate expires in \d day\(s\)/, 'a 2-day certificate is flagged at start');
  const logs = capturingLogger();
  let clock = new Date();
  const watcher = watchTlsFiles({
    files: { certFile: leaf.certFile, keyFile: leaf.keyFile },
    logger: logs.logger,
    intervalMs: 3_600_000,
    since: pair.signature,
    validTo: pair.info.valid_to,
    now: () => clock,
    apply: () => assert.fail('nothing changed'),
  });
  try {
    const reminders = () => logs.lines.filter((l) => /TLS certificate (expires soon|has expired)/.test(l.msg));
    watcher.check();
    assert.equal(reminders().length, 0, 'start-up already said it');
    clock = new Date(clock.getTime() + 86_400_000 + 1000);
    watcher.check();
    watcher.check();
    assert.equal(reminders().length, 1, 'once a day, not on every look');
    assert.equal(reminders()[0].level, 40);
    clock = new Date(new Date(pair.info.valid_to).getTime() + 86_400_000);
    watcher.check();
    assert.equal(reminders().length, 2);
    assert.equal(reminders()[1].level, 50, 'an expired certificate is an error');
  } finally {
    watcher.stop();
  }
});
