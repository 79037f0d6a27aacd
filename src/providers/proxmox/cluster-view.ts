// One `GET /cluster/resources` answers placement, template lookup, vmid checks
// and orphan listing at once (poll in bulk, not per guest). Separated-privilege
// tokens silently see less here, which `doctor` explains.
import type { PveClient } from './api.ts';

export interface VmResource {
  id: string;
  type: 'lxc' | 'qemu';
  vmid: number;
  node: string;
  status: string;
  name?: string;
  template?: number;
  tags?: string;
  lock?: string;
  pool?: string;
  maxmem?: number;
}

export interface NodeResource {
  type: 'node';
  node: string;
  status: 'online' | 'offline' | 'unknown';
  mem?: number;
  maxmem?: number;
}

export interface ClusterView {
  vms: VmResource[];
  nodes: NodeResource[];
}

/** With `type: 'vm'` only the guests (what a listing needs): no node, storage or pool entries to build and send. */
export async function readCluster(client: PveClient, signal?: AbortSignal, type?: 'vm'): Promise<ClusterView> {
  const all = await client.get<Array<{ type: string }>>('/cluster/resources', type ? { type } : undefined, { signal });
  return {
    vms: all.filter((r) => r.type === 'lxc' || r.type === 'qemu').map((r) => ({ ...r, vmid: Number((r as VmResource).vmid) })) as VmResource[],
    nodes: all.filter((r) => r.type === 'node') as NodeResource[],
  };
}

export const tagsOf = (r: { tags?: string }) =>
  (r.tags ?? '')
    .split(/[;,\s]+/)
    .filter(Boolean)
    .map((t) => t.toLowerCase());
