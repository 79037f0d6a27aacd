// The session as the API shows it (DESIGN.md's session JSON). Credentials only
// for the owner or the admin.
import type { Static } from 'typebox';
import { isRunning, type SessionRecord } from '../core/session.ts';
import type { Session } from './schemas.ts';

/** The session's JSON, derived from its schema: a field the schema lacks (which Fastify would drop) does not compile. */
export type SessionJson = Static<typeof Session>;

export interface PresentOptions {
  withSecrets: boolean;
  /** Host an RDP client should use when the provider leaves it to Winux. */
  publicHost: string;
  now: number;
  maxExpiresAt: number;
  /** Minutes one extension adds by default. */
  extendMinutes: number;
}

/** What names a session and says where it stands: the first fields of the visitor's and the admin's JSON alike. */
export function sessionHeader(s: SessionRecord) {
  return { session_id: s.id, status: s.status, step: s.step, container_id: s.containerId, node: s.node };
}

/** Whole seconds left; 0 once the session no longer runs. */
export function remainingSeconds(s: SessionRecord, now: number): number {
  return isRunning(s.status) ? Math.max(0, Math.floor((s.expiresAt - now) / 1000)) : 0;
}

export function presentSession(s: SessionRecord, o: PresentOptions): SessionJson {
  const running = isRunning(s.status);
  const hasEndpoint = s.port !== null;
  return {
    ...sessionHeader(s),
    ip: s.ip,
    host: hasEndpoint ? (s.endpointHost ?? o.publicHost) : null,
    port: s.port,
    certificate_sha256: typeof s.providerRef?.certSha256 === 'string' ? s.providerRef.certSha256 : null,
    username: s.username,
    password: o.withSecrets && running ? s.password : undefined,
    created_at: iso(s.createdAt),
    ready_at: s.readyAt === null ? null : iso(s.readyAt),
    expires_at: iso(s.expiresAt),
    ended_at: s.endedAt === null ? null : iso(s.endedAt),
    remaining_seconds: remainingSeconds(s, o.now),
    duration_minutes: s.durationMinutes,
    max_expires_at: iso(o.maxExpiresAt),
    can_extend: running && s.expiresAt < o.maxExpiresAt,
    extend_minutes: o.extendMinutes,
    server_time: iso(o.now),
    error: s.error,
    pooled: s.pooled,
    desktop: s.desktop,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
