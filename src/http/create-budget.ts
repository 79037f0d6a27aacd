// The creation budget per client address (IPv6: per /64): a token bucket holding up to
// WINUX_CREATE_BURST creations, refilled at WINUX_CREATE_RATE_PER_MINUTE. A classroom
// behind one NAT address can start together (the burst), a script gets a steady trickle
// rather than a wall it can time, and one address's use never touches another's budget,
// so nobody can lock a school out from elsewhere. (Kept in memory per process: with
// several replicas each has its own; the per-address cap of running sessions, in the
// store, is the bound that holds across replicas.)
import type { Clock } from '../core/clock.ts';

export interface CreateBudget {
  /** Takes one creation from `key`'s bucket: 0 when allowed, else the seconds until one is available. */
  take(key: string): number;
}

/** Buckets kept before full ones (idle addresses) are forgotten. */
const maxTracked = 50_000;

export function createBudget(o: { ratePerMinute: number; burst: number; clock: Clock }): CreateBudget | undefined {
  if (o.ratePerMinute <= 0) return undefined;
  const perMs = o.ratePerMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const level = (b: { tokens: number; at: number }, now: number) => Math.min(o.burst, b.tokens + (now - b.at) * perMs);
  return {
    take(key) {
      const now = o.clock.now();
      if (buckets.size >= maxTracked) {
        for (const [k, b] of buckets) if (level(b, now) >= o.burst) buckets.delete(k);
      }
      const bucket = buckets.get(key) ?? { tokens: o.burst, at: now };
      const tokens = level(bucket, now);
      if (tokens < 1) {
        buckets.set(key, { tokens, at: now });
        return Math.max(1, Math.ceil((1 - tokens) / perMs / 1000));
      }
      buckets.set(key, { tokens: tokens - 1, at: now });
      return 0;
    },
  };
}
