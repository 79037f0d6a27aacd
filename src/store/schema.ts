// Table shapes as Kysely sees them. Times are epoch milliseconds (BIGINT), so
// both SQLite and PostgreSQL compare them exactly and the core never parses dates.
import type { Generated } from 'kysely';

export interface SessionsTable {
  id: string;
  status: string;
  step: string;
  container_id: number;
  holds_container: number;
  pooled: number;
  desktop: string;
  language: string;
  node: string | null;
  ip: string | null;
  endpoint_host: string | null;
  port: number | null;
  username: string;
  password: string;
  token_hash: string;
  visitor: string;
  client_address: string;
  provider_ref: string | null;
  created_at: number;
  ready_at: number | null;
  expires_at: number;
  ended_at: number | null;
  status_changed_at: number;
  duration_minutes: number;
  error: string | null;
  cleanup_attempts: number;
  updated_at: number;
  /** The replica running this session's in-flight work, while `lease_until` is ahead. */
  owner: string | null;
  lease_until: number | null;
}

/** A lease one replica holds at a time (e.g. `leader`), renewed by its heartbeat. */
export interface LeasesTable {
  name: string;
  holder: string;
  until: number;
}

/** One token bucket per client address: `tokens` as of `at`. */
export interface CreateBudgetsTable {
  key: string;
  tokens: number;
  at: number;
}

/** Ids occupied by machines Winux did not create: skipped by allocation until `until`. */
export interface ReservedIdsTable {
  container_id: number;
  reason: string;
  until: number;
}

/** A single row (id 1) rewritten by health checks to prove the database takes writes. */
export interface HealthProbeTable {
  id: number;
  checked_at: number;
}

/** View-only links to a session's desktop (core/share-port.ts). */
export interface SharesTable {
  id: string;
  session_id: string;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
}

/** What was done, by whom, to which session (core/audit-port.ts). `detail` is JSON. */
export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor: string;
  action: string;
  outcome: string;
  address: string | null;
  session_id: string | null;
  detail: string;
}

/** Console sign-ins: the SHA-256 of each cookie's secret. */
export interface AdminSignInsTable {
  secret_hash: string;
  created_at: number;
  expires_at: number;
  address: string | null;
}

/** Run-time settings the console changes (e.g. pool_size). */
export interface SettingsTable {
  key: string;
  value: string;
  updated_at: number;
}

/** Blocked client networks; `expires_at` null = for good. */
export interface BlocksTable {
  id: Generated<number>;
  network: string;
  reason: string;
  created_at: number;
  expires_at: number | null;
}

/** One day's usage, kept after the day's sessions are purged (WINUX_USAGE_DAYS). */
export interface UsageDaysTable {
  day: string;
  sessions: number;
  desktop_seconds: number;
  failures: number;
  median_ready_ms: number | null;
  p95_ready_ms: number | null;
}

export interface Database {
  sessions: SessionsTable;
  shares: SharesTable;
  reserved_ids: ReservedIdsTable;
  health_probe: HealthProbeTable;
  audit_log: AuditLogTable;
  admin_sign_ins: AdminSignInsTable;
  settings: SettingsTable;
  blocks: BlocksTable;
  leases: LeasesTable;
  create_budgets: CreateBudgetsTable;
  usage_days: UsageDaysTable;
}
