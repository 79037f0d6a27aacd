// Who is calling: the admin (Authorization: Bearer $WINUX_ADMIN_TOKEN, or the
// console's sign-in cookie: admin-auth.ts), a session owner (Bearer <session token>, or the page's HttpOnly cookie), or nobody.
import type { FastifyRequest } from 'fastify';
import { secretMatches, sessionIdOfToken } from '../core/credentials.ts';
import { errors } from '../core/errors.ts';
import type { SessionRecord } from '../core/session.ts';
import { isSignedInAdmin } from './admin-auth.ts';

export const tokenCookie = 'winux_token';
/** Header the page sends on writes: a cross-site form cannot set it, so cookie-authenticated writes need it. */
export const csrfHeader = 'x-requested-with';

export interface Caller {
  admin: boolean;
  /** Session tokens presented (bearer or cookie), not yet checked against a session. */
  tokens: string[];
  /** True when the only credential came from the cookie. */
  viaCookie: boolean;
  /** True when some credential was presented at all. */
  presented: boolean;
}

export function readCaller(request: FastifyRequest, adminTokenHash: string): Caller {
  const header = request.headers.authorization;
  const bearer = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  if (bearer && secretMatches(bearer, adminTokenHash)) return { admin: true, tokens: [], viaCookie: false, presented: true };
  // The console's sign-in cookie (looked up by admin-auth.ts's hook): cookie-authenticated, so writes need the CSRF header.
  if (isSignedInAdmin(request)) return { admin: true, tokens: [], viaCookie: true, presented: true };
  if (bearer) return { admin: false, tokens: [bearer], viaCookie: false, presented: true };
  const cookie = request.cookies?.[tokenCookie];
  if (cookie) return { admin: false, tokens: [cookie], viaCookie: true, presented: true };
  return { admin: false, tokens: [], viaCookie: false, presented: Boolean(header) };
}

/** Ids of the sessions the caller's tokens claim (verified later against each session's hash). */
export function claimedSessionIds(caller: Caller): string[] {
  return caller.tokens.map(sessionIdOfToken).filter((id): id is string => Boolean(id));
}

export function owns(caller: Caller, session: SessionRecord): boolean {
  return caller.tokens.some((t) => sessionIdOfToken(t) === session.id && secretMatches(t, session.tokenHash));
}

/**
 * Refuses a caller who may not act on `session` (or on an id that does not exist:
 * the answer is the same, so guessing ids reveals nothing).
 */
export function requireAccess(caller: Caller, session: SessionRecord | undefined): asserts session is SessionRecord {
  if (caller.admin) {
    if (!session) throw errors.notFound();
    return;
  }
  if (!caller.presented) throw errors.unauthorized();
  if (!session || !owns(caller, session)) throw errors.forbidden('This token does not give access to that session.');
}

export function requireAdmin(caller: Caller): void {
  if (caller.admin) return;
  if (!caller.presented) throw errors.unauthorized('This action needs the admin token (Authorization: Bearer $WINUX_ADMIN_TOKEN).');
  throw errors.forbidden('This action needs the admin token.');
}

/** Cookie-authenticated writes must carry the page's header (CSRF guard). */
export function requireCsrfSafe(request: FastifyRequest, caller: Caller): void {
  if (caller.viaCookie && request.headers[csrfHeader] !== 'winux') {
    throw errors.forbidden('Missing X-Requested-With: winux header (required for cookie-authenticated changes).');
  }
}
