// The session model and its state machine. No HTTP, no SQL here.

export const statuses = ['creating', 'ready', 'destroying', 'destroyed', 'failed'] as const;
export type SessionStatus = (typeof statuses)[number];

/** Statuses a session may move to from each status. `failed` is reachable from every live status. */
export const transitions: Record<SessionStatus, readonly SessionStatus[]> = {
  creating: ['ready', 'destroying', 'failed'],
  ready: ['destroying', 'failed'],
  destroying: ['destroyed', 'failed'],
  destroyed: [],
  failed: [],
};

export const liveStatuses: readonly SessionStatus[] = ['creating', 'ready', 'destroying'];

/** Steps of creation the page shows, in order. Providers report the ones they go through. */
export const creationSteps = ['queued', 'allocating', 'cloning', 'starting', 'network', 'desktop', 'ready'] as const;
export type CreationStep = (typeof creationSteps)[number];

export function canTransition(from: SessionStatus, to: SessionStatus): boolean {
  return transitions[from].includes(to);
}

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
  node: string | null;
  ip: string | null;
  /** Host an RDP client connects to, when the provider knows it (otherwise the public host). */
  endpointHost: string | null;
  port: number | null;
  username: string;
  password: string;
  tokenHash: string;
  visitor: string;
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
}
