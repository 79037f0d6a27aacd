// What /health reports about the store and the provider, memoised briefly so a
// monitor (or someone hammering the public endpoint) cannot turn every request
// into a database write or a round of provider checks.
import type { Clock } from '../core/clock.ts';
import { withTimeout } from '../core/concurrency.ts';
import { StoreUnavailableError } from '../core/errors.ts';
import type { Logger } from '../logger.ts';
import type { Provider } from '../core/provider-port.ts';
import type { SessionStore } from '../core/store-port.ts';

export interface Check {
  ok: boolean;
  detail: string;
  /** The individual checks behind it (the provider's), each ok, failing or unknown. */
  parts?: CheckPart[];
}

export type CheckStatus = 'ok' | 'failing' | 'unknown';

export interface CheckPart {
  name: string;
  status: CheckStatus;
  detail: string;
}

function memoise(ttlMs: number, compute: () => Promise<Check>): () => Promise<Check> {
  let cached: { at: number; value: Promise<Check> } | undefined;
  return () => {
    if (cached && Date.now() - cached.at < ttlMs) return cached.value;
    cached = { at: Date.now(), value: compute() };
    return cached.value;
  };
}

/**
 * Only the code of the store's underlying error goes into the public answer (ECONNREFUSED,
 * SQLITE_READONLY…); the message, which may name hosts or paths, goes to the log.
 */
function codeOf(error: unknown): string {
  const underlying = error instanceof StoreUnavailableError ? error.cause : error;
  const code = (underlying as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? ` (${code})` : '';
}

/**
 * Reachable is not enough: a database that still answers reads but refuses
 * writes (full disk, immutable file, PostgreSQL standby) cannot create or end
 * a session, so the check also rewrites the store's health-probe row.
 */
export function storeHealth(store: SessionStore, clock: Clock, logger: Logger): () => Promise<Check> {
  return memoise(1000, async () => {
    try {
      await store.ping();
    } catch (error) {
      logger.warn({ err: error }, 'health: the database is unreachable');
      return { ok: false, detail: `unreachable${codeOf(error)}` };
    }
    try {
      await store.checkWritable(clock.now());
    } catch (error) {
      logger.warn({ err: error }, 'health: the database refuses writes');
      return { ok: false, detail: `read-only: writes fail${codeOf(error)}` };
    }
    return { ok: true, detail: 'reachable, writable' };
  });
}

/** A provider check that does not answer within `timeoutMs` is a failing check, not a /health that hangs. */
export function providerHealth(provider: Provider, timeoutMs = 10_000): () => Promise<Check> {
  return memoise(10_000, () =>
    withTimeout(provider.check(), timeoutMs, `no answer within ${timeoutMs / 1000} s`).then(
      (checks) => {
        const parts: CheckPart[] = checks.map((c) => ({ name: c.name, status: c.ok ? 'ok' : c.unknown ? 'unknown' : 'failing', detail: c.detail }));
        // A check that cannot tell is not a failure: it alone never makes /health a 503.
        const failing = parts.filter((c) => c.status === 'failing');
        const unknown = parts.filter((c) => c.status === 'unknown');
        if (failing.length) return { ok: false, detail: failing.map((c) => `${c.name}: ${c.detail}`).join('; '), parts };
        const passed = `${parts.length - unknown.length} checks passed`;
        return { ok: true, detail: unknown.length ? `${passed}; could not tell: ${unknown.map((c) => `${c.name}: ${c.detail}`).join('; ')}` : passed, parts };
      },
      (error: Error) => ({ ok: false, detail: `check failed: ${error.message}` }),
    ),
  );
}
