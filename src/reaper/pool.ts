// The warm pool (like Kasm staging or OpenUDS' cache): WINUX_POOL_SIZE desktops
// kept started and ready, so a click is answered with a desktop at once. Members
// are ordinary sessions marked `pooled` (so the reconciler and the id allocator
// treat them like any other), owned by no visitor, recycled after
// WINUX_POOL_MAX_AGE_MINUTES. The pool only uses free capacity, and the service
// ends a member when a visitor needs its container.
import type { Clock } from '../core/clock.ts';
import { runningStatuses } from '../core/session.ts';
import type { SessionService } from '../core/service.ts';
import type { Logger } from '../logger.ts';
import type { SessionStore } from '../core/store-port.ts';

export interface WarmPoolOptions {
  service: SessionService;
  store: SessionStore;
  clock: Clock;
  logger: Logger;
  size: number;
  maxAgeMs: number;
  intervalMs: number;
  /** False while another replica leads (it keeps the pool); always true by default. */
  leader?: () => boolean;
}

export interface PoolStats {
  members: number;
  created: number;
  recycled: number;
  /** Members ended because the pool was made smaller. */
  shrunk: number;
  /** True when recent members failed and refilling waits (back-off). */
  backingOff: boolean;
}

const maxBackoffMs = 10 * 60_000;

export class WarmPool {
  private timer: unknown;
  private pending: unknown;
  private running = false;
  private stopped = true;
  private readonly onChange = () => this.soon();
  private size: number;

  constructor(private readonly options: WarmPoolOptions) {
    this.size = options.size;
  }

  /** True between start() and stop(). */
  get started(): boolean {
    return !this.stopped;
  }

  /** The number of ready members wanted now. */
  get targetSize(): number {
    return this.size;
  }

  /** Changes the size at run time (the console; the caller persists it): the pool grows or shrinks on its next pass, started now. */
  setSize(size: number): void {
    this.size = size;
    this.soon();
  }

  start(): void {
    this.stopped = false;
    this.options.service.on('changed', this.onChange);
    this.soon();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.options.service.off('changed', this.onChange);
    for (const t of [this.timer, this.pending]) if (t) this.options.clock.clearTimeout(t);
    this.timer = this.pending = undefined;
  }

  async runOnce(): Promise<PoolStats> {
    const { service, store, clock, maxAgeMs, logger } = this.options;
    const size = this.size;
    const stats: PoolStats = { members: 0, created: 0, recycled: 0, shrunk: 0, backingOff: false };
    if (this.running || this.options.leader?.() === false) return stats;
    this.running = true;
    try {
      const now = clock.now();
      const members = await store.list({ pooled: true, statuses: runningStatuses });
      const kept = [];
      for (const m of members) {
        // Guarded: a member claimed since this list was read is a visitor's now, not recycled.
        if (m.status === 'ready' && now - m.createdAt > maxAgeMs && (await service.recyclePoolMember(m.id, now - maxAgeMs - 1))) {
          stats.recycled++;
        } else kept.push(m);
      }
      // Made smaller: members still being built go first, then the newest ready ones.
      kept.sort((a, b) => Number(a.status === 'ready') - Number(b.status === 'ready') || b.createdAt - a.createdAt);
      for (const m of kept.slice(0, Math.max(0, kept.length - size))) {
        await service.destroy(m.id, 'pool made smaller', { by: { kind: 'pool' } });
        stats.shrunk++;
      }
      stats.members = kept.length - stats.shrunk;
      const waitUntil = await this.backoffUntil();
      if (waitUntil > now) {
        stats.backingOff = true;
        return stats;
      }
      const free = (await service.capacity()).free;
      const wanted = Math.min(size - stats.members, free);
      for (let i = 0; i < wanted; i++) {
        if (!(await service.createPoolMember())) break;
        stats.created++;
        stats.members++;
      }
      if (stats.created || stats.recycled || stats.shrunk) logger.info(stats, 'warm pool');
    } catch (error) {
      logger.error({ err: error }, 'warm pool pass failed');
    } finally {
      this.running = false;
    }
    return stats;
  }

  /** After consecutive failed members, wait 5 s · 2^n (at most 10 min) before building more. */
  private async backoffUntil(): Promise<number> {
    const recent = await this.options.store.list({ pooled: true, limit: 8 });
    let failures = 0;
    for (const m of recent) {
      if (m.status !== 'failed') break;
      failures++;
    }
    if (!failures) return 0;
    return recent[0].updatedAt + Math.min(maxBackoffMs, 5000 * 2 ** (failures - 1));
  }

  /** Coalesces bursts of changes into one pass. */
  private soon(): void {
    if (this.stopped || this.pending) return;
    this.pending = this.options.clock.setTimeout(() => {
      this.pending = undefined;
      void this.runOnce();
    }, 50);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => {
      void this.runOnce().finally(() => this.schedule());
    }, this.options.intervalMs);
  }
}
