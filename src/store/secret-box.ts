// Session passwords at rest (issue 14, item 8): AES-256-GCM with a key kept outside the
// database (the data dir's secret.key, src/secret-key.ts), so a copy of the database
// alone gives no RDP login. Each value gets its own random 96-bit nonce; the tag makes
// a tampered or wrongly keyed value fail loudly instead of decrypting to garbage.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const prefix = 'enc:v1:';

export interface SecretBox {
  seal(clear: string): string;
  open(stored: string): string;
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(prefix);
}

export function secretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error('the secret key must be 32 bytes (AES-256)');
  return {
    seal(clear) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(clear, 'utf8'), cipher.final()]);
      return prefix + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    },
    open(stored) {
      if (!isSealed(stored)) return stored; // a row from before encryption, sealed on the next start
      const raw = Buffer.from(stored.slice(prefix.length), 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      try {
        return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      } catch {
        throw new Error('a stored password does not open with this secret key (secret.key differs from the one the database was written with)');
      }
    },
  };
}

/** For stores opened without a key (winux doctor): passwords are neither read nor written. */
export const noSecretBox: SecretBox = {
  seal() {
    throw new Error('this store was opened without the secret key: it cannot write passwords');
  },
  open() {
    return '';
  },
};
