// The Store port, owned by the core: what the core, the background loops and
// /health need from wherever sessions are kept. `src/store/` implements it over
// SQLite or PostgreSQL. Every state change is a conditional write ("move from
// these statuses to that one"), so two actors never both act on one transition.
// A store that cannot be reached, or refuses writes, throws `StoreUnavailableError`
// (errors.ts), never a driver's own error.
import type { DesktopName } from './desktops.ts';
import type { Language } from './languages.ts';
import type { CreationStep, SessionRecord, SessionStatus } from './session.ts';

export interface AllocationRules {
  idMin: number;
  idMax: number;
  maxSessions: number;
  /** 0 = no limit. */
  perVisitor: number;
  /** Running sessions per client address, whatever cookies say (0 = no limit). */
  perAddress?: number;
}

/** Who claims a pool member, and the limits the claim must respect. */
export interface Claimant {
  visitor: string;
  clientAddress: string;
  perVisitor: number;
  perAddress: number;
}

/** What `insertWithContainer` could not do, for the service to turn into a person's message. */
export type AllocationRefusal = { refused: 'capacity' | 'visitor_limit' | 'address_limit' };

export type NewSession = Omit<
  SessionRecord,
  'containerId' | 'holdsContainer' | 'updatedAt' | 'statusChangedAt' | 'cleanupAttempts' | 'clientAddress' | 'owner' | 'leaseUntil' | 'desktop' | 'language'
> & {
  clientAddress?: string;
  /** The replica that starts the creation, and until when its claim holds (see `claimWork`). */
  owner?: string;
  leaseUntil?: number;
  /** XFCE when absent. */
  desktop?: DesktopName;
  /** The default language (fr) when absent. */
  language?: Language;
};

/** A change of one session, as told to the other replicas' event streams. */
export interface SessionChange {
  id: string;
  /** Only the creation step changed (no status change). */
  stepOnly: boolean;
  /** The replica that made the change (its own notifications come back to it too). */
  origin: string;
}

/** A session this replica still owns after a heartbeat, with its status now. */
export interface OwnedWork {
  id: string;
  status: SessionStatus;
}

export interface SessionFilter {
  statuses?: readonly SessionStatus[];
  visitor?: string;
  ids?: readonly string[];
  holdsContainer?: boolean;
  pooled?: boolean;
  desktop?: DesktopName;
  language?: Language;
  limit?: number;
}

/**
 * Conditions besides the status that a move depends on, checked in the same UPDATE
 * (compare-and-set): what the caller read before deciding must still hold when it writes.
 */
export interface MoveGuard {
  /** Still due: `expires_at <= expiresAtOrBefore` (an extension committed since makes the move a no-op). */
  expiresAtOrBefore?: number;
  /** `expires_at` unchanged since it was read (two extensions do not overwrite each other). */
  expiresAt?: number;
  /** Still (or not) an unclaimed warm-pool member. */
  pooled?: boolean;
  /** `created_at <= createdAtOrBefore` (a pool member still old; a claim resets it). */
  createdAtOrBefore?: number;
}

export type SessionPatch = Partial<
  Pick<
    SessionRecord,
    | 'step'
    | 'node'
    | 'ip'
    | 'endpointHost'
    | 'port'
    | 'providerRef'
    | 'readyAt'
    | 'expiresAt'
    | 'endedAt'
    | 'error'
    | 'holdsContainer'
    | 'username'
    | 'password'
    | 'language'
    | 'tokenHash'
    | 'visitor'
    | 'pooled'
    | 'durationMinutes'
    | 'createdAt'
  >
>;

export interface SessionStore {
  /** Cheap round trip for health checks. */
  ping(): Promise<void>;
  /** Rewrites the health-probe row: fails when the store answers reads but refuses writes. */
  checkWritable(now: number): Promise<void>;
  close(): Promise<void>;

  /**
   * Inserts a session and gives it the lowest free container id, atomically with
   * capacity and the visitor's limit.
   */
  insertWithContainer(session: NewSession, rules: AllocationRules): Promise<SessionRecord | AllocationRefusal>;
  /** Sets `containerId` aside until `until` (a foreign machine occupies it) and moves session `id` to the lowest free id, atomically; undefined when none is free. */
  moveToAnotherId(id: string, containerId: number, reason: string, until: number, rules: AllocationRules, now: number): Promise<SessionRecord | undefined>;
  /** Keeps `containerId` from being allocated until `until` (e.g. an orphan there is being removed). */
  setAside(containerId: number, reason: string, until: number): Promise<void>;
  /** Gives an id set aside back to allocation. */
  release(containerId: number): Promise<void>;
  /**
   * The oldest ready warm-pool member of `desktop`, one in `language` first (any other
   * is switched at claim), if any: a candidate, `claimPooled` decides.
   */
  peekPooledReady(desktop: DesktopName, language: Language): Promise<string | undefined>;
  /** Gives pool member `id` to `visitor`; undefined when another request claimed it first. */
  claimPooled(id: string, claimant: Claimant, patch: SessionPatch, now: number): Promise<SessionRecord | AllocationRefusal | undefined>;

  get(id: string): Promise<SessionRecord | undefined>;
  list(filter?: SessionFilter): Promise<SessionRecord[]>;
  /**
   * Moves a session from one of `from` to `to`, writing `patch` with it. Undefined when
   * it was not in one of `from` (someone else moved it first): the caller must then not act.
   * The core calls it only through the named moves of session.ts.
   */
  transition(
    id: string,
    from: readonly SessionStatus[],
    to: SessionStatus,
    patch: SessionPatch,
    now: number,
    guard?: MoveGuard,
  ): Promise<SessionRecord | undefined>;
  /** Updates fields without changing the status; `onlyIn` and `guard` guard against racing another move. */
  update(id: string, patch: SessionPatch, now: number, onlyIn?: readonly SessionStatus[], guard?: MoveGuard): Promise<boolean>;
  setStep(id: string, step: CreationStep, now: number): Promise<void>;
  noteCleanupAttempt(id: string, now: number): Promise<void>;

  /** Visitors' sessions (not pool members) whose time is up, oldest first, at most `limit`. */
  dueForExpiry(now: number, limit: number): Promise<SessionRecord[]>;
  /** The next time a session is due, or undefined when none is running. */
  nextExpiry(): Promise<number | undefined>;
  countHeld(): Promise<number>;
  countByStatus(): Promise<Record<string, number>>;
  /** Sessions not ended and failed ones still holding a container: what the reconciler must check. */
  needingAttention(): Promise<SessionRecord[]>;
  /** Creations older than `createdBefore`, and removals not finished (destroying, or failed still holding a container), at most `limit`. */
  stuck(createdBefore: number, limit: number): Promise<SessionRecord[]>;
  /** Deletes finished sessions older than `before`. */
  purgeEnded(before: number): Promise<number>;

  // ---- Several replicas (PostgreSQL). With SQLite there is one process, and these are trivially true.

  /**
   * True when several processes may share this store (PostgreSQL): leases are honoured.
   * False for SQLite (one process): every claim succeeds, since any other owner on record
   * can only be this deployment's previous process, dead now.
   */
  readonly shared: boolean;
  /**
   * Makes `owner` the owner of session `id`'s in-flight work until `until`, if nobody else
   * holds a lease on it still running at `now`. The session as claimed, or undefined when
   * another replica's lease holds (that replica does the work; this one must not).
   */
  claimWork(id: string, owner: string, until: number, now: number): Promise<SessionRecord | undefined>;
  /** The heartbeat: extends every lease `owner` holds to `until`; returns what it still owns. */
  renewWork(owner: string, until: number): Promise<OwnedWork[]>;
  /** Gives up `owner`'s claim on `id`: the work is done (a failed removal is retried later, with back-off). */
  releaseWork(id: string, owner: string): Promise<void>;
  /** Ends every lease `owner` holds now (shutdown): the leader takes that work over at its next sweep. */
  handOverWork(owner: string): Promise<number>;
  /**
   * Unfinished work nobody runs: creations, removals and failed sessions still holding a
   * container whose owner (not `owner`) let its lease run out before `now`: it died or
   * handed the work over. (Work with no owner at all is retried through `stuck`.)
   */
  abandoned(owner: string, now: number, limit: number): Promise<SessionRecord[]>;
  /** Takes or renews the named lease for `holder` until `until`; false while another holder's lease runs. */
  holdLease(name: string, holder: string, until: number, now: number): Promise<boolean>;
  /** Gives the named lease up, if `holder` has it (a replica shutting down hands leadership over at once). */
  dropLease(name: string, holder: string): Promise<void>;
  /**
   * Takes one creation from `key`'s token bucket (refilled at `ratePerMinute`, holding at
   * most `burst`), shared by every replica: 0 when allowed, else the seconds until one is.
   */
  takeBudget(key: string, ratePerMinute: number, burst: number, now: number): Promise<number>;
  /** Tells every replica that a session changed (PostgreSQL NOTIFY); nothing to do with SQLite. */
  publish(change: SessionChange): Promise<void>;
  /** Calls `listener` for every change published by any replica (this one's included); returns the unsubscribe. */
  subscribe(listener: (change: SessionChange) => void): () => void;
}
