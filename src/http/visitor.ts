// Who counts as one visitor for WINUX_SESSIONS_PER_VISITOR. A whole classroom
// often shares one public address (NAT), so the page's browser is the visitor:
// it gets a signed `winux_visitor` cookie when the page loads (GET /info or
// /sessions), before it can ask for a session. A caller without a valid cookie
// (curl, scripts) is counted by its address, which a forged cookie cannot dodge
// since the signature would not verify; the per-address rate limit bounds anyone
// who fetches fresh cookies in a loop.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../core/errors.ts';
import { isHttps } from './tls.ts';

export const visitorCookie = 'winux_visitor';
const oneYearSeconds = 365 * 24 * 3600;

/** `browser:<id>` when the caller has a valid signed visitor cookie. */
function browserKey(request: FastifyRequest): string | undefined {
  const raw = request.cookies?.[visitorCookie];
  if (raw) {
    const unsigned = request.unsignCookie(raw);
    if (unsigned.valid && unsigned.value && /^[A-Za-z0-9_-]{16,64}$/.test(unsigned.value)) return `browser:${unsigned.value}`;
  }
  return undefined;
}

export function visitorKey(request: FastifyRequest): string {
  const browser = browserKey(request);
  if (browser) return browser;
  // A client that reset its connection before we looked has no address any more. Filing
  // it under a shared "address:undefined" would dodge its real address's limit, and it
  // will never read the token: refuse (found by test/hardening/fuzz.test.ts).
  if (!request.ip) throw errors.badRequest('The connection closed before the request could be attributed to a client.');
  return `address:${request.ip}`;
}

/** Gives the caller a visitor cookie if it has no valid one yet. */
export function ensureVisitorCookie(request: FastifyRequest, reply: FastifyReply): void {
  if (browserKey(request)) return;
  reply.setCookie(visitorCookie, randomBytes(18).toString('base64url'), {
    signed: true,
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    secure: isHttps(request),
    maxAge: oneYearSeconds,
  });
}
