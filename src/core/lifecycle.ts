// MachineLifecycle: the provider side of a session, run in the background.
// Creation (with the move to another id when a foreign machine holds ours) and
// destruction, each at most once per session in this process; a destruction
// stops a creation still running first, so nothing is built after it was removed.
// The store is written before and after every provider call, so whatever a crash
// interrupts is finished by the reconciler on the next start. With several replicas
// on one database, work runs only under this replica's lease on the session
// (`owner`, renewed by the heartbeat, core/heartbeat.ts): a session another replica
// works on is left to it until its lease runs out.
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { CreatedMachine, CreateSpec, Provider, ProviderRef } from './provider-port.ts';
import type { AllocationRules, OwnedWork, SessionStore } from './store-port.ts';
import type { Clock } from './clock.ts';
import { withTimeout } from './concurrency.ts';
import { ContainerIdTakenError, ProviderError } from './errors.ts';
import { sessionMoves, type Moves } from './moves.ts';
import type { CreationStep, SessionRecord } from './session.ts';
import type { Actor } from './audit-port.ts';
import { systemActor, type Audit } from './audit.ts';
import { errorCode, type TelemetryEvent } from './telemetry.ts';

/** How long an id found occupied by a foreign machine is skipped. */
const foreignIdQuarantineMs = 60 * 60_000;
/** Ids tried before a creation gives up on finding a free one. */
const maxIdMoves = 5;
/** Pushing the end time is one short command in the machine. */
const sessionInfoTimeoutMs = 15_000;

export interface LifecycleOptions {
  config: Config;
  store: SessionStore;
  provider: Provider;
  logger: Logger;
  clock: Clock;
  /** Called after every change of a session's status (`step` false) or creation step (`step` true). */
  changed(sessionId: string, step: boolean): void;
  /** Called with what metrics count (creation and removal times, provider errors). */
  report?(event: TelemetryEvent): void;
  /** Records failures in the audit log. */
  audit?: Audit;
}

export class MachineLifecycle {
  private readonly config: Config;
  private readonly store: SessionStore;
  private readonly moves: Moves;
  private readonly provider: Provider;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly changed: (sessionId: string, step: boolean) => void;
  private readonly report: (event: TelemetryEvent) => void;
  private readonly audit: Audit;
  /** Creations running in this process, so a delete can stop one and wait for it. */
  private readonly creating = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly destroying = new Map<string, Promise<void>>();
  private readonly background = new Set<Promise<unknown>>();
  /** Creations stopped because their work passed to another replica: they end without writing a failure. */
  private readonly handedOver = new Set<string>();
  /** How long the last few creations took, for the page's honest estimate. */
  private readonly recentReadyMs: number[] = [];

  constructor(options: LifecycleOptions) {
    this.config = options.config;
    this.store = options.store;
    this.moves = sessionMoves(options.store);
    this.provider = options.provider;
    this.log = options.logger;
    this.clock = options.clock;
    this.changed = options.changed;
    this.report = options.report ?? (() => {});
    this.audit = options.audit ?? (async () => {});
  }

  isCreating(id: string): boolean {
    return this.creating.has(id);
  }

  isDestroying(id: string): boolean {
    return this.destroying.has(id);
  }

  /** This replica's id: the owner written on the sessions it works on. */
  get replica(): string {
    return this.config.replicaId;
  }

  /** True while another replica's lease on this session's work runs (as far as this read of it knows). */
  heldElsewhere(session: SessionRecord): boolean {
    return this.store.shared && session.owner !== null && session.owner !== this.replica && (session.leaseUntil ?? 0) > this.clock.now();
  }

  /** Claims session `id`'s in-flight work for this replica; undefined while another replica's lease holds. */
  claim(id: string): Promise<SessionRecord | undefined> {
    const now = this.clock.now();
    return this.store.claimWork(id, this.replica, now + this.config.leaseMs, now);
  }

  /** Ids of the sessions this replica is working on now (what its heartbeat keeps leased). */
  inFlight(): string[] {
    return [...new Set([...this.creating.keys(), ...this.destroying.keys()])];
  }

  /**
   * After a heartbeat: `owned` is what the database still says is ours. A creation whose
   * session another replica ended (a DELETE or an expiry there) is stopped and removed here,
   * since we hold its lease; one whose lease was taken over (we were presumed dead) is
   * stopped without a word, the new owner finishes it; a lease left on a finished session
   * (its release failed) is given up.
   */
  afterHeartbeat(owned: OwnedWork[]): void {
    const status = new Map(owned.map((w) => [w.id, w.status]));
    for (const id of this.creating.keys()) {
      const now = status.get(id);
      if (now === undefined) this.stopCreation(id, 'its work was taken over by another replica');
      else if ((now === 'destroying' || now === 'failed') && !this.destroying.has(id)) {
        void this.store.get(id).then(
          (s) => s && this.startDestruction(s),
          () => {},
        );
      }
    }
    for (const [id] of status) if (!this.creating.has(id) && !this.destroying.has(id)) void this.resumeOwned(id);
  }

  /**
   * Work on record as ours that nothing here runs (creations stopped by `fence` while the
   * database was away, or a restart under the same WINUX_REPLICA_ID): ours to finish, since
   * nobody else may take it while we renew. A lease left on a finished session is given up.
   */
  private async resumeOwned(id: string): Promise<void> {
    try {
      const session = await this.store.get(id);
      if (!session || session.owner !== this.replica || this.creating.has(id) || this.destroying.has(id)) return;
      if (session.status === 'creating') {
        sessionLog(this.log, session).info('resuming a creation this replica owns');
        this.startCreation(session);
      } else if (session.holdsContainer && (session.status === 'destroying' || session.status === 'failed')) void this.startDestruction(session);
      else await this.releaseIfIdle(id);
    } catch (err) {
      this.log.warn({ err, session_id: id }, 'could not resume owned work; the next heartbeat tries again');
    }
  }

  /**
   * The heartbeat could not renew our leases for most of their length: another replica
   * may take this work over any moment, so creations stop now rather than build a
   * machine twice (a removal is idempotent and finishes).
   */
  fence(): void {
    for (const id of this.creating.keys()) this.stopCreation(id, 'its lease could not be renewed');
  }

  /**
   * Shutdown after the drain: creations still running are stopped and their leases given
   * up, so another replica resumes them at once (`create` adopts what is already built).
   */
  async handOver(): Promise<number> {
    for (const id of this.creating.keys()) this.stopCreation(id, 'this replica is shutting down');
    return this.store.handOverWork(this.replica);
  }

  private stopCreation(id: string, why: string): void {
    const creation = this.creating.get(id);
    if (!creation || this.handedOver.has(id)) return;
    this.log.warn({ session_id: id }, `creation stopped here: ${why}`);
    this.handedOver.add(id);
    creation.abort.abort(new Error(why));
  }

  /** Gives up the lease on `id` once this replica has no work left on it. */
  private async releaseIfIdle(id: string): Promise<void> {
    if (this.creating.has(id) || this.destroying.has(id)) return;
    await this.store.releaseWork(id, this.replica).catch((err) => this.log.warn({ err, session_id: id }, 'could not release a lease; it runs out'));
  }

  /** Median of recent creation times, or a provider-typical guess before any (LXC: 1.1–2.8 s measured in bench/). */
  estimatedReadySeconds(): number {
    if (!this.recentReadyMs.length) return this.provider.name === 'lxc' ? 3 : 45;
    const sorted = [...this.recentReadyMs].sort((a, b) => a - b);
    return Math.max(1, Math.ceil(sorted[Math.floor(sorted.length / 2)]! / 1000));
  }

  allocationRules(): AllocationRules {
    return {
      idMin: this.config.containerIdMin,
      idMax: this.config.containerIdMax,
      maxSessions: this.config.maxSessions,
      perVisitor: this.config.sessionsPerVisitor,
      perAddress: this.config.sessionsPerAddress,
    };
  }

  /** Builds the session's machine in the background; the session becomes `ready` or `failed`. */
  startCreation(session: SessionRecord): void {
    if (this.creating.has(session.id)) return;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error('creation timed out')), this.config.createTimeoutMs);
    timer.unref();
    const done = this.track(
      this.runCreation(session, abort.signal).finally(() => {
        clearTimeout(timer);
        this.creating.delete(session.id);
        // Handed over: the lease stays on record, run out, for the replica that takes it.
        if (!this.handedOver.delete(session.id)) return this.releaseIfIdle(session.id);
      }),
    );
    this.creating.set(session.id, { abort, done });
  }

  /** Removes the session's machine in the background (once, however often it is asked). */
  startDestruction(session: SessionRecord): Promise<void> {
    const existing = this.destroying.get(session.id);
    if (existing) return existing;
    const done = this.track(
      this.runDestruction(session.id).finally(() => {
        this.destroying.delete(session.id);
        return this.releaseIfIdle(session.id);
      }),
    );
    this.destroying.set(session.id, done);
    return done;
  }

  /** Marks a session failed (unless it has ended) and removes its machine. */
  async fail(session: SessionRecord, message: string, by: Actor = systemActor): Promise<void> {
    const now = this.clock.now();
    const failed = await this.moves.fail(session.id, { error: message, endedAt: now }, now);
    if (failed) {
      sessionLog(this.log, session).warn({ status: 'failed', error: message }, 'session failed');
      if (session.status === 'creating') this.report({ type: 'creation', ok: false, seconds: (now - session.createdAt) / 1000 });
      await this.audit('session.failed', {
        actor: by,
        sessionId: session.id,
        outcome: 'failed',
        detail: { was: session.status, step: session.step, pooled: session.pooled },
      });
      this.changed(session.id, false);
    }
    const current = failed ?? (await this.store.get(session.id));
    if (current?.holdsContainer) this.startDestruction(current);
  }

  /** Waits (up to `timeoutMs`) for in-flight work; the rest is reconciled on the next start. */
  async drain(timeoutMs: number): Promise<void> {
    const pending = Promise.allSettled([...this.background]);
    await Promise.race([pending, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Resolves when every background task started so far has settled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.background.size) await Promise.allSettled([...this.background]);
  }

  /**
   * Tells the running desktop its session's end (after an extension, or one made
   * while it was being built). Best effort: the extension stands in the store
   * whatever happens here; a failure is logged and the desktop keeps the old figure.
   */
  async pushSessionEnd(session: SessionRecord): Promise<void> {
    if (!this.provider.setSessionInfo || !session.providerRef || session.status !== 'ready') return;
    try {
      await withTimeout(
        this.provider.setSessionInfo(session.providerRef as ProviderRef, session.username, { endsAt: session.expiresAt }),
        sessionInfoTimeoutMs,
        'pushing the end time timed out',
      );
    } catch (error) {
      sessionLog(this.log, session).warn({ err: redactError(error, session) }, 'could not push the end time into the desktop');
      this.report({ type: 'provider_error', operation: 'set_session_info', code: errorCode(error) });
    }
  }

  private async runCreation(session: SessionRecord, signal: AbortSignal): Promise<void> {
    let log = sessionLog(this.log, session);
    let lastStep: CreationStep = session.step;
    const progress = (step: CreationStep) => {
      if (step === lastStep) return;
      lastStep = step;
      log.debug({ step }, 'creation step');
      this.store.setStep(session.id, step, this.clock.now()).then(
        () => this.changed(session.id, true),
        (err) => log.warn({ err }, 'could not record step'),
      );
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const machine = await this.provider.create(this.specFor(session), { signal, progress });
        await this.markReady(session, machine, log);
        return;
      } catch (error) {
        if (this.handedOver.has(session.id)) return;
        if (signal.aborted && (await this.store.get(session.id))?.status === 'destroying') {
          log.info('creation stopped because the session is ending');
          return;
        }
        if (error instanceof ContainerIdTakenError && !signal.aborted && attempt < maxIdMoves) {
          // Still inside this creation (so a DELETE waits for it): set the id aside, take another, go again.
          const now = this.clock.now();
          const moved = await this.store.moveToAnotherId(
            session.id,
            session.containerId,
            error.message,
            now + foreignIdQuarantineMs,
            this.allocationRules(),
            now,
          );
          if (moved?.status === 'creating') {
            log.warn({ taken_id: session.containerId, container_id: moved.containerId }, 'container id occupied by a foreign machine; trying another');
            session = moved;
            log = sessionLog(this.log, session);
            continue;
          }
        }
        const message = signal.aborted ? 'Creation did not finish in time.' : describe(error, session);
        log.error({ err: redactError(error, session) }, 'creation failed');
        this.report({ type: 'provider_error', operation: 'create', code: signal.aborted ? 'timeout' : errorCode(error) });
        const current = await this.store.get(session.id);
        if (current) await this.fail(current, `Could not prepare the desktop: ${message}`);
        return;
      }
    }
  }

  private specFor(session: SessionRecord): CreateSpec {
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
      desktop: session.desktop,
      language: session.language,
      endsAt: session.expiresAt,
    };
  }

  private async markReady(session: SessionRecord, machine: CreatedMachine, log: Logger): Promise<void> {
    const now = this.clock.now();
    const ready = await this.moves.markReady(
      session.id,
      {
        step: 'ready',
        node: machine.node,
        ip: machine.ip,
        endpointHost: machine.endpoint.host,
        port: machine.endpoint.port,
        providerRef: machine.ref,
        // A provider may log visitors in as another user (e.g. Proxmox without SSH: root's password is the one set).
        username: machine.username ?? session.username,
        readyAt: now,
      },
      now,
    );
    if (ready) {
      this.report({ type: 'creation', ok: true, seconds: (now - session.createdAt) / 1000 });
      this.recentReadyMs.push(now - session.createdAt);
      if (this.recentReadyMs.length > 20) this.recentReadyMs.shift();
      log.info({ status: 'ready', seconds: (now - session.createdAt) / 1000 }, 'session ready');
      this.changed(session.id, false);
      // Extended while it was being built: the desktop was told the first end.
      if (ready.expiresAt !== session.expiresAt) await this.pushSessionEnd(ready);
    } else {
      // Ended (or failed) while it was being built: the destruction waiting for us removes it,
      // or, when the end came from another replica (which left the work to our lease), one started here.
      await this.store.update(session.id, { providerRef: machine.ref }, now);
      log.info('session ended during creation; removing its machine');
      const current = await this.store.get(session.id);
      if (current?.holdsContainer && !this.destroying.has(session.id)) void this.startDestruction(current);
    }
  }

  private async runDestruction(id: string): Promise<void> {
    // A creation still running here is stopped first, so it cannot build a machine after we removed it.
    const creation = this.creating.get(id);
    if (creation) {
      creation.abort.abort(new Error('session ending'));
      await creation.done;
    }
    // Another replica's lease holds: that replica removes it (its heartbeat sees the session ending).
    const session = await this.claim(id);
    if (!session?.holdsContainer) return;
    const log = sessionLog(this.log, session);
    const ref: ProviderRef = { ...(session.providerRef ?? {}), containerId: session.containerId };
    try {
      await withTimeout(this.provider.destroy(ref), this.config.destroyTimeoutMs, 'destroy timed out');
      await this.confirmGone(ref);
      const now = this.clock.now();
      // The container is confirmed gone: only now may its id be given to someone else.
      const ended = await this.moves.markDestroyed(id, { holdsContainer: false, step: session.step }, now);
      if (ended) {
        log.info({ status: 'destroyed' }, 'session destroyed');
        this.report({ type: 'removal', ok: true, seconds: (now - session.statusChangedAt) / 1000 });
      } else await this.store.update(id, { holdsContainer: false }, now);
      this.changed(id, false);
    } catch (error) {
      await this.store.noteCleanupAttempt(id, this.clock.now());
      log.error({ err: redactError(error, session), attempts: session.cleanupAttempts + 1 }, 'could not remove container; will retry');
      const code = errorCode(error);
      this.report({ type: 'provider_error', operation: 'destroy', code });
      await this.audit('session.remove_failed', {
        actor: systemActor,
        sessionId: id,
        outcome: 'failed',
        detail: { code, attempts: session.cleanupAttempts + 1, will_retry: true },
      });
      const now = this.clock.now();
      if (session.status === 'destroying' && now - session.statusChangedAt > this.config.destroyTimeoutMs) {
        const failed = await this.moves.fail(id, { error: `Could not remove the desktop: ${describe(error, session)}` }, now);
        if (failed) this.report({ type: 'removal', ok: false, seconds: (now - session.statusChangedAt) / 1000 });
      }
    }
  }

  /**
   * After a destroy, the provider must say the machine is gone before its id is given to
   * anyone else: a destroy that "succeeded" on a machine it could not see would otherwise
   * hand a live machine's id to a new session. Throws (the removal is retried) otherwise.
   */
  async confirmGone(ref: ProviderRef): Promise<void> {
    const state = await withTimeout(this.provider.status(ref), this.config.destroyTimeoutMs, 'status after destroy timed out');
    if (state !== 'missing') throw new ProviderError(`container ${ref.containerId} is still there (${state}) after its removal`, true);
  }

  /** Runs `promise` as background work: logged if it fails, awaited by drain() and idle(). */
  track<T>(promise: Promise<T>): Promise<T> {
    const tracked = promise.catch((error) => {
      this.log.error({ err: error }, 'background task failed');
    }) as Promise<T>;
    this.background.add(tracked);
    tracked.finally(() => this.background.delete(tracked));
    return tracked;
  }
}

export function sessionLog(log: Logger, session: Pick<SessionRecord, 'id' | 'containerId'>): Logger {
  return log.child({ session_id: session.id, container_id: session.containerId });
}

/** A person's message from a provider error, without the session's secrets. */
function describe(error: unknown, session: SessionRecord): string {
  const text = error instanceof Error ? error.message : String(error);
  return scrub(text, session).slice(0, 500);
}

/** An error as it may be logged: its message without the session's password. */
export function redactError(error: unknown, session: SessionRecord): { message: string; name?: string } {
  if (!(error instanceof Error)) return { message: scrub(String(error), session) };
  return { name: error.name, message: scrub(error.message, session) };
}

function scrub(text: string, session: SessionRecord): string {
  return session.password ? text.split(session.password).join('[redacted]') : text;
}
