// The console's data: one overview, the live session list as server-sent
// events, and the bulk actions (end all expired, end all).
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { runningStatuses } from '../../core/session.ts';
import { errors } from '../../core/errors.ts';
import type { RebuildState } from '../../core/template-rebuild.ts';
import { abuse, capacityAndHost, defaultUsageDays, failures, liveSessions, usage } from '../admin-overview.ts';
import { BulkResult, Overview, OverviewQuery } from '../admin-schemas.ts';
import { rebuildJson, templatePanel } from './admin-template.ts';
import { readCaller, requireAdmin, requireCsrfSafe } from '../auth.ts';
import type { AppContext } from '../context.ts';
import { openEventStream } from '../event-stream.ts';
import { EmptyBody, ErrorBody } from '../schemas.ts';

/** Re-sent even without a change: time left moves, and another replica may have changed something. */
const refreshMs = 5_000;
const keepaliveMs = 15_000;

export function adminConsoleRoutes(app: FastifyInstance, ctx: AppContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const errs = { 401: ErrorBody, 403: ErrorBody };
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
  });

  api.get(
    '/admin/overview',
    {
      schema: {
        summary: 'Everything the console shows (admin)',
        tags: ['admin'],
        querystring: OverviewQuery,
        response: { 200: Overview, 400: ErrorBody, ...errs },
      },
    },
    async (request) => {
      requireAdmin(readCaller(request, ctx.adminTokenHash));
      const days = request.query.days === undefined ? defaultUsageDays : Number(request.query.days);
      if (days < 7 || days > ctx.config.usageDays) throw errors.badRequest(`days must be between 7 and ${ctx.config.usageDays} (WINUX_USAGE_DAYS).`);
      const [sessions, capacity, failed, clients, use, template] = await Promise.all([
        liveSessions(ctx),
        capacityAndHost(ctx),
        failures(ctx),
        abuse(ctx),
        usage(ctx, days),
        templatePanel(ctx),
      ]);
      return {
        sessions,
        ...capacity,
        pool: { size: ctx.pool.targetSize },
        failures: failed,
        abuse: clients,
        usage: use,
        template,
        server_time: new Date(ctx.clock.now()).toISOString(),
      };
    },
  );

  api.get(
    '/admin/events',
    {
      schema: {
        summary:
          'The live session list as server-sent events: a `sessions` event (every session not ended) on each change, a `template` event (the rebuild state) on each step of a template rebuild (admin)',
        tags: ['admin'],
        response: { 200: Type.String({ description: 'text/event-stream' }), ...errs },
      },
    },
    async (request, reply) => {
      requireAdmin(readCaller(request, ctx.adminTokenHash));
      const res = openEventStream(reply);
      let ended = false;
      let pending: NodeJS.Timeout | undefined;
      let busy: Promise<void> = Promise.resolve();
      const send = () => {
        busy = busy.then(async () => {
          if (ended) return;
          try {
            const sessions = await liveSessions(ctx);
            const capacity = await ctx.service.capacity();
            res.write(
              `event: sessions\ndata: ${JSON.stringify({ sessions, capacity: { max: capacity.max, in_use: capacity.inUse, free: capacity.free }, server_time: new Date(ctx.clock.now()).toISOString() })}\n\n`,
            );
          } catch {
            /* the store is briefly unavailable: the next change or refresh tries again */
          }
        });
      };
      // A burst of changes (a creation's steps) becomes one event.
      const onChange = () => {
        pending ??= setTimeout(() => {
          pending = undefined;
          send();
        }, 100);
      };
      // A rebuild's progress lines, as they come: a burst of lines becomes one event.
      let rebuildPending: NodeJS.Timeout | undefined;
      const onRebuild = (_state: RebuildState) => {
        rebuildPending ??= setTimeout(() => {
          rebuildPending = undefined;
          if (!ended) res.write(`event: template\ndata: ${JSON.stringify(rebuildJson(ctx.rebuilds.state))}\n\n`);
        }, 100);
      };
      const refresh = setInterval(send, refreshMs);
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), keepaliveMs);
      const end = () => {
        if (ended) return;
        ended = true;
        clearInterval(refresh);
        clearInterval(keepalive);
        if (pending) clearTimeout(pending);
        if (rebuildPending) clearTimeout(rebuildPending);
        ctx.rebuilds.off('change', onRebuild);
        ctx.service.off('session', onChange);
        streams.delete(end);
        res.end();
      };
      streams.add(end);
      ctx.service.on('session', onChange);
      ctx.rebuilds.on('change', onRebuild);
      res.on('close', end);
      res.write('retry: 2000\n\n');
      send();
    },
  );

  const bulk = (path: string, summary: string, pick: (now: number) => Promise<string[]>, action: string) =>
    api.post(path, { schema: { summary, tags: ['admin'], body: EmptyBody, response: { 200: BulkResult, ...errs } } }, async (request) => {
      const who = readCaller(request, ctx.adminTokenHash);
      requireAdmin(who);
      requireCsrfSafe(request, who);
      const by = { kind: 'admin' as const, address: request.ip };
      const ids = await pick(ctx.clock.now());
      const ended: string[] = [];
      for (const id of ids) {
        const before = await ctx.service.get(id);
        await ctx.service.destroy(id, 'ended by admin', { by });
        if (runningStatuses.includes(before.status)) ended.push(id);
      }
      await ctx.service.audit(action, { actor: by, detail: { ended: ended.length } });
      return { ended: ended.length, sessions: ended };
    });

  bulk(
    '/admin/sessions/end-expired',
    'End every visitor session whose time is up (admin)',
    async (now) => (await ctx.store.dueForExpiry(now, 10_000)).map((s) => s.id),
    'admin.end_expired',
  );
  bulk(
    '/admin/sessions/end-all',
    "End every visitor's session now (admin; warm-pool members stay)",
    async () => (await ctx.store.list({ statuses: runningStatuses, pooled: false, limit: 10_000 })).map((s) => s.id),
    'admin.end_all',
  );
}
