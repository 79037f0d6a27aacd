// Identifiers and secrets. Session tokens are `<session id>.<secret>`: the id
// says which row to check, and only the secret's SHA-256 is stored, so a copy
// of the database does not let anyone act on a session.
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

const base32 = 'abcdefghijklmnopqrstuvwxyz234567';

export const sessionIdPattern = '^winux-[a-z2-7]{12}$';

export function newSessionId(): string {
  const bytes = randomBytes(12);
  let id = 'winux-';
  for (const b of bytes) id += base32[b % 32];
  return id;
}

export function newSessionToken(sessionId: string): string {
  return `${sessionId}.${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of a presented secret with a stored SHA-256 hex digest. */
export function secretMatches(presented: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(presented), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The session id a token claims to belong to (not yet verified). */
export function sessionIdOfToken(token: string): string | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0) return undefined;
  const id = token.slice(0, dot);
  return new RegExp(sessionIdPattern).test(id) ? id : undefined;
}

// No look-alike characters (0/O, 1/l/I): people type this password by hand.
const passwordAlphabet = {
  lower: 'abcdefghijkmnpqrstuvwxyz',
  upper: 'ABCDEFGHJKLMNPQRSTUVWXYZ',
  digit: '23456789',
};

/** A random password of `length` (≥ 16) characters with at least one lower, upper and digit. */
export function newPassword(length = 20): string {
  const all = passwordAlphabet.lower + passwordAlphabet.upper + passwordAlphabet.digit;
  const chars = [
    passwordAlphabet.lower[randomInt(passwordAlphabet.lower.length)],
    passwordAlphabet.upper[randomInt(passwordAlphabet.upper.length)],
    passwordAlphabet.digit[randomInt(passwordAlphabet.digit.length)],
  ];
  while (chars.length < Math.max(16, length)) chars.push(all[randomInt(all.length)]);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join('');
}

export function newAdminToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The desktop's view-only VNC password, derived from the session password the
 * same way winux-session-init derives it inside the container (the first 8 hex
 * digits of SHA-256("winux-view-only:" + password); VNC keeps 8 characters).
 * Share viewers and the admin's "look" authenticate with it: TigerVNC then
 * ignores their input and sends them no clipboard, on top of Winux's own
 * input filter. Only Winux reaches the VNC server, so its shortness is no door.
 */
export function viewOnlyDesktopPassword(password: string): string {
  return createHash('sha256').update(`winux-view-only:${password}`).digest('hex').slice(0, 8);
}
