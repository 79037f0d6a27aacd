// Cross-site request refusal for every state-changing API call (issue 14, item 4).
// A web page on another site can make its visitors' browsers POST here (a form or
// fetch() needs no CORS preflight for a simple request), starting desktops from
// their addresses. Browsers say where a request comes from: `Sec-Fetch-Site`
// (all current browsers) and `Origin` (sent on every cross-origin POST/DELETE).
// curl, scripts and API clients send neither, so they keep working.
import type { FastifyRequest } from 'fastify';
import { WinuxError } from '../core/errors.ts';

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface SameOriginRules {
  /** Origins allowed anyway (WINUX_CORS_ORIGINS: a school's site that embeds Winux on purpose). */
  allowedOrigins: readonly string[];
}

/** Undefined when the request may go on; otherwise why it is refused. */
export function crossSiteReason(request: FastifyRequest, rules: SameOriginRules): string | undefined {
  if (safeMethods.has(request.method)) return undefined;
  const origin = request.headers.origin;
  if (origin !== undefined) {
    if (rules.allowedOrigins.includes(origin)) return undefined;
    if (!isOwnOrigin(origin, request)) return `Origin ${origin.slice(0, 100)} is not this Winux`;
    return undefined;
  }
  const site = request.headers['sec-fetch-site'];
  // "none": typed in the address bar or a bookmark; "same-origin": our own page.
  if (site === 'cross-site' || site === 'same-site') return `Sec-Fetch-Site: ${site}`;
  return undefined;
}

/**
 * Same host as the request's Host header (X-Forwarded-Host from a trusted proxy):
 * the host the browser talks to. A proxy may drop the port from Host (nginx's
 * `$host`), so a Host without a port matches the Origin's host name alone.
 */
function isOwnOrigin(origin: string, request: FastifyRequest): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file://) and anything malformed
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const host = (request.host ?? '').toLowerCase();
  if (!host) return false;
  if (url.host === host) return true;
  const hasPort = /:\d+$/.test(host) && !host.endsWith(']');
  return !hasPort && url.hostname === host;
}

export function crossSiteError(reason: string): WinuxError {
  return new WinuxError(
    'cross_site_request',
    403,
    `Requests from other web sites may not change anything here (${reason}). Open Winux's own page, or call the API without a browser.`,
  );
}
