// Who counts as one visitor for WINUX_SESSIONS_PER_VISITOR. A whole classroom
// often shares one public address (NAT), so the page's browser is the visitor:
// it gets a signed `winux_visitor` cookie when the page loads (GET /info or
// /sessions), before it can ask for a session. A caller without a valid cookie
// (curl, scripts) is counted by its address, which a forged cookie cannot dodge
// since the signature would not verify; the per-address rate limit bounds anyone
// who fetches fresh cookies in a loop.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const visitorCookie = 'winux_visitor';
const oneYearSeconds = 365 * 24 * 3600;

export function visitorKey(request: FastifyRequest): string {
  const raw = request.cookies?.[visitorCookie];
  if (raw) {
    const unsigned = request.unsignCookie(raw);
    if (unsigned.valid && unsigned.value && /^[A-Za-z0-9_-]{16,64}$/.test(unsigned.value)) return `browser:${unsigned.value}`;
  }
  return `address:${request.ip}`;
}

/** Gives the caller a visitor cookie if it has no valid one yet. */
export function ensureVisitorCookie(request: FastifyRequest, reply: FastifyReply): void {
  if (visitorKey(request).startsWith('browser:')) return;
  reply.setCookie(visitorCookie, randomBytes(18).toString('base64url'), {
    signed: true,
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    secure: request.protocol === 'https',
    maxAge: oneYearSeconds,
  });
}
