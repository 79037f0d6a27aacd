// Single-guest operations made robust against what real clusters do: locks held
// by running tasks (wait), locks left by crashed tasks (unlock over SSH once
// clearly stale), answers lost after PVE acted (check before repeating), and
// errors that only show in a task's exitstatus.
import { ProviderError } from '../../core/errors.ts';
import type { Params } from './api.ts';
import { backoff, TimeoutError } from './backoff.ts';
import { readCluster, tagsOf, type VmResource } from './cluster-view.ts';
import type { ProxmoxContext } from './context.ts';
import { isAlreadyExists, isAmbiguous, isNotFound, lockOf, PveApiError, PveTaskError } from './errors.ts';
import { managedTag, templateTags } from './naming.ts';
import { unlockCt } from './ssh-pct.ts';
import { activeTasks, waitForTask } from './tasks.ts';

export const ctPath = (node: string, vmid: number) => `/nodes/${encodeURIComponent(node)}/lxc/${vmid}`;

/** Winux made it: tagged `winux`, or a clone of the Winux template not yet re-tagged. */
export function isManaged(vm: VmResource): boolean {
  const tags = tagsOf(vm);
  return vm.type === 'lxc' && (tags.includes(managedTag) || (tags.some((t) => templateTags.includes(t)) && Number(vm.template ?? 0) !== 1));
}

export async function findVm(ctx: ProxmoxContext, vmid: number, signal?: AbortSignal): Promise<VmResource | undefined> {
  return (await readCluster(ctx.client, signal, 'vm')).vms.find((v) => v.vmid === vmid);
}

interface CtStatus {
  status: string;
  lock?: string;
  template?: number;
}

async function currentStatus(ctx: ProxmoxContext, node: string, vmid: number, signal?: AbortSignal): Promise<CtStatus | null> {
  try {
    return await ctx.client.get<CtStatus>(`${ctPath(node, vmid)}/status/current`, undefined, { signal });
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/**
 * Waits until CT `vmid` carries no lock. Tasks still running for it are waited
 * for; a lock with no task behind it for `staleLockMs` was left by a crashed
 * worker and is cleared with `pct unlock` (root only, hence SSH).
 * Resolves false when the CT is gone.
 */
export async function settleLock(ctx: ProxmoxContext, node: string, vmid: number, signal?: AbortSignal, waitMs = ctx.tuning.taskTimeoutMs): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  const b = backoff(ctx.tuning.pollMs, 2000);
  let orphanSince: number | null = null;
  for (;;) {
    const st = await currentStatus(ctx, node, vmid, signal);
    if (!st) return false;
    if (!st.lock) return true;
    const tasks = await activeTasks(ctx.client, node, vmid, signal);
    if (tasks.length) {
      orphanSince = null;
      for (const t of tasks)
        await waitForTask(ctx.client, t.upid, { signal, pollMs: ctx.tuning.pollMs, timeoutMs: Math.max(1000, deadline - Date.now()) }).catch(() => {});
      continue;
    }
    orphanSince ??= Date.now();
    if (Date.now() - orphanSince >= ctx.tuning.staleLockMs) {
      const target = await ctx.sshTarget(node, signal);
      if (!target) {
        throw new ProviderError(
          `CT ${vmid} on node ${node} has a stale '${st.lock}' lock left by a crashed task: run "pct unlock ${vmid}" on ${node} (set proxmox_ssh_key_path so Winux can do it itself)`,
        );
      }
      ctx.logger.warn({ vmid, node, lock: st.lock }, 'clearing a stale Proxmox lock (no task holds it)');
      await unlockCt(target, vmid, signal);
      continue;
    }
    if (Date.now() > deadline) throw new TimeoutError(`CT ${vmid} on ${node} stayed locked (${st.lock}) for ${Math.round(waitMs / 1000)} s`);
    await b.wait(signal);
  }
}

/** Starts CT `vmid` and waits for its start task; "already running" counts as done. */
export async function startCt(ctx: ProxmoxContext, node: string, vmid: number, signal?: AbortSignal): Promise<void> {
  const b = backoff(ctx.tuning.pollMs, 3000);
  for (let attempt = 1; ; attempt++) {
    try {
      const upid = await ctx.client.post<string>(`${ctPath(node, vmid)}/status/start`, undefined, { signal });
      await waitForTask(ctx.client, upid, { signal, pollMs: ctx.tuning.pollMs, timeoutMs: ctx.tuning.taskTimeoutMs });
      return;
    } catch (e) {
      if (e instanceof PveApiError && /already running/.test(e.reason)) return;
      if (e instanceof PveTaskError && /if it's a template/.test(e.exitstatus)) throw e;
      if (attempt >= 5 || signal?.aborted) throw e;
      if (lockOf(e)) {
        if (!(await settleLock(ctx, node, vmid, signal))) throw e;
        continue;
      }
      if (isAmbiguous(e)) {
        // The start may have happened: wait for any start task, then look.
        for (const t of await activeTasks(ctx.client, node, vmid, signal)) {
          await waitForTask(ctx.client, t.upid, { signal, pollMs: ctx.tuning.pollMs }).catch(() => {});
        }
        if ((await currentStatus(ctx, node, vmid, signal))?.status === 'running') return;
      } else if (!(e instanceof PveTaskError) && !(e instanceof PveApiError && e.retryable)) {
        throw e;
      }
      // A failed start task is safe to repeat (nothing half-done stays behind).
      ctx.logger.warn({ vmid, node, err: (e as Error).message, attempt }, 'Proxmox start failed, retrying');
      await b.wait(signal);
    }
  }
}

/** DELETE with purge (and force: stop first if running); "does not exist" is done. */
export async function deleteCt(ctx: ProxmoxContext, node: string, vmid: number, signal?: AbortSignal): Promise<void> {
  try {
    const upid = await ctx.client.delete<string>(ctPath(node, vmid), { purge: 1, force: 1, 'destroy-unreferenced-disks': 1 }, { signal });
    await waitForTask(ctx.client, upid, { signal, pollMs: ctx.tuning.pollMs, timeoutMs: ctx.tuning.taskTimeoutMs });
  } catch (e) {
    if (isNotFound(e)) return;
    throw e;
  }
}

/** What differs between the CTs Winux creates from a vztmpl archive (a session's desktop, the template). */
export interface ArchiveCt {
  vmid: number;
  /** The archive's volid (`local:vztmpl/…`). */
  ostemplate: string;
  hostname: string;
  description: string;
  tags: string;
  memoryMb: number;
  cores: number;
  diskGb: number;
  /** `ip=dhcp`, or a static address with its gateway. */
  ipParams: string;
  pool?: string;
  password?: string;
}

/**
 * Creates a CT from a vztmpl archive as every Winux desktop is: unprivileged with
 * nesting, 512 MiB of swap, its disk on the configured storage, one veth on the
 * configured bridge behind the PVE firewall. It stays stopped: the caller starts
 * it once its firewall is in place (or makes it a template).
 */
export function createFromArchive(ctx: ProxmoxContext, node: string, ct: ArchiveCt, signal?: AbortSignal): Promise<void> {
  const px = ctx.config.proxmox;
  return createGuest(
    ctx,
    {
      path: `/nodes/${encodeURIComponent(node)}/lxc`,
      node,
      vmid: ct.vmid,
      lockHolder: null,
      params: {
        vmid: ct.vmid,
        ostemplate: ct.ostemplate,
        hostname: ct.hostname,
        description: ct.description,
        pool: ct.pool,
        tags: ct.tags,
        memory: ct.memoryMb,
        swap: 512,
        cores: ct.cores,
        rootfs: `${px.storage}:${ct.diskGb}`,
        net0: `name=eth0,bridge=${px.bridge},${ct.ipParams},firewall=1,type=veth`,
        unprivileged: 1,
        features: 'nesting=1',
        password: ct.password,
        start: 0,
      },
    },
    signal,
  );
}

/**
 * Creates a guest with a POST that is not safe to repeat blindly (clone or
 * create). After an ambiguous failure it looks whether the guest came to exist:
 * if so it waits for the guest's lock to clear and counts it as created (or
 * retries if the worker failed and removed it); if not, it tries again.
 */
export async function createGuest(
  ctx: ProxmoxContext,
  req: { path: string; params: Params; node: string; vmid: number; lockHolder: { node: string; vmid: number } | null },
  signal?: AbortSignal,
): Promise<void> {
  const b = backoff(ctx.tuning.pollMs * 2, 5000);
  const lockDeadline = Date.now() + ctx.tuning.cloneLockWaitMs;
  for (let attempt = 1; ; attempt++) {
    let upid: string;
    try {
      upid = await ctx.client.post<string>(req.path, req.params, { signal });
    } catch (e) {
      if (signal?.aborted) throw e;
      if (isAlreadyExists(e)) throw e;
      if (lockOf(e) && req.lockHolder && Date.now() < lockDeadline) {
        // The template is being cloned by someone else (another Winux, an admin) or holds a stale lock.
        await settleLock(ctx, req.lockHolder.node, req.lockHolder.vmid, signal, Math.max(1000, lockDeadline - Date.now()));
        continue;
      }
      if (isAmbiguous(e) && attempt < 6) {
        ctx.logger.warn({ vmid: req.vmid, err: (e as Error).message }, 'Proxmox create answer lost; checking what happened');
        await b.wait(signal);
        const vm = await findVm(ctx, req.vmid, signal);
        if (vm) {
          // Its worker may still run: the lock clears when it ends (or the CT vanishes if it failed).
          if (req.lockHolder) {
            for (const t of await activeTasks(ctx.client, req.lockHolder.node, req.lockHolder.vmid, signal)) {
              await waitForTask(ctx.client, t.upid, { signal, pollMs: ctx.tuning.pollMs }).catch(() => {});
            }
          }
          if (await settleLock(ctx, vm.node, req.vmid, signal)) return;
        }
        continue;
      }
      throw e;
    }
    try {
      // Clones hold the template's lock and queue up behind each other: poll finely so the next one starts sooner.
      await waitForTask(ctx.client, upid, { signal, pollMs: Math.min(ctx.tuning.pollMs, 100), timeoutMs: ctx.tuning.taskTimeoutMs });
      return;
    } catch (e) {
      // A crashed clone worker leaves its 'disk' lock on the template: clear it now (it is
      // ours, and stale once no task holds it) rather than leave it for the next clone.
      if (e instanceof PveTaskError && req.lockHolder && !signal?.aborted) {
        await settleLock(ctx, req.lockHolder.node, req.lockHolder.vmid, signal).catch((err: Error) =>
          ctx.logger.warn({ vmid: req.lockHolder!.vmid, err: err.message }, 'could not clear the template lock after a failed clone'),
        );
      }
      // A failed create/clone worker removes what it made; if it did, one more try is safe.
      if (!(e instanceof PveTaskError) || attempt >= 3 || signal?.aborted) throw e;
      if (await findVm(ctx, req.vmid, signal)) throw e;
      ctx.logger.warn({ vmid: req.vmid, err: e.message }, 'Proxmox create task failed and cleaned up; trying again');
      await b.wait(signal);
    }
  }
}
