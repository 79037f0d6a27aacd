// SessionService: the one place where sessions change. The HTTP routes, the
// reaper and the CLI all call it. Every transition is written to the store
// before the provider is called, so a crash between any two steps leaves a
// state that `reconcile()` finishes on the next start.
import { EventEmitter } from 'node:events';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { CreatedMachine, Provider, ProviderRef } from '../providers/provider.ts';
import type { AllocationRefusal, Store } from '../store/store.ts';
import type { Clock } from './clock.ts';
import { newPassword, newSessionId, newSessionToken, hashSecret } from './credentials.ts';
import { ContainerIdTakenError, errors, WinuxError } from './errors.ts';
import type { CreationStep, SessionRecord } from './session.ts';
import { liveStatuses } from './session.ts';

export interface SessionServiceOptions {
  config: Config;
  store: Store;
  provider: Provider;
  logger: Logger;
  clock: Clock;
}

export interface CreateRequest {
  /** Who asks: the client address (behind trusted proxies), used for the per-visitor limit. */
  visitor: string;
  durationMinutes?: number;
}

export interface Capacity {
  max: number;
  inUse: number;
  free: number;
  nextFreeAt: number | null;
}

export interface ReconcileStats {
  checked: number;
  resumed: number;
  failed: number;
  destroyed: number;
  orphansRemoved: number;
}

/** How long an id found occupied by a foreign machine is skipped. */
const foreignIdQuarantineMs = 60 * 60_000;
/** Ids tried before a creation gives up on finding a free one. */
const maxIdMoves = 5;

/** The visitor key of warm-pool members: never a real client address. */
export const poolVisitor = 'warm-pool';

/** Finished sessions are kept this long for the record, then purged. */
const keepEndedMs = 7 * 24 * 3600_000;

export class SessionService extends EventEmitter {
  private readonly config: Config;
  private readonly store: Store;
  private readonly provider: Provider;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** Creations running in this process, so a delete can stop one and wait for it. */
  private readonly creating = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly destroying = new Map<string, Promise<void>>();
  private readonly background = new Set<Promise<unknown>>();
  private closing = false;
  /** How long the last few creations took, for the page's honest estimate. */
  private readonly recentReadyMs: number[] = [];

  constructor(options: SessionServiceOptions) {
    super();
    this.config = options.config;
    this.store = options.store;
    this.provider = options.provider;
    this.log = options.logger;
    this.clock = options.clock;
  }

  get providerName(): string {
    return this.provider.name;
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
    if (this.config.pool.size > 0) {
      const claimed = await this.claimFromPool(request.visitor, minutes);
      if (claimed) return claimed;
    }
    let result = await this.insertAndStart({ visitor: request.visitor, minutes, pooled: false });
    if ('refused' in result && result.refused === 'capacity' && await this.shrinkPoolForVisitor()) {
      // The pool gave a container back: a visitor's need comes before a warm spare.
      result = await this.insertAndStart({ visitor: request.visitor, minutes, pooled: false });
    }
    if ('refused' in result) {
      if (result.refused === 'visitor_limit') throw errors.visitorLimit(this.config.sessionsPerVisitor);
      const { nextFreeAt } = await this.capacity();
      throw errors.capacityExhausted(nextFreeAt ? new Date(nextFreeAt).toISOString() : undefined);
    }
    return result;
  }

  /** Adds one warm-pool member (the pool manager calls this); undefined when there is no room. */
  async createPoolMember(): Promise<SessionRecord | undefined> {
    if (this.closing) return undefined;
    const result = await this.insertAndStart({ visitor: poolVisitor, minutes: Math.ceil(this.config.pool.maxAgeMs / 60_000), pooled: true });
    return 'refused' in result ? undefined : result.session;
  }

  private async insertAndStart(o: { visitor: string; minutes: number; pooled: boolean }): Promise<{ session: SessionRecord; token: string } | AllocationRefusal> {
    const now = this.clock.now();
    const id = newSessionId();
    const token = newSessionToken(id);
    const result = await this.store.insertWithContainer({
      id,
      status: 'creating',
      step: 'allocating',
      pooled: o.pooled,
      node: null,
      ip: null,
      endpointHost: null,
      port: null,
      username: this.config.desktopUser,
      password: newPassword(),
      tokenHash: hashSecret(token),
      visitor: o.visitor,
      providerRef: null,
      createdAt: now,
      readyAt: null,
      expiresAt: now + o.minutes * 60_000,
      endedAt: null,
      durationMinutes: o.minutes,
      error: null,
    }, this.allocationRules());
    if ('refused' in result) return result;
    this.sessionLog(result).info({ status: 'creating', container_id: result.containerId, duration_minutes: o.minutes, pooled: o.pooled }, 'session created');
    this.startCreation(result);
    this.emit('changed');
    return { session: result, token };
  }

  /**
   * Hands a ready pool member to a visitor: new token, new expiry, and (where the
   * provider can) a new password, so nothing set before the claim is reused.
   */
  private async claimFromPool(visitor: string, minutes: number): Promise<{ session: SessionRecord; token: string } | undefined> {
    const now = this.clock.now();
    const claimedId = await this.store.peekPooledReady();
    if (!claimedId) return undefined;
    const token = newSessionToken(claimedId);
    const password = newPassword();
    const claimed = await this.store.claimPooled(claimedId, visitor, this.config.sessionsPerVisitor, {
      tokenHash: hashSecret(token),
      createdAt: now,
      readyAt: now,
      expiresAt: now + minutes * 60_000,
      durationMinutes: minutes,
    }, now);
    if (!claimed) return undefined;
    if ('refused' in claimed) throw errors.visitorLimit(this.config.sessionsPerVisitor);
    const log = this.sessionLog(claimed);
    if (this.provider.setCredentials && claimed.providerRef) {
      try {
        await this.provider.setCredentials(claimed.providerRef as ProviderRef, claimed.username, password);
        await this.store.update(claimed.id, { password }, this.clock.now());
        claimed.password = password;
      } catch (error) {
        // A member we cannot re-key is not handed out: end it and build a fresh desktop instead.
        log.error({ err: this.redactError(error, claimed) }, 'could not set credentials on a pool member');
        await this.destroy(claimed.id, 'pool member could not be re-keyed');
        return undefined;
      }
    }
    log.info({ status: 'ready', pooled: false, claimed_from_pool: true }, 'session claimed from the warm pool');
    this.emit('changed');
    return { session: (await this.store.get(claimed.id)) ?? claimed, token };
  }

  /** Ends one pool member to make room for a visitor. True when a container was given back. */
  private async shrinkPoolForVisitor(): Promise<boolean> {
    const [member] = await this.store.list({ pooled: true, statuses: ['creating', 'ready'], limit: 1 });
    if (!member) return false;
    const after = await this.destroy(member.id, 'pool shrinks for a visitor', { wait: true });
    return !after.holdsContainer;
  }

  async get(id: string): Promise<SessionRecord> {
    const session = await this.store.get(id);
    if (!session) throw errors.notFound();
    return session;
  }

  list(filter: Parameters<Store['list']>[0] = {}): Promise<SessionRecord[]> {
    return this.store.list(filter);
  }

  /**
   * Ends a session: `destroying` is written first, then the container is removed in
   * the background (or awaited with `wait`). Ending an ended session is a no-op.
   */
  async destroy(id: string, reason: string, options: { wait?: boolean } = {}): Promise<SessionRecord> {
    const now = this.clock.now();
    const moved = await this.store.transition(id, ['creating', 'ready'], 'destroying', { endedAt: now }, now);
    const session = moved ?? await this.get(id);
    if (moved) {
      this.sessionLog(moved).info({ status: 'destroying', reason }, 'session ending');
      this.emit('changed');
    }
    const work = session.status === 'destroying' ? this.startDestruction(session) : undefined;
    if (options.wait && work) await work;
    return options.wait ? this.get(id) : session;
  }

  /** Moves `expires_at` later by `minutes` (default: the standard duration), up to the maximum lifetime. */
  async extend(id: string, minutes?: number): Promise<SessionRecord> {
    const session = await this.get(id);
    if (session.status !== 'ready' && session.status !== 'creating') {
      throw errors.conflict(`This session is ${session.status}; only a running session can be extended.`);
    }
    const step = minutes ?? this.config.sessionMinutes;
    if (!Number.isInteger(step) || step < 1 || step > this.config.maxSessionMinutes) {
      throw errors.badRequest(`minutes must be a whole number from 1 to ${this.config.maxSessionMinutes}.`);
    }
    const limit = this.maxExpiry(session);
    if (session.expiresAt >= limit) {
      const e = new WinuxError('extension_limit', 409,
        `This session already runs for the longest time allowed (${this.config.maxSessionMinutes} minutes).`,
        { max_expires_at: new Date(limit).toISOString() });
      throw e;
    }
    const expiresAt = Math.min(session.expiresAt + step * 60_000, limit);
    const durationMinutes = Math.round((expiresAt - session.createdAt) / 60_000);
    const now = this.clock.now();
    const updated = await this.store.update(id, { expiresAt, durationMinutes }, now, ['creating', 'ready']);
    if (!updated) throw errors.conflict('This session ended while it was being extended.');
    this.sessionLog(session).info({ expires_at: new Date(expiresAt).toISOString() }, 'session extended');
    this.emit('changed');
    return this.get(id);
  }

  /** Median of recent creation times, or a provider-typical guess before any. */
  estimatedReadySeconds(): number {
    if (!this.recentReadyMs.length) return this.provider.name === 'lxc' ? 10 : 45;
    const sorted = [...this.recentReadyMs].sort((a, b) => a - b);
    return Math.max(1, Math.ceil(sorted[Math.floor(sorted.length / 2)] / 1000));
  }

  /** The latest `expires_at` a session may reach. */
  maxExpiry(session: SessionRecord): number {
    return session.createdAt + this.config.maxSessionMinutes * 60_000;
  }

  /** Ends every session whose time is up, now. Returns the ids it ended. */
  async cleanupExpired(options: { wait?: boolean; limit?: number } = {}): Promise<string[]> {
    const due = await this.store.dueForExpiry(this.clock.now(), options.limit ?? 1000);
    const ended: string[] = [];
    await Promise.all(due.map(async (session) => {
      try {
        const after = await this.destroy(session.id, 'expired', { wait: options.wait });
        if (after.status !== 'failed') ended.push(session.id);
      } catch (error) {
        this.sessionLog(session).error({ err: error }, 'could not end expired session');
      }
    }));
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

  /**
   * Brings every session the store believes alive in line with the provider, and
   * removes machines nobody owns. Run before serving, and periodically.
   */
  async reconcile(options: { startup?: boolean } = {}): Promise<ReconcileStats> {
    const stats: ReconcileStats = { checked: 0, resumed: 0, failed: 0, destroyed: 0, orphansRemoved: 0 };
    const sessions = await this.store.needingAttention();
    // Only this Winux's id range: another Winux on the same host or cluster owns the rest.
    const machines = (await this.provider.list())
      .filter((m) => m.containerId >= this.config.containerIdMin && m.containerId <= this.config.containerIdMax);
    const machineById = new Map(machines.map((m) => [m.containerId, m]));
    const now = this.clock.now();
    for (const session of sessions) {
      stats.checked++;
      try {
        if (session.status === 'creating') {
          if (this.creating.has(session.id)) continue;
          if (now - session.statusChangedAt > this.config.createTimeoutMs || session.expiresAt <= now) {
            await this.fail(session, 'Creation did not finish in time.');
            stats.failed++;
          } else if (options.startup) {
            // Interrupted by a restart: `create` adopts whatever was already built.
            this.sessionLog(session).info('resuming interrupted creation');
            this.startCreation(session);
            stats.resumed++;
          }
        } else if (session.status === 'ready') {
          const machine = machineById.get(session.containerId);
          if (!machine || machine.state !== 'running') {
            await this.fail(session, machine ? 'The desktop stopped unexpectedly.' : 'The desktop disappeared unexpectedly.');
            stats.failed++;
          }
        } else if (session.status === 'destroying' || session.holdsContainer) {
          if (!this.destroying.has(session.id)) {
            this.startDestruction(session);
            stats.destroyed++;
          }
        }
      } catch (error) {
        this.sessionLog(session).error({ err: error }, 'reconcile failed for session');
      }
    }
    const held = new Set((await this.store.list({ holdsContainer: true })).map((s) => s.containerId));
    for (const machine of machines) {
      if (held.has(machine.containerId)) continue;
      try {
        this.log.warn({ container_id: machine.containerId }, 'removing orphan container');
        await this.provider.destroy(machine.ref);
        stats.orphansRemoved++;
      } catch (error) {
        this.log.error({ err: error, container_id: machine.containerId }, 'could not remove orphan container');
      }
    }
    await this.store.purgeEnded(now - keepEndedMs);
    return stats;
  }

  /** Fails creations that ran too long and retries cleanups that failed before. Returns how many it touched. */
  async retryStuck(): Promise<number> {
    const now = this.clock.now();
    let touched = 0;
    for (const session of await this.store.stuck(now - this.config.createTimeoutMs, 200)) {
      if (session.status === 'creating' && !this.creating.has(session.id)) {
        await this.fail(session, 'Creation did not finish in time.');
        touched++;
      } else if ((session.status === 'destroying' || (session.status === 'failed' && session.holdsContainer))
          && !this.destroying.has(session.id) && !this.creating.has(session.id)) {
        // Back off: retry after 2^attempts sweeps' worth of time, capped at 10 minutes.
        const wait = Math.min(600_000, 1000 * 2 ** Math.min(session.cleanupAttempts, 10));
        if (now - session.updatedAt >= wait) {
          this.startDestruction(session);
          touched++;
        }
      }
    }
    return touched;
  }

  /** Stops taking new work and waits (up to `timeoutMs`) for in-flight work; the rest is reconciled on next start. */
  async shutdown(timeoutMs = 20_000): Promise<void> {
    this.closing = true;
    const pending = Promise.allSettled([...this.background]);
    await Promise.race([pending, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Resolves when every background task started so far has settled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.background.size) await Promise.allSettled([...this.background]);
  }

  private startCreation(session: SessionRecord): void {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error('creation timed out')), this.config.createTimeoutMs);
    timer.unref();
    const done = this.track(this.runCreation(session, abort.signal).finally(() => {
      clearTimeout(timer);
      this.creating.delete(session.id);
    }));
    this.creating.set(session.id, { abort, done });
  }

  private async runCreation(session: SessionRecord, signal: AbortSignal): Promise<void> {
    let log = this.sessionLog(session);
    let lastStep: CreationStep = session.step;
    const progress = (step: CreationStep) => {
      if (step === lastStep) return;
      lastStep = step;
      log.debug({ step }, 'creation step');
      this.store.setStep(session.id, step, this.clock.now()).catch((err) => log.warn({ err }, 'could not record step'));
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const machine = await this.provider.create(this.specFor(session), { signal, progress });
        await this.markReady(session, machine, log);
        return;
      } catch (error) {
        if (signal.aborted && (await this.store.get(session.id))?.status === 'destroying') {
          log.info('creation stopped because the session is ending');
          return;
        }
        if (error instanceof ContainerIdTakenError && !signal.aborted && attempt < maxIdMoves) {
          // Still inside this creation (so a DELETE waits for it): set the id aside, take another, go again.
          const now = this.clock.now();
          const moved = await this.store.moveToAnotherId(session.id, session.containerId, error.message, now + foreignIdQuarantineMs, this.allocationRules(), now);
          if (moved?.status === 'creating') {
            log.warn({ taken_id: session.containerId, container_id: moved.containerId }, 'container id occupied by a foreign machine; trying another');
            session = moved;
            log = this.sessionLog(session);
            continue;
          }
        }
        const message = signal.aborted ? 'Creation did not finish in time.' : this.describe(error, session);
        log.error({ err: this.redactError(error, session) }, 'creation failed');
        const current = await this.store.get(session.id);
        if (current) await this.fail(current, `Could not prepare the desktop: ${message}`);
        return;
      }
    }
  }

  private allocationRules() {
    return {
      idMin: this.config.containerIdMin,
      idMax: this.config.containerIdMax,
      maxSessions: this.config.maxSessions,
      perVisitor: this.config.sessionsPerVisitor,
    };
  }

  private specFor(session: SessionRecord) {
    return {
      sessionId: session.id,
      containerId: session.containerId,
      hostname: `winux-${session.containerId}`,
      username: session.username,
      password: session.password,
      memoryMb: this.config.resources.memoryMb,
      cores: this.config.resources.cores,
      diskGb: this.config.resources.diskGb,
      pidsMax: this.config.resources.pidsMax,
    };
  }

  private async markReady(session: SessionRecord, machine: CreatedMachine, log: Logger): Promise<void> {
    const now = this.clock.now();
    const ready = await this.store.transition(session.id, ['creating'], 'ready', {
      step: 'ready',
      node: machine.node,
      ip: machine.ip,
      endpointHost: machine.endpoint.host,
      port: machine.endpoint.port,
      providerRef: machine.ref,
      // A provider may log visitors in as another user (e.g. Proxmox without SSH: root's password is the one set).
      username: machine.username ?? session.username,
      readyAt: now,
    }, now);
    if (ready) {
      this.recentReadyMs.push(now - session.createdAt);
      if (this.recentReadyMs.length > 20) this.recentReadyMs.shift();
      log.info({ status: 'ready', seconds: (now - session.createdAt) / 1000 }, 'session ready');
      this.emit('changed');
    } else {
      // Ended (or failed) while it was being built: the destruction waiting for us removes it.
      await this.store.update(session.id, { providerRef: machine.ref }, now);
      log.info('session ended during creation; removing its machine');
    }
  }

  /** Marks a session failed (if it was live) and removes its machine. */
  private async fail(session: SessionRecord, message: string): Promise<void> {
    const now = this.clock.now();
    const failed = await this.store.transition(session.id, ['creating', 'ready', 'destroying'], 'failed', { error: message, endedAt: now }, now);
    if (failed) {
      this.sessionLog(session).warn({ status: 'failed', error: message }, 'session failed');
      this.emit('changed');
    }
    const current = failed ?? await this.store.get(session.id);
    if (current?.holdsContainer) this.startDestruction(current);
  }

  private startDestruction(session: SessionRecord): Promise<void> {
    const existing = this.destroying.get(session.id);
    if (existing) return existing;
    const done = this.track(this.runDestruction(session.id).finally(() => this.destroying.delete(session.id)));
    this.destroying.set(session.id, done);
    return done;
  }

  private async runDestruction(id: string): Promise<void> {
    // A creation still running here is stopped first, so it cannot build a machine after we removed it.
    const creation = this.creating.get(id);
    if (creation) {
      creation.abort.abort(new Error('session ending'));
      await creation.done;
    }
    const session = await this.store.get(id);
    if (!session || !session.holdsContainer) return;
    const log = this.sessionLog(session);
    const ref: ProviderRef = { ...(session.providerRef ?? {}), containerId: session.containerId };
    try {
      await withTimeout(this.provider.destroy(ref), this.config.destroyTimeoutMs, 'destroy timed out');
      const now = this.clock.now();
      // The container is confirmed gone: only now may its id be given to someone else.
      const ended = await this.store.transition(id, ['destroying'], 'destroyed', { holdsContainer: false, step: session.step }, now);
      if (ended) log.info({ status: 'destroyed' }, 'session destroyed');
      else await this.store.update(id, { holdsContainer: false }, now);
      this.emit('changed');
    } catch (error) {
      await this.store.noteCleanupAttempt(id, this.clock.now());
      log.error({ err: this.redactError(error, session), attempts: session.cleanupAttempts + 1 }, 'could not remove container; will retry');
      const now = this.clock.now();
      if (session.status === 'destroying' && now - session.statusChangedAt > this.config.destroyTimeoutMs) {
        await this.store.transition(id, ['destroying'], 'failed', { error: `Could not remove the desktop: ${this.describe(error, session)}` }, now);
      }
    }
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    const tracked = promise.catch((error) => {
      this.log.error({ err: error }, 'background task failed');
    }) as Promise<T>;
    this.background.add(tracked);
    tracked.finally(() => this.background.delete(tracked));
    return tracked;
  }

  private sessionLog(session: Pick<SessionRecord, 'id' | 'containerId'>): Logger {
    return this.log.child({ session_id: session.id, container_id: session.containerId });
  }

  /** A person's message from a provider error, without the session's secrets. */
  private describe(error: unknown, session: SessionRecord): string {
    const text = error instanceof Error ? error.message : String(error);
    return scrub(text, session).slice(0, 500);
  }

  private redactError(error: unknown, session: SessionRecord): { message: string; name?: string } {
    if (!(error instanceof Error)) return { message: scrub(String(error), session) };
    return { name: error.name, message: scrub(error.message, session) };
  }
}

function scrub(text: string, session: SessionRecord): string {
  return session.password ? text.split(session.password).join('[redacted]') : text;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

export { liveStatuses };
