// The session model and its state machine. No HTTP, no SQL here.
import type { DesktopName } from './desktops.ts';
import type { Language } from './languages.ts';

export const statuses = ['creating', 'ready', 'destroying', 'destroyed', 'failed'] as const;
export type SessionStatus = (typeof statuses)[number];

/**
 * The state machine: the statuses a session may move to from each status. This table is
 * the only source of legal moves; the named moves (moves.ts) and the status groups below
 * are derived from it. `failed` is reachable from every status that has not ended.
 */
export const transitions: Record<SessionStatus, readonly SessionStatus[]> = {
  creating: ['ready', 'destroying', 'failed'],
  ready: ['destroying', 'failed'],
  destroying: ['destroyed', 'failed'],
  destroyed: [],
  failed: [],
};

/** The statuses from which a session may move to `to`. */
export function allowedFrom(to: SessionStatus): readonly SessionStatus[] {
  return statuses.filter((from) => transitions[from].includes(to));
}

/** Not ended yet: some move is still possible (creating, ready, destroying). What the reconciler checks. */
export const unendedStatuses: readonly SessionStatus[] = statuses.filter((s) => transitions[s].length > 0);

/**
 * Running: the session is the visitor's (it can still be ended, so it counts toward limits
 * and expiry, may be extended, and its password is shown): creating or ready.
 */
export const runningStatuses: readonly SessionStatus[] = allowedFrom('destroying');

export function isEnded(status: SessionStatus): boolean {
  return !unendedStatuses.includes(status);
}

export function isRunning(status: SessionStatus): boolean {
  return runningStatuses.includes(status);
}

/** Steps of creation the page shows, in order. Providers report the ones they go through. */
export const creationSteps = ['queued', 'allocating', 'cloning', 'starting', 'network', 'desktop', 'ready'] as const;
export type CreationStep = (typeof creationSteps)[number];

/** A session as stored. Times are epoch milliseconds. */
export interface SessionRecord {
  id: string;
  status: SessionStatus;
  step: CreationStep;
  containerId: number;
  /** 1 while a container may exist for this session: the id is held until its container is confirmed gone. */
  holdsContainer: boolean;
  /** True for warm-pool members not yet claimed by a visitor. */
  pooled: boolean;
  /** Which desktop it runs (core/desktops.ts): the template it is cloned from. */
  desktop: DesktopName;
  /** The desktop's language (core/languages.ts): the visitor's, or a warm-pool member's own until claimed. */
  language: Language;
  node: string | null;
  ip: string | null;
  /** Host an RDP client connects to, when the provider knows it (otherwise the public host). */
  endpointHost: string | null;
  port: number | null;
  username: string;
  password: string;
  tokenHash: string;
  visitor: string;
  /**
   * The client address the session was asked from (an IPv6 address as its /64), for
   * WINUX_SESSIONS_PER_ADDRESS; empty for warm-pool members until claimed.
   */
  clientAddress: string;
  providerRef: Record<string, unknown> | null;
  createdAt: number;
  readyAt: number | null;
  expiresAt: number;
  endedAt: number | null;
  durationMinutes: number;
  error: string | null;
  /** When the status last changed: the clock for creation and destruction timeouts. */
  statusChangedAt: number;
  cleanupAttempts: number;
  updatedAt: number;
  /** The replica running this session's creation or removal now (none when no work is in flight). */
  owner: string | null;
  /** Until when `owner`'s claim holds without a heartbeat; after it, another replica may take the work over. */
  leaseUntil: number | null;
}
