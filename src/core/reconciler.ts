// The reconciler: brings what the store believes in line with what the
// provider has. Run once before serving (after a crash or restart, whatever was
// interrupted is finished here) and by the reaper's sweep (stuck work retried).
// With several replicas only the leader runs it, and it leaves alone any session
// another replica holds a lease on; work whose owner's lease ran out is taken over.
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { ManagedMachine, Provider } from './provider-port.ts';
import type { SessionStore } from './store-port.ts';
import type { Clock } from './clock.ts';
import { forEachBounded, providerConcurrency, withTimeout } from './concurrency.ts';
import { sessionLog, type MachineLifecycle } from './lifecycle.ts';
import { completeFrom, dayMs, dayOf, startOfDay, usageByDay, type UsageHistory } from './usage-days.ts';
import type { AuditLog } from './audit-port.ts';
import type { Audit } from './audit.ts';
import { errorCode, type TelemetryEvent } from './telemetry.ts';

export interface ReconcileStats {
  checked: number;
  /** Ready sessions not seen running this pass, kept until enough passes (and a status check) agree. */
  unseen: number;
  resumed: number;
  failed: number;
  destroyed: number;
  /** Machines found that no session holds. */
  orphans: number;
  /** Orphans removed by this pass (at start-up they are removed in the background: 0 here). */
  orphansRemoved: number;
}

export interface ReconcilerOptions {
  config: Config;
  store: SessionStore;
  provider: Provider;
  logger: Logger;
  clock: Clock;
  lifecycle: MachineLifecycle;
  /** The audit log, purged here after `config.auditDays`. */
  audit?: AuditLog;
  /** Daily usage, written here while each day's sessions are all kept, purged after `config.usageDays`. */
  usageHistory?: UsageHistory;
  record?: Audit;
  report?(event: TelemetryEvent): void;
}

/** Finished sessions are kept this long for the record, then purged. */
export const keepEndedMs = 7 * 24 * 3600_000;

/** Listing every managed machine is one API call or one directory read. */
const listTimeoutMs = 60_000;

/**
 * A ready session is failed only after this many consecutive passes without its machine
 * running in `list()`, and then only if a direct `status()` agrees: one listing can miss a
 * live machine (a Proxmox node briefly "unknown", a token that lost VM.Audit).
 */
export const missesBeforeFailing = 3;
const statusTimeoutMs = 30_000;

export class Reconciler {
  /** Orphans being removed now, so an overlapping pass does not remove one twice. */
  private readonly removingOrphans = new Set<number>();
  /** Ready sessions not seen running, by id: consecutive passes that missed them. */
  private readonly misses = new Map<string, number>();

  constructor(private readonly o: ReconcilerOptions) {}

  /**
   * Every session the store believes alive is checked against the provider, and
   * machines nobody owns (in this Winux's id range) are removed. With `startup`,
   * interrupted creations are resumed (`create` adopts whatever was already built)
   * and orphans are removed in the background, so serving never waits on one.
   */
  async reconcile(options: { startup?: boolean } = {}): Promise<ReconcileStats> {
    const { config, store, provider, clock, lifecycle, logger } = this.o;
    const stats: ReconcileStats = { checked: 0, unseen: 0, resumed: 0, failed: 0, destroyed: 0, orphans: 0, orphansRemoved: 0 };
    const sessions = await store.needingAttention();
    // Only this Winux's id range: another Winux on the same host or cluster owns the rest.
    const listed = await withTimeout(provider.list(), listTimeoutMs, 'listing machines timed out').catch((error: unknown) => {
      this.o.report?.({ type: 'provider_error', operation: 'list', code: errorCode(error) });
      throw error;
    });
    const machines = listed.filter((m) => m.containerId >= config.containerIdMin && m.containerId <= config.containerIdMax);
    const machineById = new Map(machines.map((m) => [m.containerId, m]));
    const now = clock.now();
    for (const session of sessions) {
      stats.checked++;
      try {
        if (session.status === 'creating') {
          if (lifecycle.isCreating(session.id) || lifecycle.heldElsewhere(session)) continue;
          // Ours on record but not running here: a creation this process is just starting (after start-up).
          if (!options.startup && session.owner === lifecycle.replica) continue;
          const timedOut = now - session.statusChangedAt > config.createTimeoutMs || session.expiresAt <= now;
          if (!timedOut && !options.startup && !store.shared) continue;
          const claimed = await lifecycle.claim(session.id);
          if (claimed?.status !== 'creating') continue;
          if (timedOut) {
            await lifecycle.fail(claimed, 'Creation did not finish in time.', { kind: 'reconciler' });
            stats.failed++;
          } else {
            sessionLog(logger, session).info('resuming interrupted creation');
            lifecycle.startCreation(claimed);
            stats.resumed++;
          }
        } else if (session.status === 'ready') {
          const machine = machineById.get(session.containerId);
          if (machine?.state === 'running') {
            this.misses.delete(session.id);
            continue;
          }
          const missed = (this.misses.get(session.id) ?? 0) + 1;
          this.misses.set(session.id, missed);
          if (missed < missesBeforeFailing) {
            stats.unseen++;
            continue;
          }
          // Asked directly, by its own ref; a status that cannot be read fails nothing (caught below).
          const ref = { ...(session.providerRef ?? {}), containerId: session.containerId };
          const state = await withTimeout(provider.status(ref), statusTimeoutMs, 'status timed out');
          if (state === 'running') {
            this.misses.delete(session.id);
            continue;
          }
          this.misses.delete(session.id);
          await lifecycle.fail(session, state === 'stopped' ? 'The desktop stopped unexpectedly.' : 'The desktop disappeared unexpectedly.', {
            kind: 'reconciler',
          });
          stats.failed++;
        } else if (session.status === 'destroying' || session.holdsContainer) {
          if (!lifecycle.isDestroying(session.id) && !lifecycle.heldElsewhere(session)) {
            lifecycle.startDestruction(session);
            stats.destroyed++;
          }
        }
      } catch (error) {
        sessionLog(logger, session).error({ err: error }, 'reconcile failed for session');
      }
    }
    // Forget misses of sessions that are no longer ready (ended, failed): only consecutive passes count.
    const ready = new Set(sessions.filter((s) => s.status === 'ready').map((s) => s.id));
    for (const id of this.misses.keys()) if (!ready.has(id)) this.misses.delete(id);
    const held = new Set((await store.list({ holdsContainer: true })).map((s) => s.containerId));
    const orphans = machines.filter((m) => !held.has(m.containerId) && !this.removingOrphans.has(m.containerId));
    stats.orphans = orphans.length;
    const removal = this.removeOrphans(orphans).then((n) => {
      stats.orphansRemoved = n;
    });
    // Start-up never waits on a slow removal: it finishes in the background (drained on shutdown).
    if (options.startup) lifecycle.track(removal);
    else await removal;
    await this.keepUsage(now);
    await store.purgeEnded(now - keepEndedMs);
    await this.o.audit?.purge(now - config.auditDays * 24 * 3600_000);
    return stats;
  }

  /** Writes the days whose sessions are all still kept (so each day's last row is complete before any purge), drops old days. */
  private async keepUsage(now: number): Promise<void> {
    const history = this.o.usageHistory;
    if (!history) return;
    const from = completeFrom(now, keepEndedMs);
    const days = Math.round((startOfDay(now) - from) / dayMs) + 1;
    const sessions = await this.o.store.list({ pooled: false, limit: 50_000 });
    // A day without sessions needs no row: the charts show it as zero.
    await history.save(usageByDay(sessions, now, days).filter((d) => d.sessions > 0));
    await history.purge(dayOf(now - this.o.config.usageDays * dayMs));
  }

  /** Removes machines nobody owns, a few at a time, each bounded by the destroy timeout. Returns how many went. */
  private async removeOrphans(orphans: ManagedMachine[]): Promise<number> {
    const { config, provider, logger, store, clock, lifecycle } = this.o;
    let removed = 0;
    for (const m of orphans) this.removingOrphans.add(m.containerId);
    // While an orphan is being removed its id is set aside: a new session given that id
    // would otherwise adopt the machine being removed (`create` adopts what exists).
    await forEachBounded(orphans, providerConcurrency, (m) => store.setAside(m.containerId, 'orphan being removed', clock.now() + config.destroyTimeoutMs));
    await forEachBounded(orphans, providerConcurrency, async (machine) => {
      try {
        logger.warn({ container_id: machine.containerId }, 'removing orphan container');
        await withTimeout(provider.destroy(machine.ref), config.destroyTimeoutMs, 'destroy timed out');
        await lifecycle.confirmGone(machine.ref);
        await store.release(machine.containerId);
        removed++;
        await this.o.record?.('orphan.removed', { actor: { kind: 'reconciler' }, detail: { container_id: machine.containerId } });
      } catch (error) {
        logger.error({ err: error, container_id: machine.containerId }, 'could not remove orphan container');
        this.o.report?.({ type: 'provider_error', operation: 'destroy', code: errorCode(error) });
        await this.o.record?.('orphan.removed', {
          actor: { kind: 'reconciler' },
          outcome: 'failed',
          detail: { container_id: machine.containerId, code: errorCode(error) },
        });
      } finally {
        this.removingOrphans.delete(machine.containerId);
      }
    });
    return removed;
  }

  /**
   * Fails creations that ran too long, retries cleanups that failed before, and takes
   * over work whose replica's lease ran out (it died, or handed the work over when it
   * stopped). Returns how many it touched.
   */
  async retryStuck(): Promise<number> {
    const { config, store, clock, lifecycle, logger } = this.o;
    const now = clock.now();
    let touched = 0;
    for (const session of await store.abandoned(lifecycle.replica, now, 200)) {
      if (lifecycle.isCreating(session.id) || lifecycle.isDestroying(session.id)) continue;
      const claimed = await lifecycle.claim(session.id);
      if (!claimed) continue;
      sessionLog(logger, claimed).warn({ from: session.owner, status: claimed.status }, 'taking over work whose lease ran out');
      if (claimed.status === 'creating') {
        if (now - claimed.statusChangedAt > config.createTimeoutMs || claimed.expiresAt <= now) {
          await lifecycle.fail(claimed, 'Creation did not finish in time.', { kind: 'reconciler' });
        } else lifecycle.startCreation(claimed);
      } else if (claimed.holdsContainer) void lifecycle.startDestruction(claimed);
      else await store.releaseWork(claimed.id, lifecycle.replica);
      touched++;
    }
    for (const session of await store.stuck(now - config.createTimeoutMs, 200)) {
      if (lifecycle.heldElsewhere(session)) continue;
      if (session.status === 'creating' && !lifecycle.isCreating(session.id)) {
        const claimed = await lifecycle.claim(session.id);
        if (claimed?.status !== 'creating') continue;
        await lifecycle.fail(claimed, 'Creation did not finish in time.', { kind: 'reconciler' });
        touched++;
      } else if (
        (session.status === 'destroying' || (session.status === 'failed' && session.holdsContainer)) &&
        !lifecycle.isDestroying(session.id) &&
        !lifecycle.isCreating(session.id)
      ) {
        // Back off: retry after 2^attempts sweeps' worth of time, capped at 10 minutes.
        const wait = Math.min(600_000, 1000 * 2 ** Math.min(session.cleanupAttempts, 10));
        if (now - session.updatedAt >= wait) {
          lifecycle.startDestruction(session);
          touched++;
        }
      }
    }
    return touched;
  }
}
