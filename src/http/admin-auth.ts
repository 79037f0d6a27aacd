// Who is an admin: the caller presenting the admin token (Authorization: Bearer
// $WINUX_ADMIN_TOKEN), or the console's `winux_admin` cookie. The cookie holds a
// random secret given at sign-in; only its SHA-256 is kept (in the database, so
// a restart keeps sign-ins), with an expiry; signing out deletes it.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashSecret, secretMatches } from '../core/credentials.ts';
import type { AppContext } from './context.ts';
import { isHttps } from './tls.ts';

export const adminCookie = 'winux_admin';

/** Requests already found to come from a signed-in console (set once per request by `markSignedInAdmins`). */
const signedIn = new WeakSet<FastifyRequest>();

/** True when the request carries the admin token as a bearer header. */
export function hasAdminToken(request: FastifyRequest, adminTokenHash: string): boolean {
  const bearer = request.headers.authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return Boolean(bearer && secretMatches(bearer, adminTokenHash));
}

/** The console's cookie secret, when it has the right shape. */
function cookieSecret(request: FastifyRequest): string | undefined {
  const raw = request.cookies?.[adminCookie];
  return raw && /^[A-Za-z0-9_-]{43}$/.test(raw) ? raw : undefined;
}

/**
 * Is this request the admin's? The admin token, or a console sign-in that has not
 * expired. Any route (the desktop's view-only WebSocket too) may ask.
 */
export async function adminFrom(request: FastifyRequest, ctx: Pick<AppContext, 'adminTokenHash' | 'admin' | 'clock'>): Promise<boolean> {
  if (signedIn.has(request) || hasAdminToken(request, ctx.adminTokenHash)) return true;
  const secret = cookieSecret(request);
  if (!secret) return false;
  return Boolean(await ctx.admin.findSignIn(hashSecret(secret), ctx.clock.now()));
}

/** True when an earlier hook found this request's console cookie valid (synchronous, for readCaller). */
export function isSignedInAdmin(request: FastifyRequest): boolean {
  return signedIn.has(request);
}

/** An onRequest hook: looks the console cookie up once, so the synchronous checks (readCaller) can see it. */
export function markSignedInAdmins(ctx: Pick<AppContext, 'adminTokenHash' | 'admin' | 'clock'>) {
  return async (request: FastifyRequest): Promise<void> => {
    if (!cookieSecret(request) || hasAdminToken(request, ctx.adminTokenHash)) return;
    if (await adminFrom(request, ctx)) signedIn.add(request);
  };
}

/** Starts a console sign-in: a new secret in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS); its hash in the store. */
export async function signIn(request: FastifyRequest, reply: FastifyReply, ctx: AppContext): Promise<{ expiresAt: number }> {
  const secret = randomBytes(32).toString('base64url');
  const now = ctx.clock.now();
  const expiresAt = now + ctx.config.adminSignInMs;
  await ctx.admin.purgeSignIns(now);
  await ctx.admin.addSignIn({ secretHash: hashSecret(secret), createdAt: now, expiresAt, address: request.ip ?? null });
  reply.setCookie(adminCookie, secret, {
    httpOnly: true,
    sameSite: 'strict',
    secure: isHttps(request),
    path: '/',
    maxAge: Math.floor(ctx.config.adminSignInMs / 1000),
  });
  return { expiresAt };
}

/** Ends the console sign-in this request carries (if any) and clears the cookie. */
export async function signOut(request: FastifyRequest, reply: FastifyReply, ctx: AppContext): Promise<void> {
  const secret = cookieSecret(request);
  if (secret) await ctx.admin.removeSignIn(hashSecret(secret));
  reply.clearCookie(adminCookie, { path: '/', httpOnly: true, sameSite: 'strict', secure: isHttps(request) });
}
