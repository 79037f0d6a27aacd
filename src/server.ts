// The composition of a running Winux: store, service, reconciler, reaper and
// the HTTP app. `winux serve` builds one with the real provider; tests build one
// with a behaviour fake. Start-up reconciles every session before serving.
import type { FastifyInstance } from 'fastify';
import type http from 'node:http';
import type https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { ensureDataDir, loadOrCreateAdminToken } from './admin-token.ts';
import { loadOrCreateSecretKey } from './secret-key.ts';
import type { Config } from './config.ts';
import { systemClock, type Clock } from './core/clock.ts';
import { SessionService } from './core/service.ts';
import { createApp } from './http/app.ts';
import { createRedirectServer, readTlsPair, watchTlsFiles } from './http/tls.ts';
import type { Logger } from './logger.ts';
import type { Provider } from './core/provider-port.ts';
import { Reaper } from './reaper/reaper.ts';
import { WarmPool } from './reaper/pool.ts';
import { Store } from './store/store.ts';
import { poolSizeSetting } from './http/routes/admin-pool.ts';

export interface ServerOptions {
  config: Config;
  provider: Provider;
  logger: Logger;
  clock?: Clock;
  /** Start the reaper's timers (tests driving time by hand turn it off). */
  reaper?: boolean;
  /** How often WINUX_TLS_CERT / WINUX_TLS_KEY are looked at for renewed files (default 5 s). */
  tlsCheckIntervalMs?: number;
}

export interface RunningServer {
  app: FastifyInstance;
  service: SessionService;
  store: Store;
  reaper: Reaper;
  pool: WarmPool;
  adminToken: string;
  /** http://host:port (https:// with WINUX_TLS_CERT) once listening. */
  url: string;
  /** http://host:port of the WINUX_HTTP_REDIRECT_PORT listener, when there is one. */
  redirectUrl?: string;
  /** Stops; with `graceMs` (a SIGTERM drain), connections already accepted get that long to be read and served first. */
  close(options?: { graceMs?: number }): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config, provider, logger } = options;
  const clock = options.clock ?? systemClock;
  // Bad TLS files stop start-up before anything else is touched.
  const tls = config.tls ? readTlsPair(config.tls) : undefined;
  if (tls) {
    logger.info(tls.info, 'TLS certificate loaded');
    for (const warning of tls.warnings) logger.warn(warning);
  }
  ensureDataDir(config);
  const adminToken = loadOrCreateAdminToken(config, logger);
  const store = await Store.open(config.databaseUrl, { secretKey: loadOrCreateSecretKey(config, logger) });
  const service = new SessionService({ config, store, provider, logger, clock, audit: store.audit, usageHistory: store.usage });
  // Several replicas: the first beat says whether this one leads; only the leader reconciles at start-up.
  await service.heartbeat.beat();
  if (service.isLeader) {
    const stats = await service.reconcile({ startup: true }).catch(async (error: Error) => {
      await store.close();
      throw new Error(`The ${provider.name} provider is not working (${error.message}). Run "winux doctor" to see what to fix.`, { cause: error });
    });
    logger.info(stats, 'reconciled sessions with the provider');
  } else logger.info({ replica: config.replicaId }, 'another replica leads: it reconciles; this one serves');
  const leader = () => service.isLeader;
  const reaper = new Reaper({ service, store, clock, logger, sweepIntervalMs: config.sweepIntervalMs, leader });
  // A size set from the console outlives restarts (a settings row); WINUX_POOL_SIZE is the default.
  const poolSize = Number((await store.admin.getSetting(poolSizeSetting)) ?? config.pool.size);
  const pool = new WarmPool({
    service,
    store,
    clock,
    logger,
    size: poolSize,
    sizes: config.pool.sizes,
    defaultDesktop: config.defaultDesktop,
    maxAgeMs: config.pool.maxAgeMs,
    intervalMs: config.sweepIntervalMs,
    quietMs: config.pool.quietMs,
    leader,
  });
  const timers = options.reaper !== false;
  // With SQLite there is one process: nothing to renew, and it always leads.
  if (store.shared) service.heartbeat.start();
  if (timers) {
    reaper.start();
    if (poolSize > 0 || Object.values(config.pool.sizes).some((n) => n > 0)) pool.start();
  }
  const poolControl = {
    get targetSize() {
      return pool.targetSize;
    },
    setSize(size: number) {
      pool.setSize(size);
      if (timers && size > 0 && !pool.started) pool.start();
    },
  };
  const app = await createApp({
    config,
    service,
    store,
    provider,
    clock,
    logger,
    adminToken,
    tls,
    admin: store.admin,
    audit: store.audit,
    usageHistory: store.usage,
    pool: poolControl,
  });
  const address = await app.listen({ host: config.host, port: config.port });
  const url = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '[::1]');
  // Renewed files reach new connections; open ones keep the certificate they shook hands with.
  const tlsWatcher =
    config.tls &&
    watchTlsFiles({
      files: config.tls,
      since: tls!.signature,
      validTo: tls!.info.valid_to,
      logger,
      intervalMs: options.tlsCheckIntervalMs ?? 5_000,
      apply: (pair) => (app.server as unknown as https.Server).setSecureContext({ cert: pair.cert, key: pair.key }),
    });
  let redirect: http.Server | undefined;
  let closed: Promise<void> | undefined;
  const close = (options: { graceMs?: number } = {}) => {
    closed ??= (async () => {
      tlsWatcher?.stop();
      if (options.graceMs && app.server.listening) {
        // Stop taking connections, but serve those already accepted: Node's http close()
        // drops the ones whose request it has not read yet as idle, and a proxy that had
        // sent a request on one answers 502 (the replicas' rolling-restart drill saw it).
        // net.Server's own close stops listening only; app.close() below does the rest.
        net.Server.prototype.close.call(app.server);
        await new Promise((resolve) => setTimeout(resolve, options.graceMs));
      }
      if (redirect?.listening) {
        const done = new Promise((resolve) => redirect!.close(resolve));
        redirect.closeAllConnections();
        await done;
      }
      reaper.stop();
      pool.stop();
      await app.close();
      await service.shutdown();
      await provider.close?.();
      await store.close();
    })();
    return closed;
  };
  let redirectUrl: string | undefined;
  if (config.tls && config.httpRedirectPort !== undefined) {
    const httpsPort = (app.server.address() as AddressInfo).port;
    redirect = createRedirectServer({ httpsPort, publicHost: config.publicHost, acmeWebroot: config.acmeWebroot, logger });
    try {
      await new Promise<void>((resolve, reject) => {
        redirect!.once('error', reject);
        redirect!.listen(config.httpRedirectPort, config.host, () => {
          redirect!.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      await close();
      throw new Error(
        `WINUX_HTTP_REDIRECT_PORT: cannot listen on ${config.host}:${config.httpRedirectPort} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: error },
      );
    }
    const port = (redirect.address() as AddressInfo).port;
    redirectUrl = url.replace(/^https:/, 'http:').replace(/:\d+$/, `:${port}`);
    logger.info({ url: redirectUrl, to: url }, 'plain HTTP answers only with a redirect to HTTPS');
  }
  return { app, service, store, reaper, pool, adminToken, url, redirectUrl, close };
}
