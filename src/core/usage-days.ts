// Usage by day (sessions, desktop-hours, failures, median and p95 time to
// desktop), computed from the sessions kept, and kept as daily rows in the
// UsageHistory port so the charts reach past the sessions' own purge (7 days)
// to WINUX_USAGE_DAYS.
import type { SessionRecord } from './session.ts';

export const dayMs = 24 * 3600_000;

export interface UsageDay {
  /** YYYY-MM-DD (UTC). */
  day: string;
  sessions: number;
  desktopSeconds: number;
  failures: number;
  medianReadySeconds: number | null;
  p95ReadySeconds: number | null;
}

export interface UsageHistory {
  /** Writes these days, replacing what was kept for them. */
  save(days: UsageDay[]): Promise<void>;
  /** Days from `fromDay` on (inclusive), oldest first. */
  since(fromDay: string): Promise<UsageDay[]>;
  /** Deletes days before `beforeDay`; returns how many went. */
  purge(beforeDay: string): Promise<number>;
}

export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
export const startOfDay = (ms: number): number => Math.floor(ms / dayMs) * dayMs;

function quantile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** `days` days ending today, from the sessions given (visitor sessions only; warm-pool members are not usage). */
export function usageByDay(sessions: SessionRecord[], now: number, days: number): UsageDay[] {
  const start = startOfDay(now) - (days - 1) * dayMs;
  const out = Array.from({ length: days }, (_, i) => ({ day: dayOf(start + i * dayMs), sessions: 0, desktopMs: 0, failures: 0, ready: [] as number[] }));
  for (const s of sessions) {
    if (s.pooled) continue;
    const d = out[Math.floor((s.createdAt - start) / dayMs)];
    if (!d) continue;
    d.sessions++;
    if (s.status === 'failed') d.failures++;
    if (s.readyAt !== null) {
      d.ready.push((s.readyAt - s.createdAt) / 1000);
      d.desktopMs += Math.max(0, Math.min(s.endedAt ?? now, now) - s.readyAt);
    }
  }
  return out.map((d) => {
    const sorted = d.ready.sort((a, b) => a - b);
    return {
      day: d.day,
      sessions: d.sessions,
      desktopSeconds: Math.round(d.desktopMs / 1000),
      failures: d.failures,
      medianReadySeconds: quantile(sorted, 0.5),
      p95ReadySeconds: quantile(sorted, 0.95),
    };
  });
}

/** The first instant whose days still have every session in the store (finished sessions are purged after `keepMs`). */
export function completeFrom(now: number, keepMs: number): number {
  return startOfDay(now - keepMs) + dayMs;
}

/**
 * `days` days ending today: those whose sessions are all still kept from the sessions
 * themselves (`live`), older ones from the kept daily rows, a day with neither as zero.
 */
export function chartDays(live: UsageDay[], history: UsageDay[], now: number, days: number, liveFrom: number): UsageDay[] {
  const liveByDay = new Map(live.map((d) => [d.day, d]));
  const kept = new Map(history.map((d) => [d.day, d]));
  const start = startOfDay(now) - (days - 1) * dayMs;
  return Array.from({ length: days }, (_, i) => {
    const at = start + i * dayMs;
    const day = dayOf(at);
    const found = at >= liveFrom ? liveByDay.get(day) : kept.get(day);
    return found ?? { day, sessions: 0, desktopSeconds: 0, failures: 0, medianReadySeconds: null, p95ReadySeconds: null };
  });
}
