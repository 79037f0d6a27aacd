// Real Caddy and real nginx in front of a test upstream, on loopback only. Each
// config is made FROM the shipped file in deploy/ by a few exact substitutions
// (domain, ports, certificate paths, upstream; for Caddy, test-only global options),
// each of which must match, so a changed deploy/ file cannot silently be replaced
// by a copy the tests wrote themselves.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { tempDir, waitFor } from '../support/server.ts';
import { makeSelfSignedCert } from '../support/self-signed-cert.ts';

export const deployDir = path.resolve(import.meta.dirname, '..', '..', 'deploy');
/** The public name the proxies serve in tests; Chromium and Node map it to 127.0.0.1. */
export const domain = 'winux.test';

export interface Proxy {
  kind: 'caddy' | 'nginx';
  httpsPort: number;
  httpPort: number;
  /** PEM that Node clients trust for this proxy (Caddy's local root CA; nginx's test certificate). */
  ca: string;
  /** The generated config, for failure messages. */
  config: string;
  /** The proxy's own output (stderr/error log) so far. */
  log(): string;
  /**
   * nginx only: the upstream servers again (a `down` one gets no new request), applied by
   * a graceful reload; resolves once every worker of the old configuration has exited.
   */
  setUpstream?(servers: { address: string; down?: boolean }[]): Promise<void>;
  stop(): Promise<void>;
}

/** A port free on 127.0.0.1 right now (the proxy binds it a moment later). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Replaces `from` with `to`, and fails if the shipped file no longer contains `from`. */
function substitute(text: string, from: string, to: string, file: string): string {
  if (!text.includes(from)) throw new Error(`${file} no longer contains ${JSON.stringify(from)}: update test/deploy/proxies.ts with it`);
  return text.split(from).join(to);
}

/** Spawns a proxy process whose output is kept; stop() ends it (TERM, then KILL) and waits for its exit. */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => {
    output += d;
  });
  child.stderr!.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.once('error', (e) => {
    output += `\n${String(e)}`;
  });
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Waits until the proxy answers over TLS (any HTTP status); fails early if it exited. */
async function waitUntilServing(p: Proxy, child: ChildProcess): Promise<void> {
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${p.kind} exited (${child.exitCode}):\n${p.log()}\n--- config ---\n${p.config}`);
      try {
        const r = await request(p, 'GET', '/api/winux/health');
        return r.status > 0;
      } catch {
        return false;
      }
    },
    20_000,
    `${p.kind} to serve HTTPS`,
  );
}

/**
 * Caddy from deploy/Caddyfile. The domain and upstream go in through the file's own
 * environment placeholders; the only text added is a block of test options at the
 * top of its global options block: internal CA instead of ACME (`local_certs`, the
 * global form of `tls internal`), no system trust store, no admin API, storage and
 * ports in the test's own places, loopback only.
 */
export async function startCaddy(upstream: string): Promise<Proxy> {
  const dir = tempDir('winux-caddy-');
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const shipped = fs.readFileSync(path.join(deployDir, 'Caddyfile'), 'utf8');
  const testOptions = [
    'admin off',
    'skip_install_trust',
    'local_certs',
    'default_bind 127.0.0.1',
    `http_port ${httpPort}`,
    `https_port ${httpsPort}`,
    `storage file_system ${path.join(dir, 'storage')}`,
  ]
    .map((line) => `\t${line}\n`)
    .join('');
  const config = substitute(shipped, '\n{\n', `\n{\n${testOptions}`, 'deploy/Caddyfile');
  const file = path.join(dir, 'Caddyfile');
  fs.writeFileSync(file, config);
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_DATA_HOME: path.join(dir, 'data'),
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    WINUX_DOMAIN: domain,
    WINUX_UPSTREAM: upstream,
  };
  const proc = run('caddy', ['run', '--config', file, '--adapter', 'caddyfile'], { cwd: dir, env });
  const rootCa = path.join(dir, 'storage', 'pki', 'authorities', 'local', 'root.crt');
  const p: Proxy = {
    kind: 'caddy',
    httpPort,
    httpsPort,
    config,
    get ca() {
      return fs.readFileSync(rootCa, 'utf8');
    },
    log: proc.output,
    async stop() {
      await proc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(
      () => {
        if (proc.child.exitCode !== null) throw new Error(`caddy exited (${proc.child.exitCode}):\n${proc.output()}\n--- config ---\n${config}`);
        return fs.existsSync(rootCa) && /certificate obtained successfully/.test(proc.output());
      },
      20_000,
      'caddy to issue its certificate',
    );
    await waitUntilServing(p, proc.child);
  } catch (e) {
    await p.stop();
    throw e;
  }
  return p;
}

/**
 * nginx from deploy/nginx.conf (a site file, as in sites-available), included by
 * Debian's /etc/nginx/nginx.conf with only its pid, log and temp paths moved to a
 * temp dir. Its own master, in the foreground, with that dir as its prefix.
 */
export async function startNginx(upstream: string | string[]): Promise<Proxy> {
  // Several replicas: one `server` line each in the upstream block (nginx balances round-robin).
  const serverLines = (list: { address: string; down?: boolean }[]) => list.map((u) => `server ${u.address}${u.down ? ' down' : ''};`).join('\n    ');
  const servers = serverLines((Array.isArray(upstream) ? upstream : [upstream]).map((address) => ({ address })));
  const dir = tempDir('winux-nginx-');
  // Workers run as an unprivileged user and must reach the prefix.
  fs.chmodSync(dir, 0o755);
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  // A test certificate for the name (nginx's master reads it as root, before its workers start).
  const made = makeSelfSignedCert(domain, `DNS:${domain}`);
  const { certFile: cert } = made;
  const key = path.join(made.dir, 'key.pem');

  const file = 'deploy/nginx.conf';
  let site = fs.readFileSync(path.join(deployDir, 'nginx.conf'), 'utf8');
  site = substitute(site, '/etc/letsencrypt/live/winux.example.org/fullchain.pem', cert, file);
  site = substitute(site, '/etc/letsencrypt/live/winux.example.org/privkey.pem', key, file);
  site = substitute(site, 'winux.example.org', domain, file);
  site = substitute(site, 'listen 80;', `listen 127.0.0.1:${httpPort};`, file);
  site = substitute(site, 'listen [::]:80;', `listen [::1]:${httpPort};`, file);
  site = substitute(site, 'listen 443 ', `listen 127.0.0.1:${httpsPort} `, file);
  site = substitute(site, 'listen [::]:443 ', `listen [::1]:${httpsPort} `, file);
  site = substitute(site, 'root /var/www/html;', `root ${path.join(dir, 'acme')};`, file);
  // The upstream last: setUpstream() writes the file again from here.
  const shipped = site;
  site = substitute(site, 'server 127.0.0.1:5000;', servers, file);
  fs.writeFileSync(path.join(dir, 'site.conf'), site);
  const errorLog = path.join(dir, 'error.log');
  // The main config is Debian's own /etc/nginx/nginx.conf (gzip on, its TLS defaults,
  // sites-enabled included inside http {}), pointed at the test's files.
  const debian = '/etc/nginx/nginx.conf';
  let main = fs.readFileSync(debian, 'utf8');
  main = substitute(main, 'pid /run/nginx.pid;', `pid ${path.join(dir, 'nginx.pid')};`, debian);
  main = substitute(main, 'error_log /var/log/nginx/error.log;', `error_log ${errorLog} info;`, debian);
  main = substitute(main, 'access_log /var/log/nginx/access.log;', `access_log ${path.join(dir, 'access.log')};`, debian);
  // This machine's own additions are not part of what is tested.
  main = substitute(main, 'include /etc/nginx/conf.d/*.conf;', '', debian);
  main = substitute(main, 'include /etc/nginx/sites-enabled/*;', `include ${path.join(dir, 'site.conf')};`, debian);
  main = substitute(
    main,
    '\nhttp {\n',
    `\nhttp {\n${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `\t${t}_temp_path ${path.join(dir, t)};\n`).join('')}`,
    debian,
  );
  const mainFile = path.join(dir, 'nginx.conf');
  fs.writeFileSync(mainFile, main);
  const proc = run('nginx', ['-c', mainFile, '-p', dir, '-e', errorLog, '-g', 'daemon off;'], { cwd: dir });
  const p: Proxy = {
    kind: 'nginx',
    httpPort,
    httpsPort,
    ca: made.cert,
    config: site,
    log: () => proc.output() + (fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : ''),
    async setUpstream(list) {
      const master = proc.child.pid!;
      const before = childPids(master);
      fs.writeFileSync(path.join(dir, 'site.conf'), substitute(shipped, 'server 127.0.0.1:5000;', serverLines(list), file));
      process.kill(master, 'SIGHUP');
      // The old workers finish what they were answering and exit; only then does no request reach a `down` server.
      await waitFor(async () => {
        const now = childPids(master);
        return now.length > 0 && now.every((pid) => !before.includes(pid));
      }, 30_000);
    },
    async stop() {
      await proc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      made.cleanup();
    },
  };
  try {
    await waitUntilServing(p, proc.child);
  } catch (e) {
    await p.stop();
    throw e;
  }
  return p;
}

/** Processes whose parent is `pid` (nginx's workers), read from /proc. */
function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid …": the command may hold spaces, so read after its closing parenthesis.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) pids.push(Number(entry));
    } catch {
      // It exited while being read.
    }
  }
  return pids;
}

/** base64(sha256(SPKI)) of the certificate the proxy serves, read off the wire and hashed with openssl. */
export function servedSpkiHash(p: Proxy): string {
  const served = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${p.httpsPort}`, '-servername', domain], { input: '', encoding: 'utf8' });
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(served.stdout)?.[0];
  if (!pem) throw new Error(`no certificate from ${p.kind}: ${served.stderr}`);
  const pub = spawnSync('openssl', ['x509', '-pubkey', '-noout'], { input: pem, encoding: 'utf8' });
  const der = spawnSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub.stdout });
  const digest = spawnSync('openssl', ['dgst', '-sha256', '-binary'], { input: der.stdout });
  if (digest.status !== 0 || digest.stdout.length !== 32) throw new Error(`openssl could not hash the served key: ${String(digest.stderr)}`);
  return digest.stdout.toString('base64');
}

export interface ProxyRequestOptions {
  /** Local address the client connects from (any 127.x address works on Linux's loopback). */
  from?: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

/** How a browser elsewhere reaches the proxy: TLS to 127.0.0.1 with the public name for SNI and Host, trusting only the proxy's CA; `o.headers` last. */
function throughProxy(p: Proxy, method: string, urlPath: string, o: ProxyRequestOptions, headers: Record<string, string>): https.RequestOptions {
  return {
    host: '127.0.0.1',
    port: p.httpsPort,
    servername: domain,
    ca: p.ca,
    localAddress: o.from,
    method,
    path: urlPath,
    agent: false,
    headers: { host: `${domain}:${p.httpsPort}`, ...headers, ...o.headers },
  };
}

/** One HTTPS request to the proxy as a browser elsewhere would send it (Host: the public name), trusting only the proxy's CA. */
export function request(p: Proxy, method: string, urlPath: string, o: ProxyRequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = https.request(throughProxy(p, method, urlPath, o, body ? { 'content-type': 'application/json' } : {}), (res) => collect(res, resolve, reject));
    req.on('error', reject);
    req.end(body);
  });
}

/** One plain-HTTP request straight to an upstream (no proxy), from a chosen local address. */
export function direct(url: string, method: string, o: ProxyRequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = http.request(
      url,
      { method, localAddress: o.from, agent: false, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...o.headers } },
      (res) => collect(res, resolve, reject),
    );
    req.on('error', reject);
    req.end(body);
  });
}

function collect(res: http.IncomingMessage, resolve: (a: Answer) => void, reject: (e: Error) => void) {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (d) => {
    text += d;
  });
  res.on('error', reject);
  res.on('end', () => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
  });
}

/**
 * Opens GET …/events through the proxy and hands back the response while it is
 * still streaming: `next(predicate)` resolves with the first event (parsed JSON)
 * matching it, or rejects if the stream ends first.
 */
const safetyMs = 15_000;

export function openEvents(
  p: Proxy,
  urlPath: string,
  o: ProxyRequestOptions = {},
): Promise<{ res: http.IncomingMessage; ended: () => boolean; next(match: (data: any) => boolean): Promise<any>; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = https.request(throughProxy(p, 'GET', urlPath, o, { accept: 'text/event-stream' }), (res) => {
      clearTimeout(headersNet);
      let buffer = '';
      let ended = false;
      const events: any[] = [];
      const waiters: Array<() => void> = [];
      const wake = () => {
        for (const w of waiters.splice(0)) w();
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (/^event: session$/m.test(block) && data) events.push(JSON.parse(data));
        }
        wake();
      });
      res.on('end', () => {
        ended = true;
        wake();
      });
      res.on('close', () => {
        ended = true;
        wake();
      });
      let seen = 0;
      resolve({
        res,
        ended: () => ended,
        next(match) {
          return new Promise((ok, fail) => {
            // Only a safety net so a proxy that holds the stream back fails the test instead of hanging it.
            const net = setTimeout(() => fail(new Error(`no matching event within ${safetyMs / 1000} s: is the proxy buffering the stream?`)), safetyMs);
            const look = () => {
              while (seen < events.length) {
                const e = events[seen++];
                if (match(e)) {
                  clearTimeout(net);
                  return ok(e);
                }
              }
              if (ended) {
                clearTimeout(net);
                return fail(new Error('the event stream ended before the expected event'));
              }
              waiters.push(look);
            };
            look();
          });
        },
        close: () => req.destroy(),
      });
    });
    // A safety net like next()'s: a buffering proxy may hold back even the response head.
    const headersNet = setTimeout(() => {
      req.destroy();
      reject(new Error(`no response head within ${safetyMs / 1000} s: is the proxy buffering the stream?`));
    }, safetyMs);
    req.on('error', (e) => {
      clearTimeout(headersNet);
      reject(e);
    });
    req.end();
  });
}

/**
 * A stand-in for the desktop WebSocket the next issue adds under
 * /api/winux/sessions/{id}/…: a loopback HTTP server that serves a blank page
 * (so Chromium has a same-origin document) and accepts WebSocket upgrades under
 * /api/winux/, echoing text frames. It records what each upgrade request carried.
 */
export interface EchoUpstream {
  address: string;
  upgrades: Array<{ url: string; headers: http.IncomingHttpHeaders; socketAddress: string }>;
  close(): Promise<void>;
}

export async function startEchoUpstream(): Promise<EchoUpstream> {
  const upgrades: EchoUpstream['upgrades'] = [];
  const sockets = new Set<Duplex>();
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>ws test</title>');
  });
  server.on('upgrade', (req, socket: Duplex) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const key = req.headers['sec-websocket-key'];
    if (!req.url?.startsWith('/api/winux/') || req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    upgrades.push({ url: req.url, headers: req.headers, socketAddress: req.socket.remoteAddress ?? '' });
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const frame = readFrame(pending);
        if (!frame) break;
        pending = pending.subarray(frame.size);
        if (frame.opcode === 0x8) {
          socket.end(Buffer.from([0x88, 0]));
          return;
        }
        if (frame.opcode === 0x1) socket.write(textFrame(`echo:${frame.payload.toString('utf8')}`));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    upgrades,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** One client frame (always masked, per RFC 6455), or null when more bytes are needed. */
function readFrame(b: Buffer): { opcode: number; payload: Buffer; size: number } | null {
  if (b.length < 2) return null;
  let length = b[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (b.length < 4) return null;
    length = b.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    throw new Error('test upstream: frame too large');
  }
  const masked = (b[1]! & 0x80) !== 0;
  const mask = masked ? b.subarray(offset, offset + 4) : null;
  if (masked) offset += 4;
  if (b.length < offset + length) return null;
  const payload = Buffer.from(b.subarray(offset, offset + length));
  if (mask) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
  return { opcode: b[0]! & 0x0f, payload, size: offset + length };
}

function textFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  if (payload.length > 125) throw new Error('test upstream: reply too long');
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
}

/** An HTTPS server on loopback with a fresh self-signed certificate for the same name that nobody was told to trust. */
export async function startStrangerHttps(): Promise<{ port: number; requests(): number; close(): Promise<void> }> {
  const made = makeSelfSignedCert(domain, `DNS:${domain}`);
  let count = 0;
  const server = https.createServer({ key: made.key, cert: made.cert }, (_req, res) => {
    count++;
    res.end('should not be reached');
  });
  made.cleanup();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests: () => count,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
