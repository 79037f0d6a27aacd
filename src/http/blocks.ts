// Blocked client addresses and networks (IPv4 or IPv6 CIDR), kept by the
// console in the store: a blocked visitor cannot start a desktop and is told so.
import { BlockList, isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { Block } from '../core/admin-port.ts';
import { WinuxError } from '../core/errors.ts';
import type { AppContext } from './context.ts';

/** `a.b.c.d/n`, `v6::/n` or a bare address, normalised to CIDR; undefined when it is neither. */
export function parseNetwork(text: string): { network: string; address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const m = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!m) return undefined;
  const version = isIP(m[1]!);
  if (!version) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix > max || (version === 4 && prefix < 8) || (version === 6 && prefix < 16)) return undefined;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  return { network: `${m[1]!.toLowerCase()}/${prefix}`, address: m[1]!.toLowerCase(), prefix, family };
}

/** The block that covers `address`, if any. */
export function blockFor(address: string, blocks: readonly Block[]): Block | undefined {
  const version = isIP(address.replace(/^::ffff:(?=\d+\.)/, ''));
  if (!version) return undefined;
  const plain = address.replace(/^::ffff:(?=\d+\.)/, '');
  for (const b of blocks) {
    const n = parseNetwork(b.network);
    if (!n) continue;
    const list = new BlockList();
    list.addSubnet(n.address, n.prefix, n.family);
    if (list.check(plain, version === 4 ? 'ipv4' : 'ipv6')) return b;
  }
  return undefined;
}

/** The IPv6 /64 an address belongs to (one household or one phone's network), or undefined for IPv4. */
export function ipv6Net64(address: string): string | undefined {
  if (isIP(address) !== 6 || address.startsWith('::ffff:')) return undefined;
  const [head, tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail !== undefined && tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

/** Throws 403 address_blocked when the caller's address is blocked (and counts it). */
export async function refuseBlocked(request: FastifyRequest, ctx: AppContext): Promise<void> {
  const block = blockFor(request.ip, await ctx.admin.activeBlocks(ctx.clock.now()));
  if (!block) return;
  ctx.metrics.refused('address_blocked');
  await ctx.service.audit('session.create', {
    actor: { kind: 'visitor', address: request.ip },
    outcome: 'refused',
    detail: { code: 'address_blocked', block_id: block.id },
  });
  throw blockedError(block);
}

function blockedError(block: Block): WinuxError {
  const until = block.expiresAt === null ? undefined : new Date(block.expiresAt).toISOString();
  return new WinuxError(
    'address_blocked',
    403,
    until
      ? `Your address is blocked from starting desktops until ${until}. If you think this is a mistake, contact whoever runs this Winux.`
      : 'Your address is blocked from starting desktops. If you think this is a mistake, contact whoever runs this Winux.',
    until ? { blocked_until: until } : {},
  );
}
