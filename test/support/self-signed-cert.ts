// Throwaway certificates made with the system's openssl at test time, so no key
// material is ever committed:
//  - makeSelfSignedCert: one self-signed certificate (the Proxmox simulator, the
//    proxies in test/deploy). Clients trust it by pinning the PEM (undici `ca`,
//    requests' REQUESTS_CA_BUNDLE, Chromium's SPKI list), which is exactly how a
//    deployment trusts a real Proxmox node's self-signed cert.
//  - makeTestCa: a CA and the leaves it issues for localhost/127.0.0.1 (Winux's own
//    HTTPS), including ones that are already expired.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SelfSignedCert {
  key: string;
  cert: string;
  /** Path of a PEM file holding the certificate (for clients that want a file). */
  certFile: string;
  dir: string;
  cleanup(): void;
}

/** `openssl req` arguments that make a new unencrypted P-256 key in `keyFile`. */
const newP256Key = (keyFile: string) => ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile];

/** A new key and a self-signed certificate for it that may sign others (CA:TRUE), with these extensions too. */
function selfSign(cwd: string, o: { keyFile: string; certFile: string; days: number; subject: string; extensions: string[] }): void {
  const extensions = ['basicConstraints=critical,CA:TRUE', ...o.extensions].flatMap((e) => ['-addext', e]);
  execFileSync('openssl', ['req', '-x509', ...newP256Key(o.keyFile), '-out', o.certFile, '-days', String(o.days), '-subj', o.subject, ...extensions], {
    cwd,
    stdio: 'pipe',
  });
}

export function makeSelfSignedCert(commonName = 'pve-sim.localhost', altNames = 'IP:127.0.0.1,DNS:localhost'): SelfSignedCert {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winux-cert-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  selfSign(dir, { keyFile, certFile, days: 2, subject: `/CN=${commonName}`, extensions: [`subjectAltName=${altNames}`] });
  return {
    key: readFileSync(keyFile, 'utf8'),
    cert: readFileSync(certFile, 'utf8'),
    certFile,
    dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A leaf a test CA issued: its files and their content. */
export interface IssuedCert {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  fingerprint: string;
}

export interface TestCa {
  dir: string;
  caPem: string;
  /** A leaf for localhost and 127.0.0.1 (subject O=`name`), valid 2 days unless `dates` (openssl's YYYYMMDDHHMMSSZ) say otherwise. */
  issue(name: string, dates?: { start: string; end: string }): IssuedCert;
}

/** A CA in `dir` that issues with `openssl ca`, which (unlike `x509 -req` in OpenSSL 3.0) can issue a certificate that is already expired. */
export function makeTestCa(dir: string): TestCa {
  mkdirSync(dir, { recursive: true });
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  selfSign(dir, { keyFile: 'ca.key', certFile: 'ca.crt', days: 3, subject: '/CN=Winux test CA', extensions: ['keyUsage=critical,keyCertSign,cRLSign'] });
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), '1000\n');
  writeFileSync(
    path.join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir',
      'serial = $dir/serial',
      'default_md = sha256',
      'policy = any',
      'copy_extensions = copy',
      'unique_subject = no',
      'default_days = 2',
      '[any]',
      'commonName = supplied',
      'organizationName = optional',
      '',
    ].join('\n'),
  );
  return {
    dir,
    caPem: readFileSync(path.join(dir, 'ca.crt'), 'utf8'),
    issue(name, dates) {
      const keyFile = path.join(dir, `${name}.key`);
      const certFile = path.join(dir, `${name}.crt`);
      const csr = `${name}.csr`;
      openssl('req', '-new', ...newP256Key(keyFile), '-out', csr, '-subj', `/CN=localhost/O=${name}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
      const validity = dates ? ['-startdate', dates.start, '-enddate', dates.end] : [];
      openssl('ca', '-batch', '-notext', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', csr, '-out', certFile, ...validity);
      const certPem = readFileSync(certFile, 'utf8');
      return { certFile, keyFile, certPem, keyPem: readFileSync(keyFile, 'utf8'), fingerprint: new X509Certificate(certPem).fingerprint256 };
    },
  };
}
