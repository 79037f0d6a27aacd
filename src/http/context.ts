// What the routes are given: the core's service and ports, configuration, and the
// few things createApp() derives once. Routes import this, never app.ts.
import type { Config } from '../config.ts';
import type { Clock } from '../core/clock.ts';
import type { Provider } from '../core/provider-port.ts';
import type { SessionService } from '../core/service.ts';
import type { ShareService } from '../core/shares.ts';
import type { ShareStore } from '../core/share-port.ts';
import type { SessionStore } from '../core/store-port.ts';
import type { DesktopHub } from '../desktop/hub.ts';
import type { Logger } from '../logger.ts';
import type { CreateBudget } from './create-budget.ts';
import type { Check } from './health.ts';
import type { AdminStore } from '../core/admin-port.ts';
import type { AuditLog } from '../core/audit-port.ts';
import type { Metrics } from './metrics.ts';
import type { TemplateRebuilds } from '../core/template-rebuild.ts';
import type { UsageHistory } from '../core/usage-days.ts';
import type { UsageView } from '../core/usage-sampler.ts';

/** The warm pool as the console sees it (reaper/pool.ts implements it). */
export interface PoolControl {
  readonly targetSize: number;
  setSize(size: number): void;
}

export interface AppServices {
  config: Config;
  service: SessionService;
  store: SessionStore & ShareStore;
  provider: Provider;
  clock: Clock;
  logger: Logger;
  /** Console sign-ins, settings, blocks. */
  admin: AdminStore;
  audit: AuditLog;
  pool: PoolControl;
  /** Daily usage kept past the sessions' purge (the console's charts); absent: only the sessions kept. */
  usageHistory?: UsageHistory;
}

export interface AppContext extends AppServices {
  adminTokenHash: string;
  /** Creations per client address (undefined: WINUX_CREATE_RATE_PER_MINUTE=0, no limit). */
  createBudget: CreateBudget | undefined;
  providerHealth(): Promise<Check>;
  storeHealth(): Promise<Check>;
  /** View-only links to desktops. */
  shares: ShareService;
  /** This process's open desktop streams (closed when their session ends). */
  desktops: DesktopHub;
  /** This app's own Prometheus registry (several apps may live in one process). */
  metrics: Metrics;
  /** Each session's CPU and memory, from the last sample of the one loop. */
  usage: UsageView;
  /** The console's template rebuild (one at a time). */
  rebuilds: TemplateRebuilds;
}
