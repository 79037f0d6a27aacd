// The warm pool (like Kasm staging or OpenUDS' cache): WINUX_POOL_SIZE desktops
// kept started and ready, so a click is answered with a desktop at once; with
// several desktops (WINUX_DESKTOPS), each has its own members and size
// (WINUX_POOL_SIZES), since a visitor who asks for MATE cannot use a ready XFCE;
// and a desktop may keep members in English too (`xfce/en:1`), since switching a
// French member at claim restarts its desktop session (seconds). Members
// are ordinary sessions marked `pooled` (so the reconciler and the id allocator
// treat them like any other), owned by no visitor, recycled after
// WINUX_POOL_MAX_AGE_MINUTES. The pool only uses free capacity, and the service
// ends a member when a visitor needs its container.
import type { Clock } from '../core/clock.ts';
import { defaultDesktop, type DesktopName } from '../core/desktops.ts';
import { defaultLanguage, poolKey, type Language } from '../core/languages.ts';
import { runningStatuses } from '../core/session.ts';
import type { SessionService } from '../core/service.ts';
import type { Logger } from '../logger.ts';
import type { SessionStore } from '../core/store-port.ts';
import type { SessionRecord } from '../core/session.ts';

export interface WarmPoolOptions {
  service: SessionService;
  store: SessionStore;
  clock: Clock;
  logger: Logger;
  /** The default desktop's size. */
  size: number;
  /** Every pool's size by key (WINUX_POOL_SIZES: `xfce`, `xfce/en`, see poolKey); `size` wins for the default desktop's. */
  sizes?: Record<string, number>;
  /** Which desktop `size` and `setSize` are about (XFCE unless it is not offered). */
  defaultDesktop?: DesktopName;
  maxAgeMs: number;
  intervalMs: number;
  /**
   * After a claim, no pass for this long (WINUX_POOL_QUIET_SECONDS): a new member's
   * clone and boot (Xvnc, the desktop: both cores for seconds on a small host, and
   * a dozen process spawns that block the server's event loop) would compete with
   * the visitor's first frames. 0: refill at once.
   */
  quietMs?: number;
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

function keyParts(key: string): { desktop: DesktopName; language: Language } {
  const [desktop, language] = key.split('/') as [DesktopName, Language | undefined];
  return { desktop, language: language ?? defaultLanguage };
}

export class WarmPool {
  private timer: unknown;
  private pending: unknown;
  private running = false;
  private stopped = true;
  private readonly onChange = () => this.soon();
  private readonly onClaim = () => {
    this.quietUntil = this.options.clock.now() + (this.options.quietMs ?? 0);
  };
  private quietUntil = 0;
  private readonly sizes = new Map<string, number>();
  private readonly main: DesktopName;

  constructor(private readonly options: WarmPoolOptions) {
    this.main = options.defaultDesktop ?? defaultDesktop;
    for (const [key, size] of Object.entries(options.sizes ?? {})) this.sizes.set(key, size);
    this.sizes.set(this.main, options.size);
  }

  /** True between start() and stop(). */
  get started(): boolean {
    return !this.stopped;
  }

  /** The number of ready members of the default desktop wanted now. */
  get targetSize(): number {
    return this.sizes.get(this.main) ?? 0;
  }

  /** Every pool's wanted number of ready members, by key (poolKey). */
  get targetSizes(): Record<string, number> {
    return Object.fromEntries(this.sizes);
  }

  /** Changes a desktop's size at run time (the console; the caller persists it): the pool grows or shrinks on its next pass, started now. */
  setSize(size: number, desktop: DesktopName = this.main): void {
    this.sizes.set(desktop, size);
    this.soon();
  }

  start(): void {
    this.stopped = false;
    this.options.service.on('claimed', this.onClaim);
    this.options.service.on('changed', this.onChange);
    this.soon();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.options.service.off('claimed', this.onClaim);
    this.options.service.off('changed', this.onChange);
    for (const t of [this.timer, this.pending]) if (t) this.options.clock.clearTimeout(t);
    this.timer = this.pending = undefined;
  }

  async runOnce(): Promise<PoolStats> {
    const { store, logger } = this.options;
    const stats: PoolStats = { members: 0, created: 0, recycled: 0, shrunk: 0, backingOff: false };
    // A claim's quiet period: the pass that soon() holds comes after it.
    if (this.running || this.options.leader?.() === false || this.options.clock.now() < this.quietUntil) return stats;
    this.running = true;
    try {
      const all = await store.list({ pooled: true, statuses: runningStatuses });
      // Members of a desktop (or language) no longer wanted count as size 0: they are ended.
      const keyOf = (m: SessionRecord) => poolKey(m.desktop, m.language);
      const keys = new Set([...this.sizes.keys(), ...all.map(keyOf)]);
      for (const key of keys) {
        await this.runFor(
          key,
          all.filter((m) => keyOf(m) === key),
          stats,
        );
      }
      if (stats.created || stats.recycled || stats.shrunk) logger.info(stats, 'warm pool');
    } catch (error) {
      logger.error({ err: error }, 'warm pool pass failed');
    } finally {
      this.running = false;
    }
    return stats;
  }

  /** One pool's share of a pass (a desktop, in one language): recycle, shrink, refill (stats add up over pools). */
  private async runFor(key: string, current: SessionRecord[], stats: PoolStats): Promise<void> {
    const { service, clock, maxAgeMs } = this.options;
    const { desktop, language } = keyParts(key);
    const size = this.sizes.get(key) ?? 0;
    const now = clock.now();
    const kept: SessionRecord[] = [];
    for (const m of current) {
      // Guarded: a member claimed since this list was read is a visitor's now, not recycled.
      if (m.status === 'ready' && now - m.createdAt > maxAgeMs && (await service.recyclePoolMember(m.id, now - maxAgeMs - 1))) {
        stats.recycled++;
      } else kept.push(m);
    }
    // Made smaller: members still being built go first, then the newest ready ones.
    kept.sort((a, b) => Number(a.status === 'ready') - Number(b.status === 'ready') || b.createdAt - a.createdAt);
    const excess = kept.slice(0, Math.max(0, kept.length - size));
    for (const m of excess) {
      await service.destroy(m.id, 'pool made smaller', { by: { kind: 'pool' } });
      stats.shrunk++;
    }
    const members = kept.length - excess.length;
    stats.members += members;
    const waitUntil = await this.backoffUntil(desktop, language);
    if (waitUntil > now) {
      stats.backingOff = true;
      return;
    }
    const free = (await service.capacity()).free;
    const wanted = Math.min(size - members, free);
    for (let i = 0; i < wanted; i++) {
      if (!(await service.createPoolMember(desktop, language))) break;
      stats.created++;
      stats.members++;
    }
  }

  /** After consecutive failed members of `desktop` in `language`, wait 5 s · 2^n (at most 10 min) before building more. */
  private async backoffUntil(desktop: DesktopName, language: Language): Promise<number> {
    const recent = await this.options.store.list({ pooled: true, desktop, language, limit: 8 });
    let failures = 0;
    for (const m of recent) {
      if (m.status !== 'failed') break;
      failures++;
    }
    if (!failures) return 0;
    return recent[0].updatedAt + Math.min(maxBackoffMs, 5000 * 2 ** (failures - 1));
  }

  /** Coalesces bursts of changes into one pass, held while a claim's quiet period lasts. */
  private soon(): void {
    if (this.stopped || this.pending) return;
    const { clock } = this.options;
    this.pending = clock.setTimeout(
      () => {
        this.pending = undefined;
        // Claimed again meanwhile: wait out the new quiet period too.
        if (clock.now() < this.quietUntil) return this.soon();
        void this.runOnce();
      },
      Math.max(50, this.quietUntil - clock.now()),
    );
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => {
      void this.runOnce().finally(() => this.schedule());
    }, this.options.intervalMs);
  }
}
