// CPU and memory of every session now, for the console: one loop asks the
// provider for all machines at once (one bulk call per tick, like the reconciler's
// list), and the console reads the last sample. Requests never reach the provider.
import type { Logger } from '../logger.ts';
import type { Clock } from './clock.ts';
import type { MachineUsage, Provider, ProviderRef } from './provider-port.ts';
import { unendedStatuses } from './session.ts';
import type { SessionStore } from './store-port.ts';

export interface UsageView {
  /** The last sample of a session's machine, if one was taken. */
  of(sessionId: string): MachineUsage | undefined;
}

export class UsageSampler implements UsageView {
  private latest = new Map<string, MachineUsage>();
  private timer: unknown;
  private running: Promise<unknown> | null = null;
  private stopped = true;

  constructor(private readonly o: { provider: Provider; store: SessionStore; clock: Clock; logger: Logger; intervalMs: number }) {}

  of(sessionId: string): MachineUsage | undefined {
    return this.latest.get(sessionId);
  }

  /** One sample of every session holding a machine; returns how many were read. */
  async runOnce(): Promise<{ sampled: number }> {
    const { provider, store } = this.o;
    if (!provider.usage) return { sampled: 0 };
    const sessions = (await store.list({ statuses: unendedStatuses, limit: 10_000 })).filter((s) => s.providerRef && s.holdsContainer);
    if (!sessions.length) {
      this.latest = new Map();
      return { sampled: 0 };
    }
    const byId = await provider.usage(sessions.map((s) => ({ ...s.providerRef, containerId: s.containerId }) as ProviderRef));
    const next = new Map<string, MachineUsage>();
    for (const s of sessions) {
      const u = byId.get(s.containerId);
      if (u) next.set(s.id, u);
    }
    this.latest = next;
    return { sampled: next.size };
  }

  start(): void {
    if (!this.o.provider.usage || !this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    this.timer = this.o.clock.setTimeout(() => {
      this.running = this.runOnce()
        .catch((err) => this.o.logger.warn({ err }, 'could not sample the sessions’ CPU and memory'))
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.schedule(this.o.intervalMs);
        });
    }, ms);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.o.clock.clearTimeout(this.timer);
    await this.running;
  }
}
