// GET /metrics: Prometheus text format, for the admin or WINUX_METRICS_TOKEN
// (a scraper should not hold admin rights).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { hashSecret, secretMatches } from '../../core/credentials.ts';
import { errors } from '../../core/errors.ts';
import { adminFrom } from '../admin-auth.ts';
import type { AppContext } from '../context.ts';
import { ErrorBody } from '../schemas.ts';

export function metricsRoutes(app: FastifyInstance, ctx: AppContext): void {
  const metricsTokenHash = ctx.config.metricsToken ? hashSecret(ctx.config.metricsToken) : undefined;
  const allowed = async (request: FastifyRequest) => {
    const bearer = request.headers.authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    if (bearer && metricsTokenHash && secretMatches(bearer, metricsTokenHash)) return true;
    return adminFrom(request, ctx);
  };

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (admin token or WINUX_METRICS_TOKEN)',
        tags: ['admin'],
        response: { 200: Type.String({ description: 'text/plain; version=0.0.4' }), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      if (!(await allowed(request))) {
        if (!request.headers.authorization && !request.cookies?.winux_admin) {
          throw errors.unauthorized('Metrics need the admin token or WINUX_METRICS_TOKEN (Authorization: Bearer …).');
        }
        throw errors.forbidden('This token may not read the metrics.');
      }
      const body = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(body);
    },
  );
}
