// Session routes: thin adapters from HTTP to SessionService.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errors } from '../../core/errors.ts';
import type { SessionRecord } from '../../core/session.ts';
import { isRunning, unendedStatuses } from '../../core/session.ts';
import { claimedSessionIds, owns, readCaller, requireCsrfSafe, tokenCookie, type Caller } from '../auth.ts';
import { presentSession } from '../present.ts';
import { loadAccessible } from '../session-access.ts';
import { sessionEventRoutes } from './session-events.ts';
import { ensureVisitorCookie, visitorKey } from '../visitor.ts';
import { rdpFile } from '../rdp-file.ts';
import { clientAddressKey } from '../client-address.ts';
import { CreateBody, CreatedSession, ErrorBody, ExtendBody, ListQuery, Session, SessionIdParams, SessionList } from '../schemas.ts';
import type { AppContext } from '../context.ts';
import type { Actor } from '../../core/audit-port.ts';
import { refuseBlocked } from '../blocks.ts';

const errorResponses = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 429: ErrorBody, 503: ErrorBody };

export function sessionRoutes(app: FastifyInstance, ctx: AppContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { service, config, clock } = ctx;
  const caller = (request: FastifyRequest): Caller => readCaller(request, ctx.adminTokenHash);
  const show = (request: FastifyRequest, session: SessionRecord, withSecrets: boolean) =>
    presentSession(session, {
      withSecrets,
      publicHost: config.publicHost ?? requestHost(request),
      now: clock.now(),
      maxExpiresAt: service.maxExpiry(session),
      extendMinutes: config.sessionMinutes,
    });
  const load = (request: FastifyRequest, id: string) => loadAccessible(ctx, request, id);

  api.post(
    '/sessions',
    {
      schema: {
        summary: 'Start a new desktop session',
        description: 'Answers at once with status "creating"; poll GET /sessions/{id} until "ready". The token is shown only here.',
        tags: ['sessions'],
        body: CreateBody,
        response: { 202: CreatedSession, ...errorResponses },
      },
    },
    async (request, reply) => {
      await refuseBlocked(request, ctx);
      const visitor = visitorKey(request);
      const address = clientAddressKey(request.ip);
      const wait = (await ctx.createBudget?.take(address)) ?? 0;
      if (wait) {
        ctx.metrics.refused('rate_limited');
        throw errors.rateLimited(wait);
      }
      const { session, token } = await service.create({
        visitor,
        address,
        durationMinutes: request.body?.duration_minutes,
        desktop: request.body?.desktop,
        language: request.body?.language,
      });
      reply.setCookie(tokenCookie, token, {
        httpOnly: true,
        sameSite: 'strict',
        path: '/',
        secure: request.protocol === 'https',
        maxAge: config.maxSessionMinutes * 60,
      });
      // Always 202 (the contract); with a warm pool the session may already be `ready`.
      return reply.code(202).send({ ...show(request, session, true), token });
    },
  );

  api.get(
    '/sessions',
    {
      schema: {
        summary: 'List sessions',
        description: 'The admin sees every live session (status=all for ended ones too); anyone else sees only the sessions of the tokens they present.',
        tags: ['sessions'],
        querystring: ListQuery,
        response: { 200: SessionList, ...errorResponses },
      },
    },
    async (request, reply) => {
      ensureVisitorCookie(request, reply);
      const who = caller(request);
      const limit = Number(request.query.limit ?? 500);
      if (who.admin) {
        const wanted = request.query.status;
        const sessions = await service.list({
          statuses: wanted === 'all' ? undefined : wanted ? [wanted] : unendedStatuses,
          pooled: request.query.pool === 'true',
          limit,
        });
        return { sessions: sessions.map((s) => show(request, s, true)) };
      }
      const ids = claimedSessionIds(who);
      const mine = (await service.list({ ids })).filter((s) => owns(who, s));
      return { sessions: mine.map((s) => show(request, s, true)) };
    },
  );

  sessionEventRoutes(app, ctx, { load, show: (request, session) => show(request, session, true) });

  api.get(
    '/sessions/:id',
    {
      schema: { summary: 'One session, with its credentials', tags: ['sessions'], params: SessionIdParams, response: { 200: Session, ...errorResponses } },
    },
    async (request) => {
      const { session } = await load(request, request.params.id);
      return show(request, session, true);
    },
  );

  api.delete(
    '/sessions/:id',
    {
      schema: {
        summary: 'End a session now',
        description: 'Answers 202 with status "destroying"; the container is removed in the background. Ending an ended session answers 200.',
        tags: ['sessions'],
        params: SessionIdParams,
        response: { 200: Session, 202: Session, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { who, session } = await load(request, request.params.id);
      requireCsrfSafe(request, who);
      const wasRunning = isRunning(session.status);
      const after = await service.destroy(session.id, who.admin ? 'ended by admin' : 'ended by owner', { by: actorOf(request, who) });
      return reply.code(wasRunning ? 202 : 200).send(show(request, after, true));
    },
  );

  api.post(
    '/sessions/:id/extend',
    {
      schema: {
        summary: 'Give a session more time',
        description: `Adds minutes (default WINUX_SESSION_MINUTES) without going past WINUX_MAX_SESSION_MINUTES from its start; 409 extension_limit at the limit.`,
        tags: ['sessions'],
        params: SessionIdParams,
        body: ExtendBody,
        response: { 200: Session, ...errorResponses },
      },
    },
    async (request) => {
      const { who, session } = await load(request, request.params.id);
      requireCsrfSafe(request, who);
      return show(request, await service.extend(session.id, request.body?.minutes, actorOf(request, who)), true);
    },
  );

  api.get(
    '/sessions/:id/rdp',
    {
      schema: {
        summary: 'A .rdp file for Windows Remote Desktop, the macOS Windows App and Remmina',
        tags: ['sessions'],
        params: SessionIdParams,
        response: { 200: Type.String({ description: 'application/x-rdp' }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { session } = await load(request, request.params.id);
      const shown = show(request, session, false);
      if (session.status !== 'ready' || shown.host === null || shown.port === null) {
        throw errors.conflict(`This session is ${session.status}; the .rdp file is available once it is ready.`);
      }
      return reply
        .type('application/x-rdp')
        .header('content-disposition', `attachment; filename="${session.id}.rdp"`)
        .send(rdpFile(shown.host, shown.port, session.username));
    },
  );
}

/** Who acts, for the audit log: the admin or the session's visitor, from their address. */
export function actorOf(request: FastifyRequest, who: Caller): Actor {
  return { kind: who.admin ? 'admin' : 'visitor', address: request.ip };
}

/** The host part of the request's Host header (what the visitor typed), without the port. */
export function requestHost(request: FastifyRequest): string {
  const host = request.hostname;
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  return host.replace(/:\d+$/, '');
}
