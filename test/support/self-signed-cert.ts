// A throwaway CA-less self-signed certificate (the Proxmox simulator, the
// proxies in test/deploy), made with the system's openssl at test time so no key
// material is ever committed. Clients trust it by pinning the PEM (undici `ca`,
// requests' REQUESTS_CA_BUNDLE, Chromium's SPKI list), which is exactly how a
// deployment trusts a real Proxmox node's self-signed cert.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

export function makeSelfSignedCert(commonName = 'pve-sim.localhost', altNames = 'IP:127.0.0.1,DNS:localhost'): SelfSignedCert {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winux-cert-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      `subjectAltName=${altNames}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ],
    { stdio: 'pipe' },
  );
  return {
    key: readFileSync(keyFile, 'utf8'),
    cert: readFileSync(certFile, 'utf8'),
    certFile,
    dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
