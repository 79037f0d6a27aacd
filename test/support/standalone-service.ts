// A SessionService on its own, as json-server tests its service: a real store
// (SQLite in memory), the provider the test gives, a clock moved by hand; no HTTP.
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.ts';
import type { Provider } from '../../src/core/provider-port.ts';
import { SessionService } from '../../src/core/service.ts';
import type { SessionStore } from '../../src/core/store-port.ts';
import { silentLogger } from '../../src/logger.ts';
import { Store } from '../../src/store/store.ts';
import { ManualClock } from './clock.ts';
import { FakeProvider } from './fake-provider.ts';

export interface StandaloneOptions {
  provider?: Provider;
  /** Configuration on top of no per-visitor limit. */
  env?: Record<string, string>;
  /** Stands between the service and the store (a test's wrapper that interleaves moves). */
  wrapStore?: (store: SessionStore) => SessionStore;
}

export async function standaloneService(options: StandaloneOptions = {}) {
  const config = loadConfig({ WINUX_SESSIONS_PER_VISITOR: '0', WINUX_DATA_DIR: '/nonexistent-not-used', ...options.env });
  const real = await Store.open('sqlite::memory:', { secretKey: randomBytes(32) });
  const store = options.wrapStore ? options.wrapStore(real) : real;
  const clock = new ManualClock(Date.now());
  const service = new SessionService({ config, store, provider: options.provider ?? new FakeProvider(), logger: silentLogger, clock });
  return {
    config,
    service,
    /** The store as the service sees it. */
    store,
    clock,
    close: async () => {
      await service.shutdown(1000);
      await real.close();
    },
  };
}
