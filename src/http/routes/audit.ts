// GET /audit: the audit log for the admin, newest first, filtered and paged;
// ?format=jsonl exports every matching row as JSON lines.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AuditFilter, AuditRow } from '../../core/audit-port.ts';
import { errors } from '../../core/errors.ts';
import { AuditPage, AuditQuery } from '../admin-schemas.ts';
import { readCaller, requireAdmin } from '../auth.ts';
import type { AppContext } from '../context.ts';
import { ErrorBody } from '../schemas.ts';

const exportPage = 1000;

export function auditJson(r: AuditRow) {
  return {
    id: r.id,
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    action: r.action,
    outcome: r.outcome,
    address: r.address,
    session_id: r.sessionId,
    detail: r.detail,
  };
}

export function auditRoutes(app: FastifyInstance, ctx: AppContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get(
    '/audit',
    {
      schema: {
        summary: 'The audit log (admin): filters by session, actor, action, outcome, address, time; paged with ?before=',
        tags: ['admin'],
        querystring: AuditQuery,
        response: { 200: AuditPage, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      requireAdmin(readCaller(request, ctx.adminTokenHash));
      const q = request.query;
      const time = (v: string | undefined, name: string) => {
        if (v === undefined) return undefined;
        const ms = Date.parse(v);
        if (Number.isNaN(ms)) throw errors.badRequest(`In the query string: "${name}" is not a date.`);
        return ms;
      };
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (limit < 1 || limit > 1000) throw errors.badRequest('In the query string: "limit" must be from 1 to 1000.');
      const filter: AuditFilter = {
        sessionId: q.session_id,
        actor: q.actor,
        action: q.action,
        outcome: q.outcome,
        address: q.address,
        since: time(q.since, 'since'),
        until: time(q.until, 'until'),
        before: q.before === undefined ? undefined : Number(q.before),
        limit,
      };
      if (q.format === 'jsonl') {
        reply.type('application/x-ndjson').header('content-disposition', 'attachment; filename="winux-audit.jsonl"');
        const lines: string[] = [];
        for (let before = filter.before; ; ) {
          const rows = await ctx.audit.query({ ...filter, before, limit: exportPage });
          for (const r of rows) lines.push(JSON.stringify(auditJson(r)));
          if (rows.length < exportPage) break;
          before = rows[rows.length - 1]!.id;
        }
        // Not the page's JSON schema: text, sent as is.
        return (reply as FastifyReply).serializer((v) => v as string).send(lines.length ? `${lines.join('\n')}\n` : '');
      }
      const rows = await ctx.audit.query(filter);
      return { entries: rows.map(auditJson), next_before: rows.length === limit ? rows[rows.length - 1]!.id : null };
    },
  );
}
