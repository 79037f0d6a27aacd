// The key that encrypts session passwords in the database (src/store/secret-box.ts):
// 32 random bytes in <data dir>/secret.key (mode 0600), created on first start. It is
// kept outside the database on purpose: a copy of the database alone opens nothing.
// Several replicas sharing one PostgreSQL need the same file. The log says where it is,
// never what it is.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export function secretKeyPath(config: Config): string {
  return path.join(config.dataDir, 'secret.key');
}

export function loadOrCreateSecretKey(config: Config, logger: Logger): Buffer {
  const file = secretKeyPath(config);
  const existing = readSecretKey(config);
  if (existing) return existing;
  try {
    fs.writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    logger.info({ file }, 'generated the key that encrypts session passwords; back it up with the database (readable by its owner only)');
  } catch (error) {
    // Another replica on the same data dir wrote it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = readSecretKey(config);
  if (!key) throw new Error(`${file} does not hold a 32-byte key (base64): restore it from a backup, or remove it if no session is running`);
  return key;
}

/** The key, or undefined when the file does not exist; a file that is not a key stops everything. */
export function readSecretKey(config: Config): Buffer | undefined {
  const file = secretKeyPath(config);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const key = Buffer.from(text, 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte key (base64): restore it from a backup`);
  return key;
}
