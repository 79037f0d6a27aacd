// The resource pool every session CT joins (WINUX_PROXMOX_POOL): created on the
// first creation when missing, so a fresh cluster needs no manual step. A token
// without Pool.Allocate cannot; the clone then fails with PVE's own
// "pool … does not exist" and `winux doctor` prints the command.
import type { ProxmoxContext } from './context.ts';
import { PveApiError } from './errors.ts';

const ensured = new WeakMap<ProxmoxContext, Promise<void>>();

export function ensurePool(ctx: ProxmoxContext, signal?: AbortSignal): Promise<void> {
  let done = ensured.get(ctx);
  if (!done) {
    done = createIfMissing(ctx, signal).catch((err) => {
      ensured.delete(ctx); // try again on the next creation
      ctx.logger.warn({ err: (err as Error).message, pool: ctx.config.proxmox.pool }, 'could not create the Proxmox pool');
    });
    ensured.set(ctx, done);
  }
  return done;
}

async function createIfMissing(ctx: ProxmoxContext, signal?: AbortSignal): Promise<void> {
  const poolid = ctx.config.proxmox.pool;
  const pools = await ctx.client.get<Array<{ poolid: string }>>('/pools', undefined, { signal });
  if (pools.some((p) => p.poolid === poolid)) return;
  try {
    await ctx.client.post('/pools', { poolid, comment: 'Winux session containers' }, { signal });
    ctx.logger.info({ pool: poolid }, 'created the Proxmox pool for session containers');
  } catch (err) {
    // Created meanwhile by another Winux, or hidden from a privilege-separated token: either way it exists.
    if (err instanceof PveApiError && /already exists/.test(err.reason)) return;
    throw err;
  }
}
