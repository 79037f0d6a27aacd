// Table shapes as Kysely sees them. Times are epoch milliseconds (BIGINT), so
// both SQLite and PostgreSQL compare them exactly and the core never parses dates.
export interface SessionsTable {
  id: string;
  status: string;
  step: string;
  container_id: number;
  holds_container: number;
  pooled: number;
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

export interface Database {
  sessions: SessionsTable;
  reserved_ids: ReservedIdsTable;
  health_probe: HealthProbeTable;
}
