// What the console shows of a Proxmox cluster: each session CT's CPU and memory
// and each node's figures, each from one bulk `GET /cluster/resources` call (PVE
// refreshes them every 10 s, pvestatd), and the Winux CT templates found per node.
// Templates are built here and pushed (`winux template build --format proxmox`,
// `winux template push`), so the console offers no rebuild on Proxmox.
import type { HostFigures, MachineUsage, ProviderRef, TemplateStatus } from '../../core/provider-port.ts';
import { readCluster } from './cluster-view.ts';
import type { ProxmoxContext } from './context.ts';
import { ctPath } from './guest-ops.ts';
import { templatesByNode } from './templates.ts';

interface VmFigures {
  vmid: number | string;
  node: string;
  status: string;
  /** Fraction of the CT's cores (maxcpu) in use. */
  cpu?: number;
  maxcpu?: number;
  mem?: number;
}

interface NodeFigures {
  node: string;
  status: string;
  cpu?: number;
  maxcpu?: number;
  mem?: number;
  maxmem?: number;
  disk?: number;
  maxdisk?: number;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export async function ctUsage(ctx: ProxmoxContext, refs: ProviderRef[]): Promise<Map<number, MachineUsage>> {
  const wanted = new Set(refs.map((r) => Number(r.containerId)));
  const vms = await ctx.client.get<VmFigures[]>('/cluster/resources', { type: 'vm' });
  const out = new Map<number, MachineUsage>();
  for (const v of vms) {
    const vmid = Number(v.vmid);
    if (!wanted.has(vmid) || v.status !== 'running') continue;
    // PVE's cpu is a fraction of the CT's own cores; the console counts in % of one core, as on LXC.
    const cpu = num(v.cpu);
    out.set(vmid, { cpuPercent: cpu === null ? null : Math.round(cpu * (num(v.maxcpu) ?? 1) * 1000) / 10, memoryBytes: num(v.mem) ?? 0 });
  }
  return out;
}

/** A node's figures are missing when the token lacks Sys.Audit on it (PROXMOX.md): shown as unknown, not as zero. */
export async function nodeFigures(ctx: ProxmoxContext): Promise<HostFigures[]> {
  const nodes = await ctx.client.get<NodeFigures[]>('/cluster/resources', { type: 'node' });
  return nodes
    .map((n) => {
      const cpu = num(n.cpu);
      return {
        node: n.node,
        online: n.status === 'online',
        cpus: num(n.maxcpu),
        cpuPercent: cpu === null ? null : Math.round(cpu * 1000) / 10,
        memoryTotalBytes: num(n.maxmem),
        memoryUsedBytes: num(n.mem),
        diskTotalBytes: num(n.maxdisk),
        diskUsedBytes: num(n.disk),
        load: null,
      };
    })
    .sort((a, b) => a.node.localeCompare(b.node));
}

/** `winux template push` writes "Winux desktop template from debian-12-winux_<hash>_amd64.tar.zst, pushed <ISO time>". */
function pushedFrom(description: string | undefined): { hash: string | null; at: number | null } {
  const hash = /winux_([0-9a-f]{8,64})_/.exec(description ?? '')?.[1] ?? null;
  const at = Date.parse(/pushed (\S+)/.exec(description ?? '')?.[1] ?? '');
  return { hash, at: Number.isFinite(at) ? at : null };
}

export async function templateCopies(ctx: ProxmoxContext): Promise<TemplateStatus> {
  const view = await readCluster(ctx.client);
  const copies: TemplateStatus['copies'] = [];
  for (const [node, vmid] of [...templatesByNode(view.vms, ctx.config.proxmox.template)].sort(([a], [b]) => a.localeCompare(b))) {
    const vm = view.vms.find((v) => v.vmid === vmid);
    const cfg = await ctx.client.get<{ description?: string; hostname?: string }>(`${ctPath(node, vmid)}/config`).catch(() => null);
    const pushed = pushedFrom(cfg?.description);
    copies.push({ node, name: `${vmid}${vm?.name ? ` (${vm.name})` : ''}`, hash: pushed.hash, builtAt: pushed.at, archiveBytes: null });
  }
  return {
    recipeHash: null,
    copies,
    rebuild: {
      offered: false,
      reason:
        'On Proxmox the template is built on a machine with LXC and pushed to the nodes: winux template build --format proxmox, then winux template push --nodes all.',
    },
  };
}
