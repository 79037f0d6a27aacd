// What the console shows, computed from the store and the audit log: the live
// sessions (with the address each was started from), capacity and host,
// failures, abuse (addresses and IPv6 /64s), and usage by day.
import fs from 'node:fs';
import os from 'node:os';
import { withTimeout } from '../core/concurrency.ts';
import type { MachineUsage } from '../core/provider-port.ts';
import { keepEndedMs } from '../core/reconciler.ts';
import type { SessionRecord } from '../core/session.ts';
import { chartDays, completeFrom, dayMs, dayOf, startOfDay, usageByDay } from '../core/usage-days.ts';
import { runningStatuses, unendedStatuses } from '../core/session.ts';
import { ipv6Net64 } from './blocks.ts';
import type { AppContext } from './context.ts';
import { remainingSeconds, sessionHeader } from './present.ts';

/** The console's charts open on this many days; it may ask for up to WINUX_USAGE_DAYS. */
export const defaultUsageDays = 30;
const hostsTimeoutMs = 5_000;

/** The address each session was started from (its session.create audit row). */
async function addressesOf(ctx: AppContext, ids: string[]): Promise<Map<string, string>> {
  const rows = await ctx.audit.query({ sessionIds: ids, action: 'session.create', outcome: 'ok', limit: Math.max(1, ids.length * 2) });
  return new Map(rows.filter((r) => r.sessionId && r.address).map((r) => [r.sessionId!, r.address!]));
}

export function adminSessionJson(s: SessionRecord, now: number, address: string | undefined, use?: MachineUsage) {
  return {
    ...sessionHeader(s),
    pooled: s.pooled,
    address: s.pooled ? null : (address ?? null),
    created_at: new Date(s.createdAt).toISOString(),
    age_seconds: Math.max(0, Math.floor((now - s.createdAt) / 1000)),
    expires_at: new Date(s.expiresAt).toISOString(),
    remaining_seconds: remainingSeconds(s, now),
    expired: s.expiresAt <= now,
    error: s.error,
    // The last sample of the one usage loop (core/usage-sampler.ts); null until it has one.
    cpu_percent: use?.cpuPercent ?? null,
    memory_bytes: use?.memoryBytes ?? null,
  };
}

/** Every session not ended yet (the whole set: the console sorts and filters all of it, not a page). */
export async function liveSessions(ctx: AppContext) {
  const sessions = await ctx.store.list({ statuses: unendedStatuses, limit: 10_000 });
  const addresses = await addressesOf(
    ctx,
    sessions.filter((s) => !s.pooled).map((s) => s.id),
  );
  const now = ctx.clock.now();
  return sessions.map((s) => adminSessionJson(s, now, addresses.get(s.id), ctx.usage.of(s.id)));
}

export async function capacityAndHost(ctx: AppContext) {
  const c = await ctx.service.capacity();
  let disk: { total_bytes: number; free_bytes: number } | null = null;
  try {
    const st = fs.statfsSync(ctx.config.dataDir);
    disk = { total_bytes: st.blocks * st.bsize, free_bytes: st.bavail * st.bsize };
  } catch {
    /* no data dir (in-memory store) */
  }
  return {
    capacity: { max: c.max, in_use: c.inUse, free: c.free },
    host: {
      name: os.hostname(),
      memory_total_bytes: os.totalmem(),
      memory_free_bytes: os.freemem(),
      load: os.loadavg(),
      cpus: os.cpus().length,
      disk,
    },
    provider: ctx.provider.name,
    nodes: await nodes(ctx),
  };
}

/** The provider's hosts (LXC: this one; Proxmox: each node), or none when it cannot tell or does not answer in time. */
async function nodes(ctx: AppContext) {
  if (!ctx.provider.hosts) return [];
  try {
    const hosts = await withTimeout(ctx.provider.hosts(), hostsTimeoutMs, 'reading the hosts');
    return hosts.map((h) => ({
      node: h.node,
      online: h.online,
      cpus: h.cpus,
      cpu_percent: h.cpuPercent,
      memory_total_bytes: h.memoryTotalBytes,
      memory_used_bytes: h.memoryUsedBytes,
      disk_total_bytes: h.diskTotalBytes,
      disk_used_bytes: h.diskUsedBytes,
      load: h.load,
    }));
  } catch (err) {
    ctx.logger.warn({ err }, 'could not read the hosts for the console');
    return [];
  }
}

/** Recent failed creations and removals, and what Winux did about them. */
export async function failures(ctx: AppContext) {
  const failed = await ctx.store.list({ statuses: ['failed'], limit: 30 });
  const removals = await ctx.audit.query({ action: 'session.remove_failed', limit: 30 });
  return {
    failed: failed.map((s) => ({
      session_id: s.id,
      step: s.step,
      error: s.error,
      at: new Date(s.endedAt ?? s.updatedAt).toISOString(),
      container_id: s.containerId,
      // What Winux did: the container is removed (cleaned), or removal is retried.
      cleaned: !s.holdsContainer,
      cleanup_attempts: s.cleanupAttempts,
    })),
    removal_errors: removals.map((r) => ({ session_id: r.sessionId, at: new Date(r.at).toISOString(), ...r.detail })),
  };
}

/** Who holds how many sessions, who was refused how often (last 24 h), by address and by IPv6 /64. */
export async function abuse(ctx: AppContext) {
  const now = ctx.clock.now();
  const running = (await ctx.store.list({ statuses: runningStatuses, pooled: false, limit: 10_000 })).map((s) => s.id);
  const addresses = await addressesOf(ctx, running);
  const refused = await ctx.audit.query({ action: 'session.create', outcome: 'refused', since: now - dayMs, limit: 10_000 });
  const rows = new Map<string, { key: string; kind: 'address' | 'ipv6_64'; sessions: number; refused: number }>();
  const bump = (address: string | null | undefined, field: 'sessions' | 'refused') => {
    if (!address) return;
    const keys: [string, 'address' | 'ipv6_64'][] = [[address, 'address']];
    const net = ipv6Net64(address);
    if (net) keys.push([net, 'ipv6_64']);
    for (const [key, kind] of keys) {
      const row = rows.get(key) ?? { key, kind, sessions: 0, refused: 0 };
      row[field]++;
      rows.set(key, row);
    }
  };
  for (const id of running) bump(addresses.get(id), 'sessions');
  for (const r of refused) bump(r.address, 'refused');
  const blocks = await ctx.admin.activeBlocks(now);
  return {
    clients: [...rows.values()].sort((a, b) => b.sessions + b.refused - (a.sessions + a.refused)).slice(0, 100),
    blocks: blocks.map((b) => ({
      id: b.id,
      network: b.network,
      reason: b.reason,
      created_at: new Date(b.createdAt).toISOString(),
      expires_at: b.expiresAt === null ? null : new Date(b.expiresAt).toISOString(),
    })),
  };
}

/** Per day: sessions, desktop-hours, failures, time to desktop; past the sessions kept (7 days) from the daily rows (WINUX_USAGE_DAYS). */
export async function usage(ctx: AppContext, days = defaultUsageDays) {
  const now = ctx.clock.now();
  const liveFrom = completeFrom(now, keepEndedMs);
  const liveDays = Math.min(days, Math.round((startOfDay(now) - liveFrom) / dayMs) + 1);
  const live = usageByDay(await ctx.store.list({ pooled: false, limit: 20_000 }), now, liveDays);
  const history = ctx.usageHistory ? await ctx.usageHistory.since(dayOf(now - (days - 1) * dayMs)) : [];
  return {
    kept_days: ctx.config.usageDays,
    days: chartDays(live, history, now, days, liveFrom).map((d) => ({
      day: d.day,
      sessions: d.sessions,
      desktop_hours: Math.round((d.desktopSeconds / 3600) * 100) / 100,
      failures: d.failures,
      median_ready_seconds: d.medianReadySeconds,
      p95_ready_seconds: d.p95ReadySeconds,
    })),
  };
}
