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
  /** % of one core, from the last sample; null until there is one. */
  cpu_percent: number | null;
  memory_bytes: number | null;
}

export interface NodeFigures {
  node: string;
  online: boolean;
  cpus: number | null;
  cpu_percent: number | null;
  memory_total_bytes: number | null;
  memory_used_bytes: number | null;
  disk_total_bytes: number | null;
  disk_used_bytes: number | null;
  load: number[] | null;
}

export interface RebuildState {
  running: boolean;
  started_at: string | null;
  finished_at: string | null;
  outcome: 'ok' | 'failed' | null;
  error: string | null;
  step: string | null;
  lines: { at: string; step: string; detail: string | null }[];
}

export interface TemplatePanel {
  provider: string;
  recipe_hash: string | null;
  copies: {
    node: string;
    name: string;
    hash: string | null;
    built_at: string | null;
    age_seconds: number | null;
    archive_bytes: number | null;
    current: boolean | null;
  }[];
  rebuild_offered: boolean;
  rebuild_reason: string | null;
  rebuild: RebuildState;
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
  nodes: NodeFigures[];
  template: TemplatePanel;
  pool: { size: number };
  failures: {
    failed: { session_id: string; step: string; error: string | null; at: string; cleaned: boolean; cleanup_attempts: number }[];
    removal_errors: { session_id: string | null; at: string; code?: string; attempts?: number }[];
  };
  abuse: {
    clients: { key: string; kind: 'address' | 'ipv6_64'; sessions: number; refused: number }[];
    blocks: { id: number; network: string; reason: string; created_at: string; expires_at: string | null }[];
  };
  usage: { kept_days: number; days: UsageDay[] };
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
