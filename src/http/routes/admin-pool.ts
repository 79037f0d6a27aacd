// The warm pool from the console: its members, and its size changed at run
// time (kept in a settings row, so a restart keeps it; WINUX_POOL_SIZE is the default).
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { errors } from '../../core/errors.ts';
import { runningStatuses } from '../../core/session.ts';
import { PoolBody, PoolState } from '../admin-schemas.ts';
import { readCaller, requireAdmin, requireCsrfSafe } from '../auth.ts';
import type { AppContext } from '../context.ts';
import { ErrorBody } from '../schemas.ts';

export const poolSizeSetting = 'pool_size';

export function adminPoolRoutes(app: FastifyInstance, ctx: AppContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  const state = async () => {
    const members = await ctx.store.list({ pooled: true, statuses: runningStatuses });
    return {
      size: ctx.pool.targetSize,
      // Every pool's size (WINUX_POOL_SIZES: `xfce`, `xfce/en`); `size` (the default desktop's) is what PUT changes.
      sizes: { ...ctx.config.pool.sizes, [ctx.config.defaultDesktop]: ctx.pool.targetSize },
      max_age_minutes: Math.round(ctx.config.pool.maxAgeMs / 60_000),
      members: members.map((m) => ({
        session_id: m.id,
        status: m.status,
        step: m.step,
        container_id: m.containerId,
        desktop: m.desktop,
        language: m.language,
        created_at: new Date(m.createdAt).toISOString(),
      })),
    };
  };

  api.get(
    '/admin/pool',
    { schema: { summary: 'The warm pool: target size and members (admin)', tags: ['admin'], response: { 200: PoolState, 401: ErrorBody, 403: ErrorBody } } },
    async (request) => {
      requireAdmin(readCaller(request, ctx.adminTokenHash));
      return state();
    },
  );

  api.put(
    '/admin/pool',
    {
      schema: {
        summary: 'Change the warm pool size now (admin; kept across restarts)',
        tags: ['admin'],
        body: PoolBody,
        response: { 200: PoolState, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request) => {
      const who = readCaller(request, ctx.adminTokenHash);
      requireAdmin(who);
      requireCsrfSafe(request, who);
      const size = request.body.size;
      if (size > ctx.config.maxSessions) throw errors.badRequest(`size must be at most the capacity (${ctx.config.maxSessions}).`);
      const from = ctx.pool.targetSize;
      await ctx.admin.setSetting(poolSizeSetting, String(size), ctx.clock.now());
      ctx.pool.setSize(size);
      await ctx.service.audit('pool.resize', { actor: { kind: 'admin', address: request.ip }, detail: { from, to: size } });
      return state();
    },
  );
}
