// Read-only views PVE builds from cluster state: /cluster/resources, /nodes,
// /cluster/status, storage lists. Permission filtering is silent, as in
// PVE/API2/Cluster.pm: guests without VM.Audit are left out, nodes without
// Sys.Audit lose their figures, storages need Datastore.Audit or AllocateSpace.
import { hasPriv, type Auth } from './acl.ts';
import { ctCpu, ctMem, type SimCluster, type SimNode } from './cluster.ts';

const MiB = 1024 ** 2;

export function nodeEntry(c: SimCluster, n: SimNode, auth: Auth): Record<string, unknown> {
  const e: Record<string, unknown> = { id: `node/${n.name}`, type: 'node', node: n.name, status: n.status, level: '' };
  if (hasPriv(auth, `/nodes/${n.name}`, 'Sys.Audit') && n.status === 'online') {
    Object.assign(e, {
      cpu: 0.05,
      maxcpu: n.maxcpu,
      mem: c.stats?.nodeMem.get(n.name) ?? c.nodeMem(n),
      maxmem: n.maxmem,
      disk: 10 * 1024 ** 3,
      maxdisk: 100 * 1024 ** 3,
      uptime: 123456,
    });
  }
  return e;
}

function vmEntries(c: SimCluster, auth: Auth): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const ct of c.cts.values()) {
    if (!hasPriv(auth, `/vms/${ct.vmid}`, 'VM.Audit', ct.pool)) continue;
    // The vmlist (id, node, name, tags, lock) is current; the figures come from the last stats push when they lag.
    const now = c.stats
      ? c.stats.cts.get(ct.vmid)
      : { status: ct.status, startedAt: ct.startedAt, memory: Number(ct.config.memory ?? 512), cores: Number(ct.config.cores ?? 1) };
    const e: Record<string, unknown> = {
      id: `lxc/${ct.vmid}`,
      type: 'lxc',
      vmid: ct.vmid,
      node: ct.node,
      status: now?.status ?? 'unknown',
      name: ct.config.hostname,
      template: Number(ct.config.template ?? 0),
    };
    if (now) {
      Object.assign(e, {
        maxcpu: now.cores,
        cpu: now.status === 'running' ? (ct.load?.cpu ?? 0) : 0,
        maxmem: now.memory * MiB,
        mem: now.status === 'running' ? (ct.load?.mem ?? 200 * MiB) : 0,
        maxdisk: 8 * 1024 ** 3,
        disk: 0,
        uptime: now.startedAt ? Math.floor((Date.now() - now.startedAt) / 1000) : 0,
      });
    }
    if (ct.config.tags) e.tags = ct.config.tags;
    if (ct.config.lock) e.lock = ct.config.lock;
    if (ct.pool) e.pool = ct.pool;
    out.push(e);
  }
  return out;
}

function storageEntries(c: SimCluster, auth: Auth): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const n of c.nodes.values()) {
    for (const st of n.storages.values()) {
      if (!canSeeStorage(auth, st.storage)) continue;
      out.push({
        id: `storage/${n.name}/${st.storage}`,
        type: 'storage',
        node: n.name,
        storage: st.storage,
        status: n.status === 'online' ? 'available' : 'unknown',
        plugintype: st.type,
        content: st.content.join(','),
        shared: st.shared ? 1 : 0,
        disk: st.used,
        maxdisk: st.total,
      });
    }
  }
  return out;
}

export function canSeeStorage(auth: Auth, storage: string): boolean {
  return hasPriv(auth, `/storage/${storage}`, 'Datastore.Audit') || hasPriv(auth, `/storage/${storage}`, 'Datastore.AllocateSpace');
}

export function clusterResources(c: SimCluster, auth: Auth, type?: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  if (!type || type === 'vm') out.push(...vmEntries(c, auth));
  if (!type || type === 'node') for (const n of c.nodes.values()) out.push(nodeEntry(c, n, auth));
  if (!type || type === 'storage') out.push(...storageEntries(c, auth));
  if (!type || type === 'pool') {
    for (const p of c.pools) if (hasPriv(auth, `/pool/${p}`, 'Pool.Audit')) out.push({ id: `/pool/${p}`, type: 'pool', pool: p });
  }
  return out;
}

export function clusterStatus(c: SimCluster): Record<string, unknown>[] {
  const nodes = [...c.nodes.values()];
  return [
    { type: 'cluster', id: 'cluster', name: 'winux-sim', nodes: nodes.length, quorate: 1, version: nodes.length },
    ...nodes.map((n, i) => ({
      type: 'node',
      id: `node/${n.name}`,
      name: n.name,
      ip: n.ip,
      nodeid: i + 1,
      online: n.status === 'online' ? 1 : 0,
      local: i === 0 ? 1 : 0,
      level: '',
    })),
  ];
}
