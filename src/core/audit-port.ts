// The audit log port, owned by the core: who did what to which session, when,
// from where, and how it went. `src/store/audit-store.ts` keeps it in the
// database. An entry never holds a password, token or key: `detail` is checked
// by `safeDetail` before it is written.

/** Who acted: a visitor, an admin, the expiry timer, the reconciler, the warm pool, or Winux itself. */
export const actors = ['visitor', 'admin', 'expiry', 'reconciler', 'pool', 'system'] as const;
export type ActorKind = (typeof actors)[number];

export interface Actor {
  kind: ActorKind;
  /** The client address as Winux sees it (behind its trusted proxies), when a person acted. */
  address?: string;
}

export type AuditOutcome = 'ok' | 'refused' | 'failed';

export interface AuditEntry {
  at: number;
  actor: ActorKind;
  /** Dotted names: session.create, session.end, session.extend, session.failed, admin.sign_in, pool.resize, block.add… */
  action: string;
  outcome: AuditOutcome;
  address: string | null;
  sessionId: string | null;
  /** A short machine-readable note (an error code, a reason, a new size); never a secret. */
  detail: Record<string, string | number | boolean | null>;
}

export interface AuditRow extends AuditEntry {
  id: number;
}

export interface AuditFilter {
  sessionId?: string;
  /** Any of these sessions. */
  sessionIds?: readonly string[];
  actor?: ActorKind;
  action?: string;
  outcome?: AuditOutcome;
  address?: string;
  since?: number;
  until?: number;
  /** Rows with an id below this (paging backwards, newest first). */
  before?: number;
  limit: number;
}

export interface AuditLog {
  record(entry: AuditEntry): Promise<void>;
  /** Newest first. */
  query(filter: AuditFilter): Promise<AuditRow[]>;
  /** Deletes rows older than `before`; returns how many went. */
  purge(before: number): Promise<number>;
}

/** Keys that name secrets: a detail carrying one is a bug, refused before it reaches the log. */
const secretKey = /pass|token|secret|key|cookie|authorization|credential/i;

/** The detail as it may be kept, or an error naming the key that looks like a secret. */
export function safeDetail(detail: AuditEntry['detail']): AuditEntry['detail'] {
  for (const key of Object.keys(detail)) if (secretKey.test(key)) throw new Error(`audit detail "${key}" looks like a secret and is not recorded`);
  return detail;
}

/** An audit log that keeps nothing: for services built without one (unit tests, tools). */
export const noAudit: AuditLog = {
  record: async () => {},
  query: async () => [],
  purge: async () => 0,
};
