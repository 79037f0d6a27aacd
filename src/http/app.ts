// createApp() builds the Fastify application (page + API) and never listens:
// `winux serve` listens, tests use inject() or listen on port 0.
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyCompress from '@fastify/compress';
import fastifyCookie from '@fastify/cookie';
import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import { createHmac } from 'node:crypto';
import { hashSecret } from '../core/credentials.ts';
import { WinuxError, errors } from '../core/errors.ts';
import { ShareService } from '../core/shares.ts';
import { DesktopHub } from '../desktop/hub.ts';
import { version } from '../version.ts';
import type { AppContext, AppServices } from './context.ts';
import { providerHealth, storeHealth } from './health.ts';
import { desktopRoutes } from './routes/desktop.ts';
import { fileRoutes } from './routes/files.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { systemRoutes } from './routes/system.ts';
import { desktopChoiceRoutes } from './routes/desktops.ts';
import { markSignedInAdmins } from './admin-auth.ts';
import { createMetrics } from './metrics.ts';
import { TemplateRebuilds } from '../core/template-rebuild.ts';
import { UsageSampler } from '../core/usage-sampler.ts';
import { adminTemplateRoutes } from './routes/admin-template.ts';
import { adminBlockRoutes } from './routes/admin-blocks.ts';
import { adminConsoleRoutes } from './routes/admin-console.ts';
import { adminPoolRoutes } from './routes/admin-pool.ts';
import { adminSessionRoutes } from './routes/admin-session.ts';
import { auditRoutes } from './routes/audit.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { createBudget } from './create-budget.ts';
import { crossSiteError, crossSiteReason } from './same-origin.ts';
import { hstsValue, isHttps } from './tls.ts';
import { ensureVisitorCookie } from './visitor.ts';
import { distDir, ensureWebBuilt } from '../../web/build.ts';

export const apiPrefix = '/api/winux';
/** The built pages (web/build.ts bundles web/ into web/dist). */
export const webRoot = distDir;
const bodyLimit = 64 * 1024;

export interface AppOptions extends AppServices {
  adminToken: string;
  /** PEM certificate (chain) and key: the app then speaks HTTPS only (src/http/tls.ts reads and checks them). */
  tls?: { cert: Buffer; key: Buffer };
}

export async function createApp(options: AppOptions): Promise<FastifyInstance> {
  const { config, logger } = options;
  const app = Fastify({
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    loggerInstance: logger,
    bodyLimit,
    // X-Forwarded-For is believed only from these addresses (the seed puts nginx in front).
    trustProxy: config.trustedProxies.length ? config.trustedProxies : false,
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    // Draining on SIGTERM: a request already on its way in is answered, not refused with a
    // 503 (a proxy in front sends new ones to the other replicas once this one stops listening).
    return503OnClosing: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    logController: new OneLinePerRequest(),
  });

  const sampler = new UsageSampler({ ...options, intervalMs: config.usageSampleMs });
  const ctx: AppContext = {
    ...options,
    adminTokenHash: hashSecret(options.adminToken),
    createBudget: createBudget({ ratePerMinute: config.createRatePerMinute, burst: config.createBurst, clock: options.clock, store: options.store }),
    providerHealth: providerHealth(options.provider),
    storeHealth: storeHealth(options.store, options.clock, logger),
    shares: new ShareService(options.store, options.clock, { linksPerSession: config.share.linksPerSession }),
    desktops: new DesktopHub(),
    metrics: createMetrics(options),
    usage: sampler,
    rebuilds: new TemplateRebuilds({ provider: options.provider, audit: (a, n) => options.service.audit(a, n), clock: options.clock, logger }),
  };
  sampler.start();
  app.addHook('onClose', async () => {
    await sampler.stop();
    await ctx.rebuilds.close();
  });
  app.addHook('onResponse', ctx.metrics.onResponse);
  app.addHook('onClose', async () => ctx.metrics.close());
  // A session that stops being ready closes its desktop streams at once (the page says why).
  const onSessionChange = (id: string) => {
    if (!ctx.desktops.sessionIds().has(id)) return;
    void options.store.get(id).then(
      (s) => s?.status === 'ready' || ctx.desktops.endSession(id),
      () => {},
    );
  };
  options.service.on('session', onSessionChange);
  app.addHook('onClose', async () => {
    options.service.off('session', onSessionChange);
    ctx.desktops.closeAll();
  });
  // WebSocket upgrades (the browser desktop); a viewer's messages are small, screen updates go the other way.
  await app.register(fastifyWebsocket, {
    options: {
      maxPayload: 1024 * 1024,
      // noVNC asks for "binary"; a share link's secret rides as a second sub-protocol and is never echoed.
      handleProtocols: (protocols: Set<string>) => (protocols.has('binary') ? 'binary' : false),
    },
  });

  // Signing key for the visitor cookie, derived from the admin token: stable across restarts, nothing new to store.
  await app.register(fastifyCookie, { secret: createHmac('sha256', options.adminToken).update('winux visitor cookie').digest('base64url') });
  // The page's first load shrinks to about a third (measured by the browser tests).
  await app.register(fastifyCompress, { global: true, threshold: 1024, encodings: ['br', 'gzip'] });
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        upgradeInsecureRequests: null,
      },
    },
    // Helmet would send HSTS on plain HTTP too; it is added below on HTTPS answers only.
    strictTransportSecurity: false,
  });
  const hsts = hstsValue(config.hstsMaxAgeSeconds);
  if (hsts) {
    // HTTPS as the browser sees it: our own TLS, or a trusted proxy's X-Forwarded-Proto.
    app.addHook('onRequest', async (request, reply) => {
      if (isHttps(request)) reply.header('strict-transport-security', hsts);
    });
  }
  if (config.corsOrigins.length) {
    await app.register(fastifyCors, { origin: config.corsOrigins, credentials: true, methods: ['GET', 'POST', 'DELETE'] });
  }
  // Per-route limits only (the console's sign-in); session creations have their per-address budget (create-budget.ts).
  await app.register(fastifyRateLimit, {
    global: false,
    keyGenerator: (request) => request.ip,
    errorResponseBuilder: (_request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000));
      const e = errors.rateLimited(seconds);
      return { statusCode: 429, error: e.code, message: e.message, retry_after_seconds: seconds };
    },
  });
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Winux API', version, description: 'Temporary Linux desktops on demand.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'a session token (from POST /sessions) or the admin token' },
        },
      },
      security: [{ bearer: [] }],
    },
  });

  app.setErrorHandler((error: FastifyError | WinuxError, request, reply) => {
    const { status, body } = errorBody(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    if (status === 429 && 'retry_after_seconds' in body) reply.header('retry-after', String(body.retry_after_seconds));
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not_found', message: `Nothing at ${request.method} ${request.url.split('?')[0]}.` });
  });

  // A POST without a body (curl -X POST …) means "no options", like the seed's API.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.method === 'POST') request.body = {};
  });

  await app.register(
    async (api) => {
      // Every change (POST, DELETE…) from another site's page is refused here, once for all routes.
      api.addHook('onRequest', async (request) => {
        const reason = crossSiteReason(request, { allowedOrigins: config.corsOrigins });
        if (reason) throw crossSiteError(reason);
      });
      // Answers carry passwords and tokens: no browser or school proxy may keep a copy.
      api.addHook('onSend', async (_request, reply) => {
        if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      });
      // The console's cookie is looked up once per request, before any route's checks.
      api.addHook('onRequest', markSignedInAdmins(ctx));
      sessionRoutes(api, ctx);
      desktopRoutes(api, ctx);
      fileRoutes(api, ctx);
      systemRoutes(api, ctx);
      desktopChoiceRoutes(api, config);
      adminSessionRoutes(api, ctx);
      adminConsoleRoutes(api, ctx);
      adminPoolRoutes(api, ctx);
      adminTemplateRoutes(api, ctx);
      adminBlockRoutes(api, ctx);
      auditRoutes(api, ctx);
      metricsRoutes(api, ctx);
      api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    },
    { prefix: apiPrefix },
  );

  await app.register(async (docs) => {
    // Swagger UI ships inline scripts and styles: a looser policy for its pages only.
    docs.addHook('onSend', async (_request, reply) => {
      reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'");
    });
    await docs.register(fastifySwaggerUi, { routePrefix: `${apiPrefix}/docs` });
  });

  // Built here when missing or older than their sources (npm start and npm test build them first).
  await ensureWebBuilt((message) => logger.info(message));
  await app.register(fastifyStatic, {
    root: webRoot,
    prefix: '/winux/',
    redirect: true,
    index: ['index.html'],
    // web/build.ts writes a brotli and a gzip copy of each file, at the highest level.
    preCompressed: true,
    // The HTML is revalidated on each load; the files it names carry their content's hash (?v=, chunk-<hash>.js).
    setHeaders: (reply: FastifyReply) => {
      if (/[?&]v=|\/chunk-[A-Z0-9]+\.js$/.test(reply.request.url)) reply.header('cache-control', 'public, max-age=31536000, immutable');
    },
  });
  // The visitor cookie comes with the page itself: the page's first API calls go out
  // together, and each would otherwise be handed a different new cookie.
  app.addHook('onSend', async (request, reply) => {
    if (request.method === 'GET' && reply.statusCode === 200 && /^\/winux\/(index\.html)?(\?|$)/.test(request.url)) ensureVisitorCookie(request, reply);
  });
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/winux/'));
  // The viewer pages at their own addresses (share links, the admin console's links); their files sit in web/dist with the rest.
  for (const [page, file] of [
    ['/winux/share/', 'share.html'],
    ['/winux/view/', 'view.html'],
  ]) {
    app.get(page, { schema: { hide: true } }, async (_request, reply) => reply.sendFile(file));
    app.get(page.slice(0, -1), { schema: { hide: true } }, async (request, reply) =>
      reply.redirect(page + (request.url.split('?')[1] ? `?${request.url.split('?')[1]}` : '')),
    );
  }

  return app as unknown as FastifyInstance;
}

/**
 * One log line per request, when it completes, with the session id when the URL
 * names one. Headers are never logged (they carry tokens and cookies).
 */
class OneLinePerRequest extends LogController {
  incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, url: request.url }, 'request received');
  }

  requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      url: request.url,
      status_code: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      ip: request.ip,
      session_id: (request.params as { id?: string } | undefined)?.id,
    };
    if (error) reply.log.error({ ...line, err: error }, 'request failed');
    else reply.log.info(line, 'request');
  }
}

/** Maps any error to a status and a JSON body with no internals: codes for machines, messages for people. */
function errorBody(error: FastifyError | WinuxError): { status: number; body: Record<string, unknown> } {
  if (error instanceof WinuxError) {
    return { status: error.status, body: { error: error.code, message: error.message, ...error.details } };
  }
  const e = error as FastifyError & { validation?: unknown; validationContext?: string };
  if (e.validation) return { status: 400, body: { error: 'bad_request', message: validationMessage(e) } };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { error: 'payload_too_large', message: `The request body is larger than ${bodyLimit / 1024} KiB.` } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { error: 'unsupported_media_type', message: 'Send JSON (Content-Type: application/json).' } };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { error: 'bad_request', message: 'The request says it has a JSON body but it is empty.' } };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: { error: 'bad_request', message: 'The request body is not valid JSON.' } };
  }
  if ((e as { statusCode?: number }).statusCode === 429) {
    const body = e as unknown as Record<string, unknown>;
    return { status: 429, body: { error: 'rate_limited', message: String(body.message), retry_after_seconds: body.retry_after_seconds } };
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    if (e instanceof SyntaxError) return { status: 400, body: { error: 'bad_request', message: 'The request body is not valid JSON.' } };
    return { status, body: { error: 'bad_request', message: e.message } };
  }
  return { status: 500, body: { error: 'internal_error', message: 'Something went wrong on our side. It has been logged.' } };
}

/** One sentence naming the field and what it should be, from ajv's first complaint. */
function validationMessage(e: FastifyError & { validation?: unknown; validationContext?: string }): string {
  const where = e.validationContext === 'params' ? 'In the URL' : e.validationContext === 'querystring' ? 'In the query string' : 'In the request body';
  const first = (e.validation as { instancePath?: string; keyword?: string; message?: string; params?: Record<string, unknown> }[])[0];
  const field = first?.instancePath?.replace(/^\//, '').replace(/\//g, '.');
  if (first?.keyword === 'additionalProperties') return `${where}: unknown field "${String(first.params?.additionalProperty)}".`;
  if (first?.keyword === 'required') return `${where}: missing field "${String(first.params?.missingProperty)}".`;
  if (first?.keyword === 'pattern' && e.validationContext === 'params') return `${where}: "${field}" is not a valid session id.`;
  return `${where}: ${field ? `"${field}" ` : ''}${first?.message ?? 'is not valid'}.`;
}
