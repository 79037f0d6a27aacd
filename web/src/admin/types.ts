// What the console's API answers (src/http/admin-overview.ts).
export interface AdminSession {
  session_id: string;
  status: 'creating' | 'ready' | 'destroying';
  step: string;
  container_id: number;
  node: string | null;
  pooled: boolean;
  address: string | null;
  created_at: string;
  age_seconds: number;
  expires_at: string;
  remaining_seconds: number;
  expired: boolean;
  error: string | null;
}

export interface Capacity {
  max: number;
  in_use: number;
  free: number;
}

export interface UsageDay {
  day: string;
  sessions: number;
  desktop_hours: number;
  failures: number;
  median_ready_seconds: number | null;
  p95_ready_seconds: number | null;
}

export interface Overview {
  sessions: AdminSession[];
  capacity: Capacity;
  host: {
    name: string;
    memory_total_bytes: number;
    memory_free_bytes: number;
    load: number[];
    cpus: number;
    disk: { total_bytes: number; free_bytes: number } | null;
  };
  provider: string;
  pool: { size: number };
  failures: {
    failed: { session_id: string; step: string; error: string | null; at: string; cleaned: boolean; cleanup_attempts: number }[];
    removal_errors: { session_id: string | null; at: string; code?: string; attempts?: number }[];
  };
  abuse: {
    clients: { key: string; kind: 'address' | 'ipv6_64'; sessions: number; refused: number }[];
    blocks: { id: number; network: string; reason: string; created_at: string; expires_at: string | null }[];
  };
  usage: { days: UsageDay[] };
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  outcome: string;
  address: string | null;
  session_id: string | null;
}
