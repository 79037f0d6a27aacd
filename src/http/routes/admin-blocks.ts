// Blocked addresses and networks from the console: list, add (for a while or
// for good), remove. Persisted in the store and audited.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Block } from '../../core/admin-port.ts';
import { errors } from '../../core/errors.ts';
import { BlockBody, BlockIdParams, BlockJson, BlockList } from '../admin-schemas.ts';
import { readCaller, requireAdmin, requireCsrfSafe } from '../auth.ts';
import { parseNetwork } from '../blocks.ts';
import type { AppContext } from '../context.ts';
import { ErrorBody } from '../schemas.ts';

export const blockJson = (b: Block) => ({
  id: b.id,
  network: b.network,
  reason: b.reason,
  created_at: new Date(b.createdAt).toISOString(),
  expires_at: b.expiresAt === null ? null : new Date(b.expiresAt).toISOString(),
});

export function adminBlockRoutes(app: FastifyInstance, ctx: AppContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const errs = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

  api.get('/admin/blocks', { schema: { summary: 'Blocks in force (admin)', tags: ['admin'], response: { 200: BlockList, ...errs } } }, async (request) => {
    requireAdmin(readCaller(request, ctx.adminTokenHash));
    return { blocks: (await ctx.admin.activeBlocks(ctx.clock.now())).map(blockJson) };
  });

  api.post(
    '/admin/blocks',
    {
      schema: {
        summary: 'Block an address or network from starting desktops (admin)',
        tags: ['admin'],
        body: BlockBody,
        response: { 201: BlockJson, ...errs },
      },
    },
    async (request, reply) => {
      const who = readCaller(request, ctx.adminTokenHash);
      requireAdmin(who);
      requireCsrfSafe(request, who);
      const parsed = parseNetwork(request.body.network);
      if (!parsed) throw errors.badRequest('"network" must be an IPv4 or IPv6 address or a CIDR network (IPv4 /8 to /32, IPv6 /16 to /128).');
      const now = ctx.clock.now();
      const minutes = request.body.minutes ?? null;
      const block = await ctx.admin.addBlock({
        network: parsed.network,
        reason: request.body.reason?.trim() || '',
        createdAt: now,
        expiresAt: minutes === null ? null : now + minutes * 60_000,
      });
      await ctx.service.audit('block.add', {
        actor: { kind: 'admin', address: request.ip },
        detail: { block_id: block.id, network: block.network, minutes },
      });
      return reply.code(201).send(blockJson(block));
    },
  );

  api.delete(
    '/admin/blocks/:id',
    { schema: { summary: 'Unblock (admin)', tags: ['admin'], params: BlockIdParams, response: { 204: { type: 'null' }, ...errs } } },
    async (request, reply) => {
      const who = readCaller(request, ctx.adminTokenHash);
      requireAdmin(who);
      requireCsrfSafe(request, who);
      const id = Number(request.params.id);
      if (!(await ctx.admin.removeBlock(id))) throw errors.notFound('No such block.');
      await ctx.service.audit('block.remove', { actor: { kind: 'admin', address: request.ip }, detail: { block_id: id } });
      return reply.code(204).send(null);
    },
  );
}
