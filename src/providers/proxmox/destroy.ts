// Destroying a session's CT: find it cluster-wide (it may sit on any node),
// settle its lock, then DELETE with purge and force (PVE stops it first). "Gone"
// is success, and a CT Winux did not make is never touched.
//
// "Gone" must be confirmed, because the core gives the id to the next session
// once destroy returns. `/cluster/resources` silently leaves out guests the token
// may not audit (a token that lost VM.Audit sees an empty list, not an error), so
// not being listed proves nothing. `GET /cluster/nextid?vmid=N` does: it answers
// from the cluster-wide vmlist for any authenticated user (pve-manager
// PVE/API2/Cluster.pm `nextid`, `permissions => { user => 'all' }`), whatever the
// token's ACLs and whichever node holds the guest, and refuses a taken id with
// 400 "VM N already exists" (PROXMOX.md §2).
import { ProviderError } from '../../core/errors.ts';
import { backoff, TimeoutError } from './backoff.ts';
import type { ProxmoxContext } from './context.ts';
import { isNotFound, lockOf, PveApiError, PveTaskError } from './errors.ts';
import { deleteCt, findVm, isManaged, settleLock } from './guest-ops.ts';

/** A CT the cluster still holds but this token cannot see: its id must not be reused. */
export class InvisibleCtError extends ProviderError {
  constructor(readonly vmid: number) {
    super(
      `CT ${vmid} still exists in the cluster (GET /cluster/nextid?vmid=${vmid} says it is taken) but this API token cannot see it in /cluster/resources: ` +
        `grant the token VM.Audit on /vms or on the Winux pool (pveum acl modify /pool/<pool> -token '<user@realm!token>' -role PVEVMAdmin); its id is kept until it is really gone`,
      true,
    );
    this.name = 'InvisibleCtError';
  }
}

/** True when the cluster has no guest with this id, as the authoritative vmlist says. */
export async function vmidFree(ctx: ProxmoxContext, vmid: number, signal?: AbortSignal): Promise<boolean> {
  try {
    const answer = await ctx.client.get<number | string>('/cluster/nextid', { vmid }, { signal });
    return Number(answer) === vmid;
  } catch (e) {
    if (e instanceof PveApiError && e.status === 400 && /already exists/.test(e.errors?.vmid ?? '')) return false;
    throw e;
  }
}

export async function destroyVm(ctx: ProxmoxContext, vmid: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + ctx.config.destroyTimeoutMs;
  const b = backoff(ctx.tuning.pollMs, 3000);
  let last: Error | undefined;
  for (;;) {
    if (Date.now() > deadline) {
      throw last instanceof InvisibleCtError
        ? last
        : new TimeoutError(
            `CT ${vmid} still exists after ${Math.round(ctx.config.destroyTimeoutMs / 1000)} s of trying to destroy it${last ? ` (${last.message})` : ''}`,
          );
    }
    try {
      const vm = await findVm(ctx, vmid, signal);
      if (!vm) {
        if (await vmidFree(ctx, vmid, signal)) return;
        // Listed nowhere, yet taken: VM.Audit lost (or not yet propagated). Not gone: wait, then say so.
        throw new InvisibleCtError(vmid);
      }
      if (!isManaged(vm) || Number(vm.template ?? 0) === 1) {
        ctx.logger.warn({ vmid, node: vm.node }, 'not destroying a container Winux did not create');
        return;
      }
      if (vm.lock && !(await settleLock(ctx, vm.node, vmid, signal))) continue;
      await deleteCt(ctx, vm.node, vmid, signal);
    } catch (e) {
      if (signal?.aborted) throw e;
      if (isNotFound(e)) continue;
      const again = lockOf(e) || (e instanceof PveApiError && e.retryable) || e instanceof PveTaskError || (e instanceof ProviderError && e.retryable);
      if (!again) throw e;
      last = e as Error;
      ctx.logger.warn({ vmid, err: (e as Error).message }, 'destroy step failed, retrying');
      await b.wait(signal);
    }
  }
}
