// What the visitor page gets from /api/winux (only the fields it reads).

export type Status = 'creating' | 'ready' | 'destroying' | 'destroyed' | 'failed';

export interface Session {
  session_id: string;
  status: Status;
  step?: string;
  host?: string | null;
  port?: number | null;
  username?: string;
  password?: string;
  /** SHA-256 fingerprint of the desktop's RDP certificate, to compare with the client's warning. */
  certificate_sha256?: string | null;
  created_at?: string;
  expires_at?: string;
  max_expires_at?: string;
  remaining_seconds?: number;
  duration_minutes?: number;
  can_extend?: boolean;
  error?: string;
  /** Which desktop it runs (xfce, mate, lxqt). */
  desktop?: string;
}

export interface DesktopOption {
  name: string;
  label: string;
  /** A picture of it (taken when its template was built), or null. */
  screenshot: string | null;
}

export interface Info {
  session_minutes: number;
  max_session_minutes: number;
  estimated_ready_seconds?: number;
  capacity?: { free?: number; next_free_at?: string | null };
  desktops?: { default: string; desktops: DesktopOption[] };
}

export type View = 'loading' | 'idle' | 'creating' | 'ready' | 'ended';
export type Level = 'ok' | 'warn' | 'danger';
export type EndedReason = 'user' | 'expired' | 'failed' | 'gone';
export type Os = 'windows' | 'mac' | 'linux' | 'mobile';
