// Prometheus metrics, one registry per app (tests build several apps in one
// process). Names follow JupyterHub's (jupyterhub/metrics.py) so dashboards
// translate. Counts read from the store when scraped; durations and errors come
// from the service's 'telemetry' events. Every failure series exists (at 0)
// before the first failure, so `rate()` and alerts work from the start.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { runningStatuses, statuses } from '../core/session.ts';
import type { Config } from '../config.ts';
import type { Provider } from '../core/provider-port.ts';
import type { SessionService } from '../core/service.ts';
import type { SessionStore } from '../core/store-port.ts';
import type { TelemetryEvent } from '../core/telemetry.ts';

/** Resolves 0.1–30 s (LXC starts in 1–3 s, Proxmox clones in 10–60 s). */
const startBuckets = [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 120, 300];
const providerOperations = ['create', 'destroy', 'list', 'set_credentials', 'set_session_info', 'files'] as const;
export const refusalReasons = ['visitor_limit', 'address_limit', 'capacity', 'rate_limited', 'address_blocked'] as const;
export type RefusalReason = (typeof refusalReasons)[number];

export interface Metrics {
  registry: Registry;
  /** Counts a visitor turned away at the HTTP edge (rate limit, blocked address). */
  refused(reason: RefusalReason): void;
  /** Fastify onResponse hook: request durations by route pattern. */
  onResponse(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Stops listening to the service (the app closes). */
  close(): void;
}

/** What the metrics read (the app's services; named here so that context.ts, which holds the metrics, is not imported back). */
export interface MetricsSources {
  config: Pick<Config, 'maxSessions'>;
  service: Pick<SessionService, 'on' | 'off'>;
  store: Pick<SessionStore, 'countByStatus' | 'countHeld' | 'list'>;
  provider: Pick<Provider, 'name'>;
  pool: { readonly targetSize: number };
}

export function createMetrics(s: MetricsSources): Metrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const start = new Histogram({
    name: 'winux_session_start_duration_seconds',
    help: 'Time from the click to a ready desktop (status: success or failure)',
    labelNames: ['status', 'provider'],
    buckets: startBuckets,
    registers,
  });
  const stop = new Histogram({
    name: 'winux_session_stop_duration_seconds',
    help: 'Time to remove a desktop once its session ends',
    labelNames: ['status'],
    buckets: startBuckets,
    registers,
  });
  const providerErrors = new Counter({
    name: 'winux_provider_errors_total',
    help: 'Provider calls that failed, by operation and error code',
    labelNames: ['operation', 'code'],
    registers,
  });
  const refusals = new Counter({
    name: 'winux_visitors_refused_total',
    help: 'Session requests refused, by reason',
    labelNames: ['reason'],
    registers,
  });
  const reconcile = new Histogram({
    name: 'winux_reconcile_duration_seconds',
    help: 'Time of one reconciliation pass (store against the provider)',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const requests = new Histogram({
    name: 'winux_request_duration_seconds',
    help: 'HTTP request durations by method, route pattern and status code',
    labelNames: ['method', 'route', 'code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  new Gauge({
    name: 'winux_sessions',
    help: 'Sessions by status (ended ones until they are purged), warm-pool members included',
    labelNames: ['status'],
    registers,
    async collect() {
      const counts = await s.store.countByStatus();
      for (const status of statuses) if (status !== 'destroyed') this.set({ status }, counts[status] ?? 0);
    },
  });
  new Gauge({
    name: 'winux_sessions_in_use',
    help: 'Sessions holding a container (what counts against capacity)',
    registers,
    async collect() {
      this.set(await s.store.countHeld());
    },
  });
  new Gauge({
    name: 'winux_pool_members',
    help: 'Warm-pool members by state (creating, ready)',
    labelNames: ['state'],
    registers,
    async collect() {
      const members = await s.store.list({ pooled: true, statuses: runningStatuses });
      for (const state of runningStatuses) this.set({ state }, members.filter((m) => m.status === state).length);
    },
  });
  new Gauge({
    name: 'winux_pool_target_size',
    help: 'Warm-pool members wanted (WINUX_POOL_SIZE or the console)',
    registers,
    collect() {
      this.set(s.pool.targetSize);
    },
  });
  new Gauge({
    name: 'winux_capacity_sessions',
    help: 'Most sessions at once (WINUX_MAX_SESSIONS)',
    registers,
    collect() {
      this.set(s.config.maxSessions);
    },
  });

  // Failure series exist before the first failure.
  const provider = s.provider.name;
  for (const status of ['success', 'failure']) {
    start.zero({ status, provider });
    stop.zero({ status });
  }
  for (const operation of providerOperations) for (const code of ['error', 'timeout']) providerErrors.inc({ operation, code }, 0);
  for (const reason of refusalReasons) refusals.inc({ reason }, 0);

  const onTelemetry = (e: TelemetryEvent) => {
    switch (e.type) {
      case 'creation':
        return start.observe({ status: e.ok ? 'success' : 'failure', provider }, e.seconds);
      case 'removal':
        return stop.observe({ status: e.ok ? 'success' : 'failure' }, e.seconds);
      case 'provider_error':
        return providerErrors.inc({ operation: e.operation, code: e.code });
      case 'reconcile':
        return reconcile.observe(e.seconds);
      case 'refused':
        return refusals.inc({ reason: e.reason });
    }
  };
  s.service.on('telemetry', onTelemetry);

  return {
    registry,
    refused: (reason) => refusals.inc({ reason }),
    async onResponse(request, reply) {
      // The route's pattern (/sessions/:id), never the URL: ids would make a series per session.
      const route = request.routeOptions.url ?? 'unmatched';
      requests.observe({ method: request.method, route, code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    },
    close: () => s.service.off('telemetry', onTelemetry),
  };
}
