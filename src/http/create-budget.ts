// The creation budget per client address (IPv6: per /64): a token bucket holding up to
// WINUX_CREATE_BURST creations, refilled at WINUX_CREATE_RATE_PER_MINUTE. A classroom
// behind one NAT address can start together (the burst), a script gets a steady trickle
// rather than a wall it can time, and one address's use never touches another's budget,
// so nobody can lock a school out from elsewhere. The buckets live in the database
// (SessionStore.takeBudget), so several replicas behind one proxy share one budget per
// address instead of each granting its own.
import type { Clock } from '../core/clock.ts';
import type { SessionStore } from '../core/store-port.ts';

export interface CreateBudget {
  /** Takes one creation from `key`'s bucket: 0 when allowed, else the seconds until one is available. */
  take(key: string): Promise<number>;
}

export function createBudget(o: { ratePerMinute: number; burst: number; clock: Clock; store: Pick<SessionStore, 'takeBudget'> }): CreateBudget | undefined {
  if (o.ratePerMinute <= 0) return undefined;
  return { take: (key) => o.store.takeBudget(key, o.ratePerMinute, o.burst, o.clock.now()) };
}
