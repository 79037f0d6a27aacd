// Destroying a session's CT: find it cluster-wide (it may sit on any node),
// settle its lock, then DELETE with purge and force (PVE stops it first). "Gone"
// is success, and a CT Winux did not make is never touched.
import { ProviderError } from '../../core/errors.ts';
import { backoff, TimeoutError } from './backoff.ts';
import type { ProxmoxContext } from './context.ts';
import { isNotFound, lockOf, PveApiError, PveTaskError } from './errors.ts';
import { deleteCt, findVm, isManaged, settleLock } from './guest-ops.ts';

export async function destroyVm(ctx: ProxmoxContext, vmid: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + ctx.config.destroyTimeoutMs;
  const b = backoff(ctx.tuning.pollMs, 3000);
  for (;;) {
    if (Date.now() > deadline)
      throw new TimeoutError(`CT ${vmid} still exists after ${Math.round(ctx.config.destroyTimeoutMs / 1000)} s of trying to destroy it`);
    try {
      const vm = await findVm(ctx, vmid, signal);
      if (!vm) return;
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
      ctx.logger.warn({ vmid, err: (e as Error).message }, 'destroy step failed, retrying');
      await b.wait(signal);
    }
  }
}
