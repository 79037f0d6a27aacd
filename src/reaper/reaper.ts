// The reaper ends sessions on time. Two mechanisms, because either alone is not
// enough: a timer armed for the next `expires_at` (so a session ends within a
// moment of its expiry, not up to a sweep late), and a periodic sweep as a safety
// net that also fails stuck creations, retries failed cleanups and, every few
// sweeps, reconciles the store with the provider's list (orphans, vanished machines).
import type { Clock } from '../core/clock.ts';
import type { SessionService } from '../core/service.ts';
import type { Logger } from '../logger.ts';
import type { SessionStore } from '../core/store-port.ts';

export interface ReaperOptions {
  service: SessionService;
  store: SessionStore;
  clock: Clock;
  logger: Logger;
  sweepIntervalMs: number;
  /** Reconcile with the provider every this many sweeps. */
  reconcileEvery?: number;
  /** Most sessions ended in one pass; the rest wait for the next (bounded work per tick). */
  batchSize?: number;
  /** False while another replica leads (it runs expiry and reconciliation); always true by default. */
  leader?: () => boolean;
}

export interface ReaperStats {
  expired: number;
  retried: number;
  reconciled: boolean;
}

export class Reaper {
  private expiryTimer: unknown;
  private sweepTimer: unknown;
  private armedFor: number | undefined;
  private sweeps = 0;
  private running = false;
  private stopped = true;
  private readonly onChange = () => {
    void this.arm();
  };

  constructor(private readonly options: ReaperOptions) {}

  start(): void {
    this.stopped = false;
    this.options.service.on('changed', this.onChange);
    void this.arm();
    this.scheduleSweep();
  }

  stop(): void {
    this.stopped = true;
    this.options.service.off('changed', this.onChange);
    if (this.expiryTimer) this.options.clock.clearTimeout(this.expiryTimer);
    if (this.sweepTimer) this.options.clock.clearTimeout(this.sweepTimer);
    this.expiryTimer = this.sweepTimer = undefined;
    this.armedFor = undefined;
  }

  /** One pass: end due sessions, retry what is stuck, and sometimes reconcile. */
  async runOnce(options: { reconcile?: boolean } = {}): Promise<ReaperStats> {
    const { service, batchSize = 100, reconcileEvery = 4 } = { ...this.options };
    const stats: ReaperStats = { expired: 0, retried: 0, reconciled: false };
    if (this.running || this.options.leader?.() === false) return stats;
    this.running = true;
    try {
      stats.expired = (await service.cleanupExpired({ limit: batchSize })).length;
      stats.retried = await service.retryStuck();
      this.sweeps++;
      if (options.reconcile ?? this.sweeps % reconcileEvery === 0) {
        await service.reconcile();
        stats.reconciled = true;
      }
      if (stats.expired) this.options.logger.info(stats, 'reaper pass');
    } catch (error) {
      this.options.logger.error({ err: error }, 'reaper pass failed');
    } finally {
      this.running = false;
    }
    return stats;
  }

  /** Arms the expiry timer for the earliest `expires_at` (re-armed whenever sessions change). */
  private async arm(): Promise<void> {
    if (this.stopped) return;
    const next = await this.options.store.nextExpiry().catch(() => undefined);
    if (this.stopped || next === this.armedFor) return;
    if (this.expiryTimer) this.options.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.armedFor = next;
    if (next === undefined) return;
    // Timers cannot wait longer than ~24.8 days; re-arm on the way if needed.
    const delay = Math.min(Math.max(0, next - this.options.clock.now()), 2 ** 31 - 1);
    this.expiryTimer = this.options.clock.setTimeout(() => {
      this.expiryTimer = undefined;
      this.armedFor = undefined;
      void this.runOnce({ reconcile: false }).then(() => this.arm());
    }, delay);
  }

  private scheduleSweep(): void {
    if (this.stopped) return;
    this.sweepTimer = this.options.clock.setTimeout(() => {
      void this.runOnce().finally(() => {
        void this.arm();
        this.scheduleSweep();
      });
    }, this.options.sweepIntervalMs);
  }
}
