// SessionService: the one place where sessions change. The HTTP routes, the
// reaper and the CLI all call it. It decides (who may have a session, for how
// long, from the pool or fresh) and writes the decision to the store; the
// machine work runs in MachineLifecycle, and Reconciler finishes whatever a
// crash or restart interrupted.
import { EventEmitter } from 'node:events';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { defaultLanguage, type DesktopFiles, type Language, type Provider, type ProviderRef } from './provider-port.ts';
import type { AllocationRefusal, MoveGuard, SessionFilter, SessionStore } from './store-port.ts';
import type { Clock } from './clock.ts';
import { forEachBounded, providerConcurrency, withTimeout } from './concurrency.ts';
import { newPassword, newSessionId, newSessionToken, hashSecret } from './credentials.ts';
import { errors, WinuxError } from './errors.ts';
import { MachineLifecycle, redactError, sessionLog } from './lifecycle.ts';
import { Reconciler, type ReconcileStats } from './reconciler.ts';
import { Heartbeat } from './heartbeat.ts';
import { sessionMoves, type Moves } from './moves.ts';
import type { SessionRecord } from './session.ts';
import type { DesktopName } from './desktops.ts';
import { isRunning, runningStatuses } from './session.ts';
import { noAudit, type Actor, type AuditLog } from './audit-port.ts';
import { createAudit, systemActor, type Audit, type AuditNote } from './audit.ts';
import { errorCode, type TelemetryEvent } from './telemetry.ts';
import type { UsageHistory } from './usage-days.ts';

export interface SessionServiceOptions {
  config: Config;
  store: SessionStore;
  provider: Provider;
  logger: Logger;
  clock: Clock;
  /** Where actions are recorded (the database's audit log); none by default. */
  audit?: AuditLog;
  /** Where daily usage is kept past the sessions' purge (the reconciler writes it); none by default. */
  usageHistory?: UsageHistory;
}

export interface CreateRequest {
  /** Who asks: the browser or the client address (behind trusted proxies), used for the per-visitor limit. */
  visitor: string;
  /** The client address (an IPv6 address as its /64), for WINUX_SESSIONS_PER_ADDRESS and the audit log; defaults to none. */
  address?: string;
  durationMinutes?: number;
  /** Which desktop (WINUX_DESKTOPS); the default one when absent. */
  desktop?: string;
  /** The page's language: the desktop's locale and keyboard (default fr). */
  language?: Language;
}

export interface EndOptions {
  /** Wait for the container to be removed. */
  wait?: boolean;
  /** Who ends it (the audit log); Winux itself by default. */
  by?: Actor;
}

export interface Capacity {
  max: number;
  inUse: number;
  free: number;
  nextFreeAt: number | null;
}

/** Switching a pool member's language restarts its desktop session (seconds); past this it is not handed out. */
const switchLanguageTimeoutMs = 30_000;

/** The visitor key of warm-pool members: never a real client address. */
export const poolVisitor = 'warm-pool';

export class SessionService extends EventEmitter {
  private readonly config: Config;
  private readonly store: SessionStore;
  private readonly moves: Moves;
  private readonly provider: Provider;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly lifecycle: MachineLifecycle;
  private readonly reconciler: Reconciler;
  private readonly record: Audit;
  /** Leases of this replica's work and of leadership (several replicas on one PostgreSQL). */
  readonly heartbeat: Heartbeat;
  private readonly unsubscribe: () => void;
  private closing = false;

  constructor(options: SessionServiceOptions) {
    super();
    this.config = options.config;
    this.store = options.store;
    this.moves = sessionMoves(options.store);
    this.provider = options.provider;
    this.log = options.logger;
    this.clock = options.clock;
    this.record = createAudit(options.audit ?? noAudit, options.clock, options.logger);
    this.lifecycle = new MachineLifecycle({
      ...options,
      changed: (id, step) => this.announce(id, step),
      report: (event) => this.report(event),
      audit: this.record,
    });
    // One listener per open event stream (GET /sessions/{id}/events): no fixed ceiling.
    this.setMaxListeners(0);
    this.reconciler = new Reconciler({ ...options, lifecycle: this.lifecycle, record: this.record, report: (event) => this.report(event) });
    this.heartbeat = new Heartbeat({ ...options, lifecycle: this.lifecycle });
    // Changes made by the other replicas reach this one's listeners (event streams, the leader's timers) as its own do.
    this.unsubscribe = options.store.subscribe((change) => {
      if (change.origin !== this.config.replicaId) this.tell(change.id, change.stepOnly);
    });
  }

  /** True when this replica runs expiry, the reconciler and the warm pool (always with SQLite). */
  get isLeader(): boolean {
    return this.heartbeat.leader;
  }

  get providerName(): string {
    return this.provider.name;
  }

  /** The provider's file transfer into and out of desktops, if it has one (the HTTP file routes use it). */
  get desktopFiles(): DesktopFiles | undefined {
    return this.provider.files;
  }

  /**
   * Starts a session for a visitor. With a warm pool, a ready member is claimed
   * (the answer is already `ready`); otherwise it answers at once with `creating`
   * and the desktop is prepared in the background.
   */
  async create(request: CreateRequest): Promise<{ session: SessionRecord; token: string }> {
    if (this.closing) throw errors.unavailable('Winux is shutting down; please try again in a moment.');
    const minutes = request.durationMinutes ?? this.config.sessionMinutes;
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > this.config.maxSessionMinutes) {
      throw errors.badRequest(`duration_minutes must be a whole number from 1 to ${this.config.maxSessionMinutes}.`);
    }
    const desktop = this.desktopOf(request.desktop);
    const by: Actor = { kind: 'visitor', address: request.address };
    try {
      const language = request.language ?? defaultLanguage;
      const created = await this.createFor(request.visitor, request.address ?? '', minutes, desktop, language);
      await this.record('session.create', {
        actor: by,
        sessionId: created.session.id,
        detail: {
          duration_minutes: minutes,
          desktop,
          from_pool: created.session.status === 'ready',
          container_id: created.session.containerId,
          language,
        },
      });
      return created;
    } catch (error) {
      if (error instanceof WinuxError) {
        if (error.code === 'visitor_limit' || error.code === 'address_limit' || error.code === 'capacity_exhausted') {
          this.report({ type: 'refused', reason: error.code === 'capacity_exhausted' ? 'capacity' : error.code });
        }
        await this.record('session.create', { actor: by, outcome: 'refused', detail: { code: error.code } });
      }
      throw error;
    }
  }

  /** The desktop a request asks for, refused (400, listing the enabled ones) when this Winux does not offer it. */
  private desktopOf(asked: string | undefined): DesktopName {
    if (asked === undefined) return this.config.defaultDesktop;
    const enabled = this.config.desktops;
    if (!enabled.includes(asked as DesktopName)) {
      throw new WinuxError('unknown_desktop', 400, `desktop must be one of the desktops this Winux offers: ${enabled.join(', ')}.`, {
        desktops: [...enabled],
      });
    }
    return asked as DesktopName;
  }

  private async createFor(
    visitor: string,
    address: string,
    minutes: number,
    desktop: DesktopName,
    language: Language,
  ): Promise<{ session: SessionRecord; token: string }> {
    // Ready pool members are handed out first (there may be some even at size 0: the pool was just shrunk).
    const claimed = await this.claimFromPool(visitor, address, minutes, desktop, language);
    if (claimed) return claimed;
    const ask = { visitor, address, minutes, pooled: false, desktop, language };
    let result = await this.insertAndStart(ask);
    if ('refused' in result && result.refused === 'capacity' && (await this.shrinkPoolForVisitor())) {
      // The pool gave a container back: a visitor's need comes before a warm spare.
      result = await this.insertAndStart(ask);
    }
    if ('refused' in result) {
      if (result.refused === 'visitor_limit') throw errors.visitorLimit(this.config.sessionsPerVisitor);
      if (result.refused === 'address_limit') throw errors.addressLimit(this.config.sessionsPerAddress);
      const { nextFreeAt } = await this.capacity();
      throw errors.capacityExhausted(nextFreeAt ? new Date(nextFreeAt).toISOString() : undefined);
    }
    return result;
  }

  /** Adds one warm-pool member of `desktop` in `language` (the pool manager calls this); undefined when there is no room. */
  async createPoolMember(desktop: DesktopName = this.config.defaultDesktop, language: Language = defaultLanguage): Promise<SessionRecord | undefined> {
    if (this.closing) return undefined;
    const result = await this.insertAndStart({
      visitor: poolVisitor,
      address: '',
      minutes: Math.ceil(this.config.pool.maxAgeMs / 60_000),
      pooled: true,
      desktop,
      language,
    });
    return 'refused' in result ? undefined : result.session;
  }

  private async insertAndStart(o: {
    visitor: string;
    address: string;
    minutes: number;
    pooled: boolean;
    desktop: DesktopName;
    language: Language;
  }): Promise<{ session: SessionRecord; token: string } | AllocationRefusal> {
    const now = this.clock.now();
    const id = newSessionId();
    const token = newSessionToken(id);
    const result = await this.store.insertWithContainer(
      {
        id,
        status: 'creating',
        step: 'allocating',
        pooled: o.pooled,
        desktop: o.desktop,
        language: o.language,
        node: null,
        ip: null,
        endpointHost: null,
        port: null,
        username: this.config.desktopUser,
        password: newPassword(),
        tokenHash: hashSecret(token),
        visitor: o.visitor,
        clientAddress: o.address,
        providerRef: null,
        createdAt: now,
        readyAt: null,
        expiresAt: now + o.minutes * 60_000,
        endedAt: null,
        durationMinutes: o.minutes,
        error: null,
        // Ours from the first moment: another replica's reconciler leaves it alone while we renew.
        owner: this.config.replicaId,
        leaseUntil: now + this.config.leaseMs,
      },
      this.lifecycle.allocationRules(),
    );
    if ('refused' in result) return result;
    sessionLog(this.log, result).info(
      { status: 'creating', container_id: result.containerId, duration_minutes: o.minutes, pooled: o.pooled, desktop: o.desktop },
      'session created',
    );
    this.lifecycle.startCreation(result);
    this.announce(result.id, false);
    return { session: result, token };
  }

  /**
   * Hands a ready pool member to a visitor: a new token and expiry. Its password
   * was made for it at its creation, like any session's, and has never left
   * Winux (only the owner, once claimed, and the admin are shown a password), so
   * handing it to this one visitor is the same as making one now; changing it
   * here cost a round trip into the machine on the click's path (90–380 ms on
   * LXC, an SSH + `pct exec` on Proxmox) for nothing gained. The member was
   * built in the visitor's language when one is left (the pool keeps members per
   * language): then the end time reaches the desktop just after the answer. In
   * another language its desktop session is switched first (seconds).
   */
  private async claimFromPool(
    visitor: string,
    clientAddress: string,
    minutes: number,
    desktop: DesktopName,
    language: Language,
  ): Promise<{ session: SessionRecord; token: string } | undefined> {
    const now = this.clock.now();
    const claimedId = await this.store.peekPooledReady(desktop, language);
    if (!claimedId) return undefined;
    const token = newSessionToken(claimedId);
    const claimed = await this.store.claimPooled(
      claimedId,
      { visitor, clientAddress, perVisitor: this.config.sessionsPerVisitor, perAddress: this.config.sessionsPerAddress },
      {
        tokenHash: hashSecret(token),
        createdAt: now,
        readyAt: now,
        expiresAt: now + minutes * 60_000,
        durationMinutes: minutes,
      },
      now,
    );
    if (!claimed) return undefined;
    if ('refused' in claimed) {
      throw claimed.refused === 'address_limit' ? errors.addressLimit(this.config.sessionsPerAddress) : errors.visitorLimit(this.config.sessionsPerVisitor);
    }
    const log = sessionLog(this.log, claimed);
    if (claimed.language !== language && this.provider.setSessionInfo && claimed.providerRef) {
      try {
        await withTimeout(
          this.provider.setSessionInfo(claimed.providerRef as ProviderRef, claimed.username, { endsAt: claimed.expiresAt, language }),
          switchLanguageTimeoutMs,
          'switching the language timed out',
        );
        await this.store.update(claimed.id, { language }, this.clock.now());
        claimed.language = language;
      } catch (error) {
        // A member we cannot switch is not handed out in the wrong language: end it and build a fresh desktop instead.
        log.error({ err: redactError(error, claimed) }, 'could not switch a pool member to the visitor’s language');
        this.report({ type: 'provider_error', operation: 'set_session_info', code: errorCode(error) });
        await this.destroy(claimed.id, 'pool member could not switch language', { by: { kind: 'pool' } });
        return undefined;
      }
    } else {
      // Best effort, once the visitor's first frames are out (pool.quietMs): until then the
      // panel shows the member's own end, an hour or more away. Read again then: an
      // extension meanwhile has pushed its own end, which must not be undone.
      this.later(async () => {
        const now = await this.store.get(claimed.id);
        if (now) await this.lifecycle.pushSessionEnd(now);
      }, this.config.pool.quietMs);
    }
    log.info({ status: 'ready', pooled: false, claimed_from_pool: true }, 'session claimed from the warm pool');
    // The pool holds its refill for pool.quietMs (see WarmPool).
    this.emit('claimed', claimed.id);
    this.announce(claimed.id, false);
    return { session: (await this.store.get(claimed.id)) ?? claimed, token };
  }

  /**
   * Ends one pool member to make room for a visitor. True when a container was given back.
   * Guarded on `pooled`: a member claimed by another visitor since the list is not ended.
   */
  private async shrinkPoolForVisitor(): Promise<boolean> {
    for (const member of await this.store.list({ pooled: true, statuses: runningStatuses, limit: 3 })) {
      const after = await this.endIf(member.id, 'pool shrinks for a visitor', { pooled: true }, { wait: true, by: { kind: 'pool' } });
      if (after) return !after.holdsContainer;
    }
    return false;
  }

  /**
   * Recycles a pool member older than `createdBefore`; false when it was claimed (or
   * ended) since the pool read it: the claim resets `pooled` and `created_at`.
   */
  async recyclePoolMember(id: string, createdBefore: number): Promise<boolean> {
    return Boolean(await this.endIf(id, 'pool member recycled', { pooled: true, createdAtOrBefore: createdBefore }, { by: { kind: 'pool' } }));
  }

  async get(id: string): Promise<SessionRecord> {
    const session = await this.store.get(id);
    if (!session) throw errors.notFound();
    return session;
  }

  list(filter: SessionFilter = {}): Promise<SessionRecord[]> {
    return this.store.list(filter);
  }

  /**
   * Ends a session: `destroying` is written first, then the container is removed in
   * the background (or awaited with `wait`). Ending an ended session is a no-op.
   */
  async destroy(id: string, reason: string, options: EndOptions = {}): Promise<SessionRecord> {
    const now = this.clock.now();
    const moved = await this.moves.beginDestroy(id, { endedAt: now }, now);
    const session = moved ?? (await this.get(id));
    return this.afterBeginDestroy(session, Boolean(moved), reason, options);
  }

  /**
   * Ends a session only if `guard` still holds in the same UPDATE (compare-and-set on
   * what the caller read). Undefined when it no longer does: nothing was changed.
   */
  private async endIf(id: string, reason: string, guard: MoveGuard, options: EndOptions = {}): Promise<SessionRecord | undefined> {
    const now = this.clock.now();
    const moved = await this.moves.beginDestroy(id, { endedAt: now }, now, guard);
    if (!moved) return undefined;
    return this.afterBeginDestroy(moved, true, reason, options);
  }

  private async afterBeginDestroy(session: SessionRecord, moved: boolean, reason: string, options: EndOptions): Promise<SessionRecord> {
    if (moved) {
      sessionLog(this.log, session).info({ status: 'destroying', reason }, 'session ending');
      await this.record('session.end', { actor: options.by ?? systemActor, sessionId: session.id, detail: { reason, pooled: session.pooled } });
      this.announce(session.id, false);
    }
    const work = session.status === 'destroying' ? this.lifecycle.startDestruction(session) : undefined;
    if (options.wait && work) await work;
    return options.wait ? this.get(session.id) : session;
  }

  /** Moves `expires_at` later by `minutes` (default: the standard duration), up to the maximum lifetime. */
  async extend(id: string, minutes?: number, by: Actor = systemActor): Promise<SessionRecord> {
    try {
      const after = await this.extendNow(id, minutes);
      await this.record('session.extend', {
        actor: by,
        sessionId: id,
        detail: { minutes: minutes ?? this.config.sessionMinutes, expires_at: new Date(after.expiresAt).toISOString() },
      });
      return after;
    } catch (error) {
      if (error instanceof WinuxError && error.status < 500) {
        await this.record('session.extend', { actor: by, sessionId: id, outcome: 'refused', detail: { code: error.code } });
      }
      throw error;
    }
  }

  private async extendNow(id: string, minutes?: number): Promise<SessionRecord> {
    const session = await this.get(id);
    if (!isRunning(session.status)) {
      throw errors.conflict(`This session is ${session.status}; only a running session can be extended.`);
    }
    const step = minutes ?? this.config.sessionMinutes;
    if (!Number.isInteger(step) || step < 1 || step > this.config.maxSessionMinutes) {
      throw errors.badRequest(`minutes must be a whole number from 1 to ${this.config.maxSessionMinutes}.`);
    }
    const limit = this.maxExpiry(session);
    if (session.expiresAt >= limit) {
      const e = new WinuxError('extension_limit', 409, `This session already runs for the longest time allowed (${this.config.maxSessionMinutes} minutes).`, {
        max_expires_at: new Date(limit).toISOString(),
      });
      throw e;
    }
    const expiresAt = Math.min(session.expiresAt + step * 60_000, limit);
    const durationMinutes = Math.round((expiresAt - session.createdAt) / 60_000);
    const now = this.clock.now();
    // Compare-and-set on the expiry read above: a concurrent extension is not overwritten.
    const updated = await this.store.update(id, { expiresAt, durationMinutes }, now, runningStatuses, { expiresAt: session.expiresAt });
    if (!updated) {
      const after = await this.get(id);
      if (!isRunning(after.status)) throw errors.conflict('This session ended while it was being extended.');
      throw errors.conflict('This session was extended by another request at the same moment; check its new expiry and try again.');
    }
    sessionLog(this.log, session).info({ expires_at: new Date(expiresAt).toISOString() }, 'session extended');
    this.announce(id, false);
    const after = await this.get(id);
    // Within seconds inside the desktop too (the panel and the warnings follow it).
    await this.lifecycle.pushSessionEnd(after);
    return after;
  }

  /** Median of recent creation times, or a provider-typical guess before any. */
  estimatedReadySeconds(): number {
    return this.lifecycle.estimatedReadySeconds();
  }

  /** The latest `expires_at` a session may reach. */
  maxExpiry(session: SessionRecord): number {
    return session.createdAt + this.config.maxSessionMinutes * 60_000;
  }

  /** Ends every session whose time is up, now. Returns the ids it ended. */
  async cleanupExpired(options: { wait?: boolean; limit?: number } = {}): Promise<string[]> {
    const now = this.clock.now();
    const due = await this.store.dueForExpiry(now, options.limit ?? 1000);
    const ended: string[] = [];
    // A few at a time: each may wait on the provider (bounded by the destroy timeout).
    await forEachBounded(due, providerConcurrency, async (session) => {
      try {
        // Still due in the same UPDATE: an extension committed since the read keeps the session.
        const after = await this.endIf(session.id, 'expired', { expiresAtOrBefore: now, pooled: false }, { wait: options.wait, by: { kind: 'expiry' } });
        if (after && after.status !== 'failed') ended.push(session.id);
      } catch (error) {
        sessionLog(this.log, session).error({ err: error }, 'could not end expired session');
      }
    });
    return ended;
  }

  async capacity(): Promise<Capacity> {
    const inUse = await this.store.countHeld();
    const next = await this.store.nextExpiry();
    return {
      max: this.config.maxSessions,
      inUse,
      free: Math.max(0, this.config.maxSessions - inUse),
      nextFreeAt: next ?? null,
    };
  }

  /** See Reconciler.reconcile: run before serving, and after a crash or restart. */
  async reconcile(options: { startup?: boolean } = {}): Promise<ReconcileStats> {
    const started = performance.now();
    try {
      return await this.reconciler.reconcile(options);
    } finally {
      this.report({ type: 'reconcile', seconds: (performance.now() - started) / 1000 });
    }
  }

  /** See Reconciler.retryStuck: the reaper's sweep calls it. */
  retryStuck(): Promise<number> {
    return this.reconciler.retryStuck();
  }

  /**
   * Records an action in the audit log (never throws: a failed write is logged).
   * The HTTP layer calls it for sign-ins and admin actions, shares for theirs.
   */
  audit(action: string, note: AuditNote): Promise<void> {
    return this.record(action, note);
  }

  /** Tells listeners something worth a metric happened ('telemetry'). */
  private report(event: TelemetryEvent): void {
    this.emit('telemetry', event);
  }

  /**
   * Tells listeners a session changed: 'session' (its id) for every change,
   * steps included, which the event stream of that session forwards; 'changed'
   * for status changes only, which the pool and the reaper's timer react to.
   */
  private announce(sessionId: string, stepOnly: boolean): void {
    this.tell(sessionId, stepOnly);
    this.store.publish({ id: sessionId, stepOnly, origin: this.config.replicaId }).catch((err) => {
      // The others' streams still see it at their next re-read.
      this.log.debug({ err, session_id: sessionId }, 'could not tell the other replicas about a change');
    });
  }

  private tell(sessionId: string, stepOnly: boolean): void {
    this.emit('session', sessionId);
    if (!stepOnly) this.emit('changed');
  }

  /** Work put off for a moment (see claimFromPool); shutdown runs what is still waiting. */
  private readonly deferred = new Map<unknown, () => Promise<void>>();
  private later(work: () => Promise<void>, ms: number): void {
    const timer = this.clock.setTimeout(() => {
      this.deferred.delete(timer);
      void this.lifecycle.track(work());
    }, ms);
    this.deferred.set(timer, work);
  }

  /** Stops taking new work and waits (up to `timeoutMs`) for in-flight work; the rest is reconciled on next start. */
  async shutdown(timeoutMs = 20_000): Promise<void> {
    this.closing = true;
    this.unsubscribe();
    for (const [timer, work] of this.deferred) {
      this.clock.clearTimeout(timer);
      void this.lifecycle.track(work());
    }
    this.deferred.clear();
    await this.heartbeat.resign();
    await this.lifecycle.drain(timeoutMs);
    // What did not finish in time passes to another replica now, not when its lease would run out.
    if (this.store.shared) {
      const handed = await this.lifecycle.handOver().catch(() => 0);
      if (handed) this.log.info({ sessions: handed }, 'handed in-flight work over to the other replicas');
    }
    this.heartbeat.stop();
  }

  /** Resolves when every background task started so far has settled (tests, shutdown). */
  idle(): Promise<void> {
    return this.lifecycle.idle();
  }
}
