// The admin token: WINUX_ADMIN_TOKEN if set, otherwise generated on first start
// and kept in the data dir (mode 0600) so the CLI can read it. The log says where
// it is, never what it is.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config.ts';
import { newAdminToken } from './core/credentials.ts';
import type { Logger } from './logger.ts';

export function adminTokenPath(config: Config): string {
  return path.join(config.dataDir, 'admin-token');
}

/** Creates the data dir (0700) if needed. */
export function ensureDataDir(config: Config): void {
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(config.dataDir, 0o700);
}

export function loadOrCreateAdminToken(config: Config, logger: Logger): string {
  if (config.adminToken) return config.adminToken;
  const file = adminTokenPath(config);
  const existing = readAdminToken(config);
  if (existing) return existing;
  ensureDataDir(config);
  const token = newAdminToken();
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  logger.info({ file }, 'generated an admin token; it is stored in this file (readable by its owner only)');
  return token;
}

export function readAdminToken(config: Config): string | undefined {
  try {
    return fs.readFileSync(adminTokenPath(config), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
