// The one way a route finds a session for its caller: who is calling, then the
// session only if they may act on it (the same answer for a foreign and an
// unknown id). Used by the session, event-stream and desktop routes.
import type { FastifyRequest } from 'fastify';
import { errors } from '../core/errors.ts';
import { readCaller, requireAccess } from './auth.ts';
import type { AppContext } from './context.ts';

export async function loadAccessible(ctx: AppContext, request: FastifyRequest, id: string) {
  const who = readCaller(request, ctx.adminTokenHash);
  // Checked before the lookup too, so an anonymous caller learns nothing about ids.
  if (!who.admin && !who.presented) throw errors.unauthorized();
  const session = await ctx.service.list({ ids: [id] }).then((r) => r[0]);
  requireAccess(who, session);
  return { who, session };
}
