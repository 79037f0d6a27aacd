// The console's template panel: which recipe is built where (hash, age, archive
// size), and a rebuild (admin, audited, one at a time: 409 while one runs) whose
// progress reaches the console through the admin event stream (`template` events).
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { RebuildState } from '../../core/template-rebuild.ts';
import { TemplatePanel } from '../admin-schemas.ts';
import { readCaller, requireAdmin, requireCsrfSafe } from '../auth.ts';
import type { AppContext } from '../context.ts';
import { EmptyBody, ErrorBody } from '../schemas.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function rebuildJson(r: RebuildState) {
  return {
    running: r.running,
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    outcome: r.outcome,
    error: r.error,
    step: r.step,
    lines: r.lines.map((l) => ({ at: new Date(l.at).toISOString(), step: l.step, detail: l.detail })),
  };
}

/** The panel: the provider's report (or why there is none) and the rebuild's state. */
export async function templatePanel(ctx: AppContext) {
  const now = ctx.clock.now();
  let status = null;
  let error: string | null = null;
  if (ctx.provider.templateStatus) {
    try {
      status = await ctx.provider.templateStatus();
    } catch (err) {
      error = (err as Error).message;
    }
  } else error = `The ${ctx.provider.name} provider does not report its template.`;
  return {
    provider: ctx.provider.name,
    recipe_hash: status?.recipeHash ?? null,
    copies: (status?.copies ?? []).map((c) => ({
      node: c.node,
      name: c.name,
      hash: c.hash,
      built_at: iso(c.builtAt),
      age_seconds: c.builtAt === null ? null : Math.max(0, Math.floor((now - c.builtAt) / 1000)),
      archive_bytes: c.archiveBytes,
      current: status?.recipeHash ? c.hash === status.recipeHash : null,
    })),
    rebuild_offered: Boolean(status?.rebuild.offered && ctx.provider.rebuildTemplate),
    rebuild_reason: status && !status.rebuild.offered ? status.rebuild.reason : error,
    rebuild: rebuildJson(ctx.rebuilds.state),
  };
}

export function adminTemplateRoutes(app: FastifyInstance, ctx: AppContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const errs = { 401: ErrorBody, 403: ErrorBody };

  api.get(
    '/admin/template',
    { schema: { summary: 'The desktop template: recipe, built copies, rebuild state (admin)', tags: ['admin'], response: { 200: TemplatePanel, ...errs } } },
    async (request) => {
      requireAdmin(readCaller(request, ctx.adminTokenHash));
      return templatePanel(ctx);
    },
  );

  api.post(
    '/admin/template/rebuild',
    {
      schema: {
        summary:
          'Rebuild the desktop template from its recipe (admin; progress as `template` events on /admin/events; 409 while one runs or where none is offered)',
        tags: ['admin'],
        body: EmptyBody,
        response: { 202: TemplatePanel, 409: ErrorBody, ...errs },
      },
    },
    async (request, reply) => {
      const who = readCaller(request, ctx.adminTokenHash);
      requireAdmin(who);
      requireCsrfSafe(request, who);
      await ctx.rebuilds.start({ kind: 'admin', address: request.ip });
      reply.code(202);
      return templatePanel(ctx);
    },
  );
}
