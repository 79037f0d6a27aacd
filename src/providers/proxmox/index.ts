// WINUX_PROVIDER=proxmox: session desktops as CTs on a Proxmox VE cluster, over
// its HTTP API (API token) plus `pct` over SSH for what the API cannot do.
import type { Config } from '../../config.ts';
import { ProviderError } from '../../core/errors.ts';
import type { Logger } from '../../logger.ts';
import type { ManagedMachine, MachineState, Provider, ProviderRef } from '../../core/provider-port.ts';
import { readCluster } from './cluster-view.ts';
import { createContext, type ProxmoxContext, type ProxmoxTuning } from './context.ts';
import { createMachine } from './create.ts';
import { destroyVm, InvisibleCtError, vmidFree } from './destroy.ts';
import { runChecks } from './doctor.ts';
import { isNotFound, noSshKeyMessage } from './errors.ts';
import { openCtDesktop } from './desktop.ts';
import { ctUsage, nodeFigures, templateCopies } from './figures.ts';
import { ctPath, findVm, isManaged } from './guest-ops.ts';
import { setSessionInfoInCt } from './ssh-pct.ts';
import { sessionSetArgs } from '../session-set.ts';

export { ContainerIdTakenError, noSshKeyMessage, PveApiError, PveTaskError } from './errors.ts';
export type { ProxmoxTuning } from './context.ts';

/** Refused without an SSH key: see `noSshKeyMessage`. */
export function createProxmoxProvider(config: Config, logger: Logger, tuning: Partial<ProxmoxTuning> = {}): Provider {
  if (!config.proxmox.sshPrivateKey && !config.proxmox.sshKeyPath) throw new ProviderError(noSshKeyMessage);
  const ctx = createContext(config, logger.child({ provider: 'proxmox' }), tuning);
  if (!config.proxmox.viewerSources.length) {
    ctx.logger.warn(
      'no browser desktop for Proxmox sessions: set WINUX_PROXMOX_VIEWER_SOURCES to the addresses the CTs see Winux connect from (their firewall admits the desktop port from those only); RDP works as before',
    );
  }
  return makeProvider(ctx);
}

function makeProvider(ctx: ProxmoxContext): Provider {
  const inRange = (vmid: number) => vmid >= ctx.config.containerIdMin && vmid <= ctx.config.containerIdMax;
  return {
    name: 'proxmox',
    create: (spec, cctx) => createMachine(ctx, spec, cctx),
    destroy: (ref) => destroyVm(ctx, ref.containerId),

    async status(ref: ProviderRef): Promise<MachineState> {
      const node = typeof ref.node === 'string' ? ref.node : undefined;
      if (node) {
        try {
          const st = await ctx.client.get<{ status: string }>(`${ctPath(node, ref.containerId)}/status/current`);
          return st.status === 'running' ? 'running' : 'stopped';
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
      // Not where we left it: migrated, or gone — but only the vmlist can say gone (see destroy.ts).
      const vm = await findVm(ctx, ref.containerId);
      if (!vm) {
        if (await vmidFree(ctx, ref.containerId)) return 'missing';
        throw new InvisibleCtError(ref.containerId);
      }
      if (!isManaged(vm)) return 'missing';
      return vm.status === 'running' ? 'running' : 'stopped';
    },

    async list(): Promise<ManagedMachine[]> {
      // One call for the whole cluster, however many sessions: the reconciler's pass costs the same at 10 or 1,000.
      const view = await readCluster(ctx.client, undefined, 'vm');
      return view.vms
        .filter((v) => isManaged(v) && Number(v.template ?? 0) !== 1 && inRange(v.vmid))
        .map((v) => ({
          containerId: v.vmid,
          ref: { containerId: v.vmid, node: v.node, vmid: v.vmid, ...(v.name ? { hostname: v.name } : {}), ...(v.lock ? { lock: v.lock } : {}) },
          state: v.status === 'running' ? 'running' : 'stopped',
        }));
    },

    check: () => runChecks(ctx),
    usage: (refs) => ctUsage(ctx, refs),
    hosts: () => nodeFigures(ctx),
    templateStatus: () => templateCopies(ctx),

    async setSessionInfo(ref, username, info) {
      const vm = await findVm(ctx, ref.containerId);
      if (!vm) throw new ProviderError(`CT ${ref.containerId} no longer exists`);
      const target = await ctx.sshTarget(vm.node);
      // Without SSH there is no way into the CT: its desktop keeps the end it was given.
      if (!target) return;
      await setSessionInfoInCt(target, ref.containerId, username, sessionSetArgs(info));
    },

    // Only with viewer sources: without them no CT firewall admits the port, and Xvnc does not listen on it.
    ...(ctx.config.proxmox.viewerSources.length ? { openDesktop: (ref: ProviderRef, signal?: AbortSignal) => openCtDesktop(ctx, ref, signal) } : {}),

    close: () => ctx.client.close(),
  };
}
