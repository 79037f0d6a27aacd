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
import type { Check } from './health.ts';

export interface AppServices {
  config: Config;
  service: SessionService;
  store: SessionStore & ShareStore;
  provider: Provider;
  clock: Clock;
  logger: Logger;
}

export interface AppContext extends AppServices {
  adminTokenHash: string;
  createRateLimit: false | { max: number; timeWindow: number };
  providerHealth(): Promise<Check>;
  storeHealth(): Promise<Check>;
  /** View-only links to desktops. */
  shares: ShareService;
  /** This process's open desktop streams (closed when their session ends). */
  desktops: DesktopHub;
}
