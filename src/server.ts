// The composition of a running Winux: store, service, reconciler, reaper and
// the HTTP app. `winux serve` builds one with the real provider; tests build one
// with a behaviour fake. Start-up reconciles every session before serving.
import type { FastifyInstance } from 'fastify';
import { ensureDataDir, loadOrCreateAdminToken } from './admin-token.ts';
import type { Config } from './config.ts';
import { systemClock, type Clock } from './core/clock.ts';
import { SessionService } from './core/service.ts';
import { createApp } from './http/app.ts';
import type { Logger } from './logger.ts';
import type { Provider } from './providers/provider.ts';
import { Reaper } from './reaper/reaper.ts';
import { WarmPool } from './reaper/pool.ts';
import { Store } from './store/store.ts';

export interface ServerOptions {
  config: Config;
  provider: Provider;
  logger: Logger;
  clock?: Clock;
  /** Start the reaper's timers (tests driving time by hand turn it off). */
  reaper?: boolean;
}

export interface RunningServer {
  app: FastifyInstance;
  service: SessionService;
  store: Store;
  reaper: Reaper;
  pool: WarmPool;
  adminToken: string;
  /** http://host:port once listening. */
  url: string;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config, provider, logger } = options;
  const clock = options.clock ?? systemClock;
  ensureDataDir(config);
  const adminToken = loadOrCreateAdminToken(config, logger);
  const store = await Store.open(config.databaseUrl);
  const service = new SessionService({ config, store, provider, logger, clock });
  const stats = await service.reconcile({ startup: true }).catch(async (error: Error) => {
    await store.close();
    throw new Error(`The ${provider.name} provider is not working (${error.message}). Run "winux doctor" to see what to fix.`, { cause: error });
  });
  logger.info(stats, 'reconciled sessions with the provider');
  const reaper = new Reaper({ service, store, clock, logger, sweepIntervalMs: config.sweepIntervalMs });
  const pool = new WarmPool({ service, store, clock, logger, size: config.pool.size, maxAgeMs: config.pool.maxAgeMs, intervalMs: config.sweepIntervalMs });
  if (options.reaper !== false) {
    reaper.start();
    if (config.pool.size > 0) pool.start();
  }
  const app = await createApp({ config, service, store, provider, clock, logger, adminToken });
  const address = await app.listen({ host: config.host, port: config.port });
  const url = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '[::1]');
  let closed: Promise<void> | undefined;
  return {
    app, service, store, reaper, pool, adminToken, url,
    close() {
      closed ??= (async () => {
        reaper.stop();
        pool.stop();
        await app.close();
        await service.shutdown();
        await provider.close?.();
        await store.close();
      })();
      return closed;
    },
  };
}
