// Winux's own HTTPS: the certificate and key named by WINUX_TLS_CERT / WINUX_TLS_KEY
// are read and checked before anything starts, re-read when they change on disk
// (certbot and Caddy renew in place or by rename; Kubernetes swaps a symlink), and
// an optional plain-HTTP port answers only with a redirect to the HTTPS address.
// Nothing here ever prints a file's content: errors name the variable, the path
// and what is wrong.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { FastifyRequest } from 'fastify';
import { ConfigError } from '../config.ts';
import type { Logger } from '../logger.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  subject_alt_names?: string;
  valid_from: string;
  valid_to: string;
  fingerprint256: string;
}

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  info: CertificateInfo;
  /** Things worth telling the admin that do not stop Winux (expiry soon, a key others can read). */
  warnings: string[];
  /** The files' identity (inode, size, times) just before they were read: the watcher's starting point. */
  signature: string;
}

/** A certificate this close to its end is logged as a warning at start and on every reload. */
const expirySoonMs = 14 * 24 * 3600_000;
/** PEM certificates and keys are a few KiB; a chain a few dozen. Anything bigger is the wrong file. */
const maxPemBytes = 1024 * 1024;

/**
 * Reads and checks the pair: both files readable, a PEM certificate, an unencrypted
 * PEM private key that matches it, and a certificate that has not expired. Throws a
 * ConfigError naming the variable otherwise.
 */
export function readTlsPair(files: TlsFiles, now: Date = new Date()): TlsPair {
  const problems: string[] = [];
  const before = signature(files);
  const certText = readPem('WINUX_TLS_CERT', files.certFile, 'certificate', problems);
  const keyText = readPem('WINUX_TLS_KEY', files.keyFile, 'private key', problems);
  let x509: X509Certificate | undefined;
  let key: KeyObject | undefined;
  if (certText !== undefined) x509 = parseCertificate(files.certFile, certText, problems);
  if (keyText !== undefined) key = parseKey(files.keyFile, keyText, problems);
  if (x509 && key && !x509.checkPrivateKey(key)) {
    problems.push(
      `WINUX_TLS_KEY: the private key in ${files.keyFile} does not belong to the certificate in WINUX_TLS_CERT (${files.certFile}, ${oneLine(x509.subject)}); give the key that was issued with it`,
    );
  }
  if (x509 && new Date(x509.validTo) <= now) {
    problems.push(
      `WINUX_TLS_CERT: the certificate in ${files.certFile} (${oneLine(x509.subject)}) expired on ${iso(x509.validTo)}; renew it (browsers refuse it)`,
    );
  }
  if (problems.length || !x509 || !key || certText === undefined || keyText === undefined) throw new ConfigError(problems);

  const warnings: string[] = [];
  const left = new Date(x509.validTo).getTime() - now.getTime();
  if (left < expirySoonMs)
    warnings.push(
      `WINUX_TLS_CERT: the certificate expires in ${Math.max(0, Math.floor(left / 86_400_000))} day(s), on ${iso(x509.validTo)}; renew it (Winux picks up the renewed files by itself)`,
    );
  if (new Date(x509.validFrom) > now)
    warnings.push(`WINUX_TLS_CERT: the certificate is not valid before ${iso(x509.validFrom)} (is this machine's clock right?)`);
  try {
    const mode = fs.statSync(files.keyFile).mode;
    if (mode & 0o004)
      warnings.push(`WINUX_TLS_KEY: ${files.keyFile} can be read by every user on this machine (mode ${(mode & 0o777).toString(8)}); chmod 600 or 640`);
  } catch {
    /* it was just read; a race with a rename is not worth a warning */
  }
  return { cert: Buffer.from(certText), key: Buffer.from(keyText), info: certificateInfo(x509), warnings, signature: before };
}

function readPem(variable: string, file: string, what: string, problems: string[]): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
    if (stat.isDirectory()) {
      problems.push(`${variable}: ${file} is a directory; expected a PEM ${what} file`);
      return undefined;
    }
    if (!stat.isFile()) {
      problems.push(`${variable}: ${file} is not a regular file; expected a PEM ${what} file`);
      return undefined;
    }
    if (stat.size > maxPemBytes) {
      problems.push(`${variable}: ${file} is ${Math.round(stat.size / 1024)} KiB, too large for a PEM ${what}; is it the right file?`);
      return undefined;
    }
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(`${variable}: ${readFailure(file, error as NodeJS.ErrnoException)}; expected a PEM ${what} file`);
    return undefined;
  }
}

function readFailure(file: string, error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
      return `no file at ${file}`;
    case 'ENOTDIR':
      return `no file at ${file} (a part of the path is not a directory)`;
    case 'EISDIR':
      return `${file} is a directory`;
    case 'EACCES':
    case 'EPERM':
      return `${file} cannot be read by the user running Winux (uid ${process.getuid?.() ?? '?'}): permission denied`;
    case 'ELOOP':
      return `${file} is a symbolic link loop`;
    default:
      return `${file} cannot be read (${error.code ?? 'error'})`;
  }
}

function parseCertificate(file: string, text: string, problems: string[]): X509Certificate | undefined {
  const begin = /-----BEGIN CERTIFICATE-----/.exec(text);
  if (!begin) {
    problems.push(
      /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)
        ? `WINUX_TLS_CERT: ${file} holds a private key, not a certificate (are WINUX_TLS_CERT and WINUX_TLS_KEY swapped?)`
        : `WINUX_TLS_CERT: ${file} holds no PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block, e.g. certbot's fullchain.pem)`,
    );
    return undefined;
  }
  try {
    // The first certificate is the server's own; the rest of a chain file follows it.
    return new X509Certificate(text.slice(begin.index));
  } catch {
    problems.push(`WINUX_TLS_CERT: ${file} has a "BEGIN CERTIFICATE" block that is not a valid certificate (truncated or damaged?)`);
    return undefined;
  }
}

function parseKey(file: string, text: string, problems: string[]): KeyObject | undefined {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
    problems.push(`WINUX_TLS_KEY: ${file} is protected by a passphrase; give Winux an unencrypted key, readable only by its user`);
    return undefined;
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    problems.push(
      /-----BEGIN CERTIFICATE-----/.test(text)
        ? `WINUX_TLS_KEY: ${file} holds a certificate, not a private key (are WINUX_TLS_CERT and WINUX_TLS_KEY swapped?)`
        : `WINUX_TLS_KEY: ${file} holds no PEM private key (expected a "-----BEGIN PRIVATE KEY-----" block, e.g. certbot's privkey.pem)`,
    );
    return undefined;
  }
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch {
    // OpenSSL's reason is not shown: it says nothing the admin can act on, and stays clear of the key.
    problems.push(`WINUX_TLS_KEY: ${file} has a "PRIVATE KEY" block that cannot be read as a key (truncated or damaged?)`);
    return undefined;
  }
}

function certificateInfo(x509: X509Certificate): CertificateInfo {
  return {
    subject: oneLine(x509.subject),
    issuer: oneLine(x509.issuer),
    subject_alt_names: x509.subjectAltName,
    valid_from: iso(x509.validFrom),
    valid_to: iso(x509.validTo),
    fingerprint256: x509.fingerprint256,
  };
}

const oneLine = (dn: string) => dn.split('\n').filter(Boolean).join(', ');
const iso = (date: string) => new Date(date).toISOString();

export interface TlsWatcher {
  /** Looks at the files now (the timer calls it; tests may too). */
  check(): void;
  stop(): void;
}

export interface TlsWatcherOptions {
  files: TlsFiles;
  logger: Logger;
  /** How often the files are looked at (two stat calls). */
  intervalMs: number;
  /** Installs a pair that parsed and matched (server.setSecureContext). */
  apply(pair: TlsPair): void;
  /** The signature of the pair in use (TlsPair.signature); a change from it is a renewal. */
  since: string;
  /** The running certificate's end (TlsPair.info.valid_to), for the daily reminder. */
  validTo?: string;
  now?: () => Date;
}

/**
 * Watches the pair by polling stat() of both paths: it sees in-place rewrites,
 * replacement by rename and symlink swaps alike, on any filesystem, where fs.watch
 * misses a symlink's target changing in another directory and is unreliable on
 * network and container mounts. When either file changed and then stayed the same
 * for one more look (certbot repoints its four links one by one), the pair is read
 * again and installed if it is whole and matching; otherwise the running certificate
 * stays and one warning says why (the next change is tried again). A certificate
 * that nears its end without being renewed is reported once a day.
 */
export function watchTlsFiles(options: TlsWatcherOptions): TlsWatcher {
  const { files, logger } = options;
  const now = options.now ?? (() => new Date());
  let seen = options.since;
  let settling: string | undefined;
  let validTo = options.validTo ? new Date(options.validTo).getTime() : undefined;
  // Start-up has just said so if the end is near.
  let remindedAt = now().getTime();
  const remind = () => {
    const at = now().getTime();
    if (validTo === undefined || validTo - at > expirySoonMs || at - remindedAt < 86_400_000) return;
    remindedAt = at;
    const days = Math.floor((validTo - at) / 86_400_000);
    if (validTo <= at)
      logger.error(
        { valid_to: new Date(validTo).toISOString() },
        'the TLS certificate has expired and browsers refuse it: renew WINUX_TLS_CERT / WINUX_TLS_KEY (picked up without a restart)',
      );
    else logger.warn({ valid_to: new Date(validTo).toISOString(), days_left: days }, 'the TLS certificate expires soon and has not been renewed');
  };
  const check = () => {
    const current = signature(files);
    if (current === seen) {
      settling = undefined;
      remind();
      return;
    }
    if (current !== settling) {
      settling = current;
      return;
    }
    settling = undefined;
    seen = current;
    let pair: TlsPair;
    try {
      pair = readTlsPair(files, now());
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : ['the files could not be read'];
      logger.warn({ problems }, 'TLS files changed but cannot be used (yet); still serving the previous certificate');
      return;
    }
    try {
      options.apply(pair);
    } catch {
      logger.warn('TLS files changed but the TLS library refused the pair; still serving the previous certificate');
      return;
    }
    logger.info(pair.info, 'TLS certificate reloaded');
    for (const warning of pair.warnings) logger.warn(warning);
    validTo = new Date(pair.info.valid_to).getTime();
    remindedAt = now().getTime();
  };
  const timer = setInterval(check, options.intervalMs);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}

function signature(files: TlsFiles): string {
  return [files.certFile, files.keyFile]
    .map((file) => {
      try {
        const s = fs.statSync(file, { bigint: true });
        return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
      } catch (error) {
        return `missing:${(error as NodeJS.ErrnoException).code}`;
      }
    })
    .join('|');
}

/** True when the browser's connection is HTTPS: ours directly, or a trusted proxy's (X-Forwarded-Proto). */
export function isHttps(request: FastifyRequest): boolean {
  return Boolean((request.raw.socket as { encrypted?: boolean } | null)?.encrypted) || request.protocol === 'https';
}

/** The Strict-Transport-Security value, or undefined when it is turned off. */
export function hstsValue(maxAgeSeconds: number): string | undefined {
  // No includeSubDomains: Winux may live on a name whose other subdomains are not ours to force.
  return maxAgeSeconds > 0 ? `max-age=${maxAgeSeconds}` : undefined;
}

export interface RedirectServerOptions {
  /** The port HTTPS is served on, as users reach it (443 is left out of the URL). */
  httpsPort: number;
  /** WINUX_PUBLIC_HOST; otherwise the request's Host (without its port). */
  publicHost?: string;
  /** WINUX_ACME_WEBROOT: `certbot --webroot -w DIR` writes DIR/.well-known/acme-challenge/TOKEN, served as is. */
  acmeWebroot?: string;
  logger: Logger;
}

/**
 * A plain-HTTP server that does one thing: 308 to the same path on HTTPS (308 keeps
 * the method and body, so `curl -L -X POST` still works). Nothing else is served
 * over plain HTTP: no page, no API, no cookie; only, when WINUX_ACME_WEBROOT is set,
 * the ACME HTTP-01 challenge files, which must be reachable over plain HTTP on port
 * 80 for certbot to renew while Winux holds that port.
 */
export function createRedirectServer(options: RedirectServerOptions): http.Server {
  const server = http.createServer((req, res) => {
    if (options.acmeWebroot && serveAcmeChallenge(options.acmeWebroot, req, res)) return;
    const host = options.publicHost ?? hostOnly(req.headers.host);
    const target = host ? redirectTarget(host, options.httpsPort, req.url ?? '/') : undefined;
    if (!target) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end('Winux is served over HTTPS only; use its https:// address.\n');
      return;
    }
    res.writeHead(308, { location: target, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : `Winux is served over HTTPS: ${target}\n`);
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.on('clientError', (_error, socket) => socket.destroy());
  server.on('error', (error: NodeJS.ErrnoException) => options.logger.warn({ code: error.code }, 'the plain-HTTP redirect listener had an error'));
  return server;
}

/** Answers GET/HEAD /.well-known/acme-challenge/<token> from the webroot; false when the path is not one. */
function serveAcmeChallenge(webroot: string, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  // A token is base64url (RFC 8555 §8.3): no dot, no slash, so no way out of the directory.
  const m = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]{1,256})(?:\?.*)?$/.exec(req.url ?? '');
  if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  let body: Buffer | undefined;
  try {
    const file = `${webroot}/.well-known/acme-challenge/${m[1]}`;
    if (fs.statSync(file).size <= 4096) body = fs.readFileSync(file);
  } catch {
    /* not there: 404 below */
  }
  res.writeHead(body ? 200 : 404, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : (body ?? 'No such ACME challenge.\n'));
  return true;
}

/** A Host header's name without its port, or undefined when it is not a plain host name or address. */
function hostOnly(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/.exec(header.trim());
  return m?.[1];
}

function redirectTarget(host: string, port: number, url: string): string | undefined {
  const name = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  let pathAndQuery = url;
  if (!url.startsWith('/')) {
    // Absolute form (a proxy-style request line): keep only its path and query.
    try {
      const parsed = new URL(url);
      pathAndQuery = parsed.pathname + parsed.search;
    } catch {
      return undefined;
    }
  }
  return `https://${name}${port === 443 ? '' : `:${port}`}${pathAndQuery}`;
}
