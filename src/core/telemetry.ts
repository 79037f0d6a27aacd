// What the core reports for metrics, as events on the service ('telemetry'):
// the HTTP layer's Prometheus registry (src/http/metrics.ts) turns them into
// series. The core knows no metrics library.

export type ProviderOperation = 'create' | 'destroy' | 'list' | 'set_credentials' | 'set_session_info' | 'files';

export type TelemetryEvent =
  | { type: 'creation'; ok: boolean; seconds: number }
  | { type: 'removal'; ok: boolean; seconds: number }
  | { type: 'provider_error'; operation: ProviderOperation; code: string }
  | { type: 'reconcile'; seconds: number }
  | { type: 'refused'; reason: 'visitor_limit' | 'address_limit' | 'capacity' };

/** A provider error's short code for a label: its own `code`, a timeout, or `error`. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[a-z0-9_]{1,40}$/i.test(code)) return code.toLowerCase();
  const message = error instanceof Error ? error.message : String(error);
  return /timed out|timeout/i.test(message) ? 'timeout' : 'error';
}
