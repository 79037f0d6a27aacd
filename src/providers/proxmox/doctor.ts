// `winux doctor` / `/health` checks for Proxmox: can we reach the API, does the
// token have the privileges Winux needs (separated-privilege tokens see empty
// lists rather than errors, so we ask /access/permissions), is there a template
// on each node, does the storage exist, can we run `pct` over SSH. Each failing
// check says what to change.
import type { ProviderCheck } from '../../core/provider-port.ts';
import { readCluster, type ClusterView } from './cluster-view.ts';
import { clusterFirewallEnabled } from './firewall.ts';
import type { ProxmoxContext } from './context.ts';
import { noSshKeyMessage, PveApiError } from './errors.ts';
import { runRemote } from './ssh-pct.ts';
import { templatesByNode } from './templates.ts';

type Perms = Record<string, Record<string, number>>;

/** Effective privilege at `path`: the most specific listed path above it decides (ACLs propagate down). */
export function holds(perms: Perms, path: string, priv: string): boolean {
  const parts = path.split('/').filter(Boolean);
  for (let i = parts.length; i >= 0; i--) {
    const p = `/${parts.slice(0, i).join('/')}`;
    if (perms[p] && perms[p]![priv]) return true;
  }
  return false;
}

export async function runChecks(ctx: ProxmoxContext): Promise<ProviderCheck[]> {
  const px = ctx.config.proxmox;
  const checks: ProviderCheck[] = [];
  const where = `https://${px.host}:${px.port}`;
  const tokenUser = px.tokenId ?? '';

  try {
    const v = await ctx.client.get<{ version: string }>('/version', undefined, { retry: false });
    checks.push({ name: 'proxmox-api', ok: true, detail: `Proxmox VE ${v.version} at ${where}` });
  } catch (e) {
    const status = e instanceof PveApiError ? e.status : 0;
    const fix =
      status === 401
        ? 'the API token was refused: check proxmox_api_user (user@realm!tokenname, or user@realm with proxmox_api_token_id) and proxmox_api_token_secret'
        : status === 0
          ? `cannot reach ${where} (${(e as Error).message}): check proxmox_api_host/proxmox_api_port and the firewall; for a self-signed certificate set proxmox_api_ca_file to the node's /etc/pve/pve-root-ca.pem (or proxmox_api_insecure=1)`
          : (e as Error).message;
    checks.push({ name: 'proxmox-api', ok: false, detail: fix });
    return checks;
  }

  let perms: Perms = {};
  let permsKnown = true;
  try {
    perms = await ctx.client.get<Perms>('/access/permissions');
  } catch (e) {
    // Unknown is not missing: say we could not tell, rather than list every privilege as lacking.
    permsKnown = false;
    checks.push({ name: 'proxmox-permissions', ok: false, unknown: true, detail: `cannot read the token's permissions: ${(e as Error).message}` });
  }
  const pool = px.pool;
  const need: Array<[string, string, string]> = [
    [`/pool/${pool}`, 'VM.Allocate', 'create containers in the pool'],
    [`/pool/${pool}`, 'VM.Audit', 'see the session containers'],
    [`/pool/${pool}`, 'VM.PowerMgmt', 'start and stop them'],
    [`/pool/${pool}`, 'VM.Config.Options', 'tag them'],
    [`/pool/${pool}`, 'VM.Config.Memory', 'size their memory'],
    [`/pool/${pool}`, 'VM.Config.CPU', 'size their CPUs'],
    [`/pool/${pool}`, 'VM.Config.Network', 'set their network'],
    ['/vms', 'VM.Clone', 'clone the template'],
    ['/vms', 'VM.Audit', 'find the template'],
    [`/storage/${px.storage}`, 'Datastore.AllocateSpace', `put disks on ${px.storage}`],
    ['/nodes', 'Sys.Audit', 'see free memory for placement'],
    [`/sdn/zones/localnetwork/${px.bridge}`, 'SDN.Use', `attach to ${px.bridge}`],
  ];
  const missing = need.filter(([path, priv]) => !holds(perms, path, priv) && !(path.startsWith('/pool/') && holds(perms, '/vms', priv)));
  if (!permsKnown) {
    // Reported above as unknown.
  } else if (Object.keys(perms).length && !missing.length) {
    checks.push({ name: 'proxmox-permissions', ok: true, detail: `token ${tokenUser} has the privileges Winux needs` });
  } else if (missing.length) {
    const lines = missing.map(([path, priv, why]) => `${priv} on ${path} (${why})`);
    checks.push({
      name: 'proxmox-permissions',
      ok: false,
      detail:
        `token ${tokenUser} lacks ${lines.join(', ')}. A privilege-separated token starts with no rights and then sees empty lists instead of errors. Fix, on a node: ` +
        `pveum acl modify /pool/${pool} -token '${tokenUser}' -role PVEVMAdmin; pveum acl modify /vms -token '${tokenUser}' -role PVEVMAdmin; ` +
        `pveum acl modify /storage/${px.storage} -token '${tokenUser}' -role PVEDatastoreUser; pveum acl modify /nodes -token '${tokenUser}' -role PVEAuditor; ` +
        `pveum acl modify /sdn/zones/localnetwork -token '${tokenUser}' -role PVESDNUser (or create the token with --privsep 0)`,
    });
  }

  let view: ClusterView | null = null;
  try {
    view = await readCluster(ctx.client);
  } catch (e) {
    checks.push({ name: 'proxmox-nodes', ok: false, detail: (e as Error).message });
  }
  if (view) {
    const auto = px.nodes.includes('auto');
    const wanted = auto ? view.nodes.map((n) => n.node) : px.nodes;
    const online = wanted.filter((n) => view!.nodes.find((x) => x.node === n)?.status === 'online');
    const unknown = wanted.filter((n) => !view!.nodes.find((x) => x.node === n));
    checks.push(
      online.length && !unknown.length
        ? {
            name: 'proxmox-nodes',
            ok: true,
            detail: `online: ${online.join(', ')}${online.length < wanted.length ? ` (offline: ${wanted.filter((n) => !online.includes(n)).join(', ')})` : ''}`,
          }
        : {
            name: 'proxmox-nodes',
            ok: false,
            detail: unknown.length
              ? `proxmox_node names ${unknown.join(', ')}, which the cluster does not have (it has ${view.nodes.map((n) => n.node).join(', ') || 'none visible to this token'})`
              : 'no configured node is online',
          },
    );

    const templates = templatesByNode(view.vms, px.template);
    const without = online.filter((n) => !templates.has(n));
    if (!without.length && online.length) {
      checks.push({
        name: 'proxmox-template',
        ok: true,
        detail: [...templates]
          .filter(([n]) => online.includes(n))
          .map(([n, id]) => `${n}: CT ${id}`)
          .join(', '),
      });
    } else {
      const which = px.template ? `WINUX_PROXMOX_TEMPLATE=${px.template}` : 'a CT template tagged winux-template';
      checks.push({
        name: 'proxmox-template',
        ok: false,
        detail: `${which} is missing on ${without.join(', ') || 'every node'}: build and upload it with \`winux template build --format proxmox\` then \`winux template push --all-nodes\`${px.ostemplate ? `; meanwhile sessions are created from ${px.ostemplate} (slower)` : ''}. If the token is privilege-separated it may simply not see it: grant VM.Audit on /vms.`,
      });
    }
    const pools = await ctx.client.get<Array<{ poolid: string }>>('/pools').catch(() => []);
    const canCreatePool = holds(perms, `/pool/${pool}`, 'Pool.Allocate');
    checks.push(
      pools.some((p) => p.poolid === pool)
        ? { name: 'proxmox-pool', ok: true, detail: `pool ${pool} exists` }
        : canCreatePool
          ? { name: 'proxmox-pool', ok: true, detail: `pool ${pool} does not exist yet: Winux creates it with the first session` }
          : {
              name: 'proxmox-pool',
              ok: false,
              detail: `pool ${pool} not found (or not visible), and the token may not create it: create it with \`pveum pool add ${pool}\` or set WINUX_PROXMOX_POOL`,
            },
    );

    const storageProblems: string[] = [];
    for (const n of online) {
      const list = await ctx.client.get<Array<{ storage: string; content: string; avail?: number }>>(`/nodes/${encodeURIComponent(n)}/storage`).catch(() => []);
      const st = list.find((s) => s.storage === px.storage);
      if (!st) storageProblems.push(`${px.storage} not found on ${n}`);
      else if (!st.content.split(',').includes('rootdir')) storageProblems.push(`${px.storage} on ${n} does not hold container disks (content rootdir)`);
    }
    checks.push(
      storageProblems.length
        ? {
            name: 'proxmox-storage',
            ok: false,
            detail: `${storageProblems.join('; ')}: set WINUX_PROXMOX_STORAGE to a storage with content "rootdir" (e.g. local-lvm), or grant Datastore.Audit if it exists`,
          }
        : { name: 'proxmox-storage', ok: true, detail: `${px.storage} holds container disks on ${online.join(', ')}` },
    );

    if (!ctx.sshKey) {
      checks.push({ name: 'proxmox-ssh', ok: false, detail: noSshKeyMessage });
    } else {
      const node = online[0];
      const target = node ? await ctx.sshTarget(node).catch(() => null) : null;
      if (!target) {
        checks.push({ name: 'proxmox-ssh', ok: false, detail: 'no online node to test SSH against' });
      } else {
        const r = await runRemote(target, 'pct list >/dev/null 2>&1 || pct status 0 >/dev/null 2>&1; echo ok', '', undefined, 15_000).then(
          (res) => ({ ok: true, res }),
          (e: Error) => ({ ok: false, err: e.message }),
        );
        checks.push(
          r.ok
            ? { name: 'proxmox-ssh', ok: true, detail: `SSH to ${px.sshUser}@${target.host}:${target.port} works` }
            : {
                name: 'proxmox-ssh',
                ok: false,
                detail: `SSH to ${px.sshUser}@${target.host}:${target.port} failed (${(r as { err: string }).err}): check proxmox_ssh_key_path and that the key is in root's authorized_keys on each node`,
              },
        );
      }
    }
  }
  const firewall = await clusterFirewallEnabled(ctx);
  checks.push(
    firewall === false
      ? {
          name: 'proxmox-firewall',
          ok: false,
          detail: `the datacenter firewall is off, so the session containers' rules (no LAN, no other sessions, RDP only${px.viewerSources.length ? ', the VNC port from Winux only' : ''}) do nothing: enable it (Datacenter → Firewall → Options, or \`pvesh set /cluster/firewall/options --enable 1\`) after allowing your own SSH and web access`,
        }
      : firewall
        ? { name: 'proxmox-firewall', ok: true, detail: 'datacenter firewall on: each session container gets its own rules' }
        : {
            name: 'proxmox-firewall',
            ok: false,
            unknown: true,
            detail: 'could not read the datacenter firewall options (grant Sys.Audit on / to check); each session container gets its own rules',
          },
  );
  checks.push({
    name: 'proxmox-browser-desktop',
    // Off is a choice, not a fault: sessions still serve RDP.
    ok: true,
    detail: px.viewerSources.length
      ? `desktops in the browser: each CT's Xvnc (tcp ${ctx.tuning.vncPort}) admits ${px.viewerSources.join(', ')} only; these must be the addresses the CTs see Winux connect from`
      : "no desktop in the browser for Proxmox sessions (RDP only): set WINUX_PROXMOX_VIEWER_SOURCES to Winux's addresses as the CTs see them",
  });
  return checks;
}
