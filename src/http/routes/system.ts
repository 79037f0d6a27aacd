// Health, public information for the page, and the admin's cleanup.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { readCaller, requireAdmin } from '../auth.ts';
import { Type } from 'typebox';
import { CleanupResult, EmptyBody, ErrorBody, Health, Info, PublicHealth } from '../schemas.ts';
import type { AppContext } from '../context.ts';
import { version } from '../../version.ts';
import { ensureVisitorCookie } from '../visitor.ts';
import { desktopChoice } from './desktops.ts';

export function systemRoutes(app: FastifyInstance, ctx: AppContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { service, store, provider, config } = ctx;
  const startedAt = Date.now();

  const capacity = async () => {
    const c = await service.capacity();
    return { max: c.max, in_use: c.inUse, free: c.free, next_free_at: c.nextFreeAt === null ? null : new Date(c.nextFreeAt).toISOString() };
  };

  api.get(
    '/health',
    {
      schema: {
        summary: 'Is Winux able to serve? 503 when the store or the provider is down',
        description: 'Anyone gets the status and each check as ok, failing or unknown; the details (hosts, users, versions, nodes) need the admin token.',
        tags: ['system'],
        response: { 200: Type.Union([Health, PublicHealth]), 503: Type.Union([Health, PublicHealth]) },
      },
    },
    async (request, reply) => {
      const [storeCheck, providerCheck] = await Promise.all([ctx.storeHealth(), ctx.providerHealth()]);
      const ok = storeCheck.ok && providerCheck.ok;
      const status = ok ? ('ok' as const) : ('degraded' as const);
      const checks = [
        { name: 'store', status: storeCheck.ok ? ('ok' as const) : ('failing' as const) },
        ...(providerCheck.parts ?? [{ name: 'provider', status: providerCheck.ok ? ('ok' as const) : ('failing' as const) }]).map((c) => ({
          name: c.name,
          status: c.status,
        })),
      ];
      // The public answer names no host, user, version or node: a monitor needs only this.
      if (!readCaller(request, ctx.adminTokenHash).admin) return reply.code(ok ? 200 : 503).send({ status, checks });
      const body = {
        status,
        checks,
        store: { ok: storeCheck.ok, detail: storeCheck.detail },
        provider: { name: provider.name, ok: providerCheck.ok, detail: providerCheck.detail, checks: providerCheck.parts ?? [] },
        // A read-only database still answers these; an unreachable one does not.
        sessions: await store.countByStatus().catch(() => ({})),
        capacity: await capacity().catch(() => ({ max: config.maxSessions, in_use: 0, free: 0, next_free_at: null })),
        uptime_seconds: Math.floor((Date.now() - startedAt) / 1000),
        version,
      };
      return reply.code(ok ? 200 : 503).send(body);
    },
  );

  api.get(
    '/info',
    {
      schema: { summary: 'What the page needs to know: durations, capacity, estimated wait', tags: ['system'], response: { 200: Info } },
    },
    async (request, reply) => {
      ensureVisitorCookie(request, reply);
      return {
        session_minutes: config.sessionMinutes,
        max_session_minutes: config.maxSessionMinutes,
        estimated_ready_seconds: service.estimatedReadySeconds(),
        capacity: await capacity(),
        provider: provider.name,
        version,
        desktops: desktopChoice(config),
      };
    },
  );

  api.post(
    '/cleanup',
    {
      schema: {
        summary: 'End every expired session now (admin)',
        tags: ['admin'],
        body: EmptyBody,
        response: { 200: CleanupResult, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request) => {
      requireAdmin(readCaller(request, ctx.adminTokenHash));
      const ids = await service.cleanupExpired({ wait: true });
      await service.audit('admin.cleanup', { actor: { kind: 'admin', address: request.ip }, detail: { ended: ids.length } });
      return { destroyed: ids.length, sessions: ids };
    },
  );
}
