// The browser desktop: WebSocket routes that join a viewer to the session's VNC
// desktop (src/desktop/bridge.ts), and the owner's view-only share links.
//
// Everything is decided before the upgrade, as plain HTTP with the API's JSON
// errors: the Origin (another site must not open a visitor's desktop with the
// visitor's cookie: cross-site WebSocket hijacking), who is calling (owner cookie
// or token, the admin, or a share link's secret in Sec-WebSocket-Protocol: never
// in the URL, which lands in logs and history), and whether the session is ready.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { WebSocket } from 'ws';
import { errors, WinuxError } from '../../core/errors.ts';
import type { ProviderRef } from '../../core/provider-port.ts';
import type { SessionRecord } from '../../core/session.ts';
import { shareIdPattern } from '../../core/shares.ts';
import { bridgeViewer } from '../../desktop/bridge.ts';
import type { ViewerMode } from '../../desktop/rfb.ts';
import { requireCsrfSafe } from '../auth.ts';
import type { AppContext } from '../context.ts';
import { loadAccessible } from '../session-access.ts';
import { ErrorBody, SessionIdParams } from '../schemas.ts';

const errorResponses = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 429: ErrorBody, 503: ErrorBody };
const shareProtocolPrefix = 'winux-share.';

const Share = Type.Object({
  share_id: Type.String({ pattern: shareIdPattern }),
  url: Type.Optional(Type.String({ description: 'only in the answer that made the link: it holds the secret' })),
  expires_at: Type.String({ format: 'date-time', description: 'the link ends with its session' }),
  viewers: Type.Integer({ minimum: 0 }),
});
const ShareParams = Type.Object({ id: SessionIdParams.properties.id, share_id: Type.String({ pattern: shareIdPattern }) });
const ShareIdParams = Type.Object({ share_id: Type.String({ pattern: shareIdPattern }) });
const DesktopQuery = Type.Object({ view_only: Type.Optional(Type.Union([Type.Literal('1'), Type.Literal('true')])) });

const refOf = (session: SessionRecord): ProviderRef => ({ ...(session.providerRef ?? {}), containerId: session.containerId });

/** What the checks before the upgrade decided, for the WebSocket handler. */
interface Admission {
  session: SessionRecord;
  mode: ViewerMode;
  shareId?: string;
}
const admitted = new WeakMap<FastifyRequest, Admission>();

/**
 * A browser always sends Origin on a WebSocket upgrade; it must be this server's
 * own (as the visitor reached it: Host, or X-Forwarded-Host from a trusted proxy).
 * No Origin at all is a non-browser client, which carries its own credentials.
 */
export function requireSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    /* "null" or garbage: not our origin */
  }
  if (host !== request.host) throw new WinuxError('cross_site_request', 403, 'This desktop can only be opened from the Winux page itself.');
}

export function desktopRoutes(app: FastifyInstance, ctx: AppContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { service, config, provider, shares, desktops, logger } = ctx;
  const log = logger.child({ component: 'desktop' });

  const readySession = (session: SessionRecord) => {
    if (session.status !== 'ready') throw errors.conflict(`This session is ${session.status}; its desktop opens once it is ready.`);
    if (!provider.openDesktop) {
      throw new WinuxError('desktop_unavailable', 503, 'This Winux offers no desktop in the browser for this session; use an RDP client.');
    }
  };
  const loadOwned = (request: FastifyRequest, id: string) => loadAccessible(ctx, request, id);
  const present = (share: { id: string }, session: SessionRecord, url?: string) => ({
    share_id: share.id,
    ...(url ? { url } : {}),
    expires_at: new Date(session.expiresAt).toISOString(),
    viewers: desktops.viewersOf(share.id),
  });

  const join = async (socket: WebSocket, request: FastifyRequest) => {
    const admission = admitted.get(request);
    if (!admission) return socket.close(1011, 'not_admitted');
    const { session, mode, shareId } = admission;
    try {
      const desktop = await provider.openDesktop!(refOf(session), AbortSignal.timeout(10_000));
      const bridge = bridgeViewer({
        ws: socket,
        desktop,
        password: session.password,
        mode,
        onError: (err) => log.warn({ sessionId: session.id, err: err.message }, 'desktop stream failed'),
      });
      desktops.add({ sessionId: session.id, shareId, bridge });
      // The session may have ended between the checks and now: the hub listens from here on.
      const now = await service.list({ ids: [session.id] }).then((r) => r[0]);
      if (now?.status !== 'ready') desktops.endSession(session.id);
      await bridge.ready.catch(() => {});
    } catch (err) {
      log.warn({ sessionId: session.id, err: (err as Error).message }, 'the desktop could not be reached');
      socket.close(1011, 'desktop_unavailable');
    }
  };

  // The owner (interactive, or view-only on request) and the admin (always view-only).
  api.get(
    '/sessions/:id/desktop',
    {
      websocket: true,
      schema: {
        summary: "The session's desktop over a WebSocket (RFB 3.8, security type None)",
        description:
          'Upgrade with the owner cookie or token (interactive; ?view_only=1 for view-only) or the admin token (view-only). Origin must be this server. Closes with 4000 when the session ends.',
        tags: ['desktop'],
        params: SessionIdParams,
        querystring: DesktopQuery,
        response: errorResponses,
      },
      preValidation: async (request) => {
        requireSameOrigin(request);
        const { id } = request.params as { id: string };
        const { who, session } = await loadOwned(request, id);
        readySession(session);
        const viewOnly = who.admin || Boolean((request.query as { view_only?: string }).view_only);
        if (who.admin) await service.audit('desktop.look', { actor: { kind: 'admin', address: request.ip }, sessionId: session.id, outcome: 'ok' });
        admitted.set(request, { session, mode: viewOnly ? 'view-only' : 'interactive' });
      },
    },
    join,
  );

  // A share link's viewers: view-only, enforced here.
  api.get(
    '/shares/:share_id/desktop',
    {
      websocket: true,
      schema: {
        summary: "A view-only link's desktop over a WebSocket",
        description: `The link's secret comes as the sub-protocol "${shareProtocolPrefix}<secret>" (with "binary"). Closes with 4001 when revoked, 4000 when the session ends.`,
        tags: ['desktop'],
        params: ShareIdParams,
        response: errorResponses,
      },
      preValidation: async (request) => {
        requireSameOrigin(request);
        const { share_id } = request.params as { share_id: string };
        const offered = String(request.headers['sec-websocket-protocol'] ?? '')
          .split(',')
          .map((p) => p.trim());
        const secret = offered.find((p) => p.startsWith(shareProtocolPrefix))?.slice(shareProtocolPrefix.length);
        const share = secret ? await shares.open(share_id, secret) : undefined;
        const session = share && (await service.list({ ids: [share.sessionId] }).then((r) => r[0]));
        if (!share || !session || session.status !== 'ready') throw errors.notFound('This view link does not exist or has ended.');
        readySession(session);
        if (desktops.viewersOf(share.id) >= config.share.viewersPerLink) {
          throw new WinuxError('too_many_viewers', 429, `This link already has ${config.share.viewersPerLink} viewers; try again later.`, {
            limit: config.share.viewersPerLink,
          });
        }
        admitted.set(request, { session, mode: 'view-only', shareId: share.id });
      },
    },
    join,
  );

  api.post(
    '/sessions/:id/shares',
    {
      schema: {
        summary: 'Make a view-only link to the desktop',
        description: 'The URL holds the secret (in its fragment) and is shown only here. The link ends with the session or on DELETE.',
        tags: ['desktop'],
        params: SessionIdParams,
        response: { 201: Share, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { who, session } = await loadOwned(request, request.params.id);
      requireCsrfSafe(request, who);
      readySession(session);
      const { share, secret } = await shares.create(session);
      await service.audit('share.create', {
        actor: { kind: who.admin ? 'admin' : 'visitor', address: request.ip },
        sessionId: session.id,
        outcome: 'ok',
        detail: { share_id: share.id },
      });
      const url = `${request.protocol}://${request.host}/winux/share/#${share.id}.${secret}`;
      return reply.code(201).send(present(share, session, url));
    },
  );

  api.get(
    '/sessions/:id/shares',
    {
      schema: {
        summary: "The session's view-only links",
        tags: ['desktop'],
        params: SessionIdParams,
        response: { 200: Type.Object({ shares: Type.Array(Share) }), ...errorResponses },
      },
    },
    async (request) => {
      const { session } = await loadOwned(request, request.params.id);
      return { shares: (await shares.list(session.id)).map((s) => present(s, session)) };
    },
  );

  api.delete(
    '/sessions/:id/shares/:share_id',
    {
      schema: {
        summary: 'Revoke a view-only link (its viewers are disconnected)',
        tags: ['desktop'],
        params: ShareParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { who, session } = await loadOwned(request, request.params.id);
      requireCsrfSafe(request, who);
      await shares.revoke(session.id, request.params.share_id);
      desktops.revokeShare(request.params.share_id);
      await service.audit('share.revoke', {
        actor: { kind: who.admin ? 'admin' : 'visitor', address: request.ip },
        sessionId: session.id,
        outcome: 'ok',
        detail: { share_id: request.params.share_id },
      });
      return reply.code(204).send(null);
    },
  );
}
