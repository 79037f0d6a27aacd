// Console sign-in: the admin token is posted once and exchanged for the
// HttpOnly winux_admin cookie (admin-auth.ts); the page never keeps the token.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { secretMatches } from '../../core/credentials.ts';
import { errors } from '../../core/errors.ts';
import { adminCookie, hasAdminToken, signIn, signOut } from '../admin-auth.ts';
import { SignInBody, SignInState } from '../admin-schemas.ts';
import { readCaller, requireAdmin } from '../auth.ts';
import type { AppContext } from '../context.ts';
import { ErrorBody } from '../schemas.ts';

/** Wrong tokens tried from one address per minute before 429. */
const signInAttemptsPerMinute = 10;

export function adminSessionRoutes(app: FastifyInstance, ctx: AppContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.post(
    '/admin/session',
    {
      schema: {
        summary: 'Sign the console in: the admin token for an HttpOnly cookie',
        tags: ['admin'],
        body: SignInBody,
        response: { 200: SignInState, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
      },
      config: { rateLimit: { max: signInAttemptsPerMinute, timeWindow: 60_000 } },
    },
    async (request, reply) => {
      const actor = { kind: 'admin' as const, address: request.ip };
      if (!secretMatches(request.body.token, ctx.adminTokenHash)) {
        await ctx.service.audit('admin.sign_in', { actor, outcome: 'refused', detail: { code: 'wrong_token' } });
        throw errors.unauthorized('That is not the admin token.');
      }
      const { expiresAt } = await signIn(request, reply, ctx);
      await ctx.service.audit('admin.sign_in', { actor, detail: { expires_at: new Date(expiresAt).toISOString() } });
      return { signed_in: true, via: 'cookie' as const, expires_at: new Date(expiresAt).toISOString() };
    },
  );

  api.get(
    '/admin/session',
    {
      schema: { summary: 'Is this browser signed in to the console?', tags: ['admin'], response: { 200: SignInState, 401: ErrorBody, 403: ErrorBody } },
    },
    async (request) => {
      requireAdmin(readCaller(request, ctx.adminTokenHash));
      const viaToken = hasAdminToken(request, ctx.adminTokenHash);
      return { signed_in: true, via: viaToken ? ('token' as const) : ('cookie' as const), expires_at: null };
    },
  );

  api.delete(
    '/admin/session',
    { schema: { summary: 'Sign the console out (the cookie stops working at once)', tags: ['admin'], response: { 204: { type: 'null' } } } },
    async (request, reply) => {
      const had = Boolean(request.cookies?.[adminCookie]);
      const wasAdmin = readCaller(request, ctx.adminTokenHash).admin;
      await signOut(request, reply, ctx);
      if (had && wasAdmin) await ctx.service.audit('admin.sign_out', { actor: { kind: 'admin', address: request.ip } });
      return reply.code(204).send(null);
    },
  );
}
