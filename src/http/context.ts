// What the routes are given: the core's service and ports, configuration, and the
// few things createApp() derives once. Routes import this, never app.ts.
import type { Config } from '../config.ts';
import type { Clock } from '../core/clock.ts';
import type { Provider } from '../core/provider-port.ts';
import type { SessionService } from '../core/service.ts';
import type { SessionStore } from '../core/store-port.ts';
import type { Logger } from '../logger.ts';
import type { CreateBudget } from './create-budget.ts';
import type { Check } from './health.ts';

export interface AppServices {
  config: Config;
  service: SessionService;
  store: SessionStore;
  provider: Provider;
  clock: Clock;
  logger: Logger;
}

export interface AppContext extends AppServices {
  adminTokenHash: string;
  /** Creations per client address (undefined: WINUX_CREATE_RATE_PER_MINUTE=0, no limit). */
  createBudget: CreateBudget | undefined;
  providerHealth(): Promise<Check>;
  storeHealth(): Promise<Check>;
}
