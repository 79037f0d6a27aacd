// The heartbeat of one replica among several on one PostgreSQL: every third of a
// lease it renews the leases on the sessions it works on and on leadership (one
// leader at a time runs expiry, the reconciler and the warm pool). Leadership is a
// lease row, not an advisory lock: see ARCHITECTURE.md "Several replicas".
// A replica that cannot renew for most of a lease stops its creations (another may
// take them over at the lease's end) and steps down. With SQLite (one process) every
// claim succeeds and this replica is always the leader.
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Clock } from './clock.ts';
import type { MachineLifecycle } from './lifecycle.ts';
import type { SessionStore } from './store-port.ts';

export const leaderLease = 'leader';

export interface HeartbeatOptions {
  config: Config;
  store: SessionStore;
  clock: Clock;
  logger: Logger;
  lifecycle: MachineLifecycle;
}

export class Heartbeat {
  private leading: boolean;
  private timer: unknown;
  private lastRenewed: number;
  private running = false;
  private resigned = false;

  constructor(private readonly o: HeartbeatOptions) {
    this.leading = !o.store.shared;
    this.lastRenewed = o.clock.now();
  }

  /** True while this replica holds the leader lease (always with SQLite). */
  get leader(): boolean {
    return this.leading;
  }

  /** One beat: renew work leases, act on what changed, take or keep leadership. */
  async beat(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const { config, store, clock, logger, lifecycle } = this.o;
    const now = clock.now();
    const until = now + config.leaseMs;
    try {
      lifecycle.afterHeartbeat(await store.renewWork(config.replicaId, until));
      this.lastRenewed = now;
      const leading = !this.resigned && (await store.holdLease(leaderLease, config.replicaId, until, now));
      if (leading !== this.leading)
        logger.info({ replica: config.replicaId }, leading ? 'this replica leads now (expiry, reconciler, pool)' : 'this replica no longer leads');
      this.leading = leading;
    } catch (err) {
      logger.warn({ err }, 'heartbeat failed');
      // Two thirds of a lease without renewal: the rest is the margin before another replica may take over.
      if (now - this.lastRenewed > (config.leaseMs * 2) / 3) {
        lifecycle.fence();
        if (store.shared) this.leading = false;
      }
    } finally {
      this.running = false;
    }
  }

  start(): void {
    const tick = () => {
      this.timer = this.o.clock.setTimeout(() => {
        void this.beat().finally(() => {
          if (this.timer !== undefined) tick();
        });
      }, this.o.config.leaseMs / 3);
    };
    tick();
  }

  /**
   * Gives leadership up for good (a replica shutting down), so another replica need not
   * wait for the lease to run out; work leases are still renewed until stop().
   */
  async resign(): Promise<void> {
    this.resigned = true;
    if (!this.o.store.shared) return;
    this.leading = false;
    await this.o.store.dropLease(leaderLease, this.o.config.replicaId).catch(() => {});
  }

  stop(): void {
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
