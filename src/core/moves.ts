// The named moves of a session, each a target status of the state machine in
// session.ts; the statuses a move may start from are derived from that table, never
// written out here. A move is one conditional write: undefined when the session was
// not in an allowed status (someone else moved it first), and the caller must not act.
import type { SessionRecord, SessionStatus } from './session.ts';
import { allowedFrom } from './session.ts';
import type { MoveGuard, SessionPatch, SessionStore } from './store-port.ts';

const targets = {
  /** The machine answers RDP: creating → ready. */
  markReady: 'ready',
  /** The session ends; its machine is to be removed: creating | ready → destroying. */
  beginDestroy: 'destroying',
  /** Something went wrong; a machine still held is removed after: any unended status → failed. */
  fail: 'failed',
  /** The machine is confirmed gone: destroying → destroyed. */
  markDestroyed: 'destroyed',
} as const satisfies Record<string, SessionStatus>;

export type MoveName = keyof typeof targets;
export type Move = (id: string, patch: SessionPatch, now: number, guard?: MoveGuard) => Promise<SessionRecord | undefined>;
export type Moves = Record<MoveName, Move>;

export function sessionMoves(store: Pick<SessionStore, 'transition'>): Moves {
  const move = (to: SessionStatus): Move => {
    const from = allowedFrom(to);
    return (id, patch, now, guard) => store.transition(id, from, to, patch, now, guard);
  };
  return {
    markReady: move(targets.markReady),
    beginDestroy: move(targets.beginDestroy),
    fail: move(targets.fail),
    markDestroyed: move(targets.markDestroyed),
  };
}
