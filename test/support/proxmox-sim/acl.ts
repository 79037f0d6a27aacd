// Who may do what, modelled on pve-access-control: users here are full admins;
// API tokens are either "full privilege" (same as their user) or privilege-
// separated, in which case only the ACL entries given to the token itself count
// (inherited down the path tree, and /pool/<id> covering the pool's members).

export type Auth = { kind: 'user'; user: string } | { kind: 'token'; user: string; tokenId: string; privsep: boolean; acl: AclEntry[] };

export interface AclEntry {
  path: string;
  /** Privilege names, or role names expanded below. */
  privs: string[];
}

export const allPrivileges = [
  'Datastore.Allocate',
  'Datastore.AllocateSpace',
  'Datastore.AllocateTemplate',
  'Datastore.Audit',
  'Pool.Allocate',
  'Pool.Audit',
  'SDN.Use',
  'Sys.Audit',
  'Sys.Modify',
  'Sys.Console',
  'VM.Allocate',
  'VM.Audit',
  'VM.Clone',
  'VM.Config.CPU',
  'VM.Config.Disk',
  'VM.Config.Memory',
  'VM.Config.Network',
  'VM.Config.Options',
  'VM.PowerMgmt',
  'VM.Console',
];

const roles: Record<string, string[]> = {
  Administrator: allPrivileges,
  PVEAuditor: ['Datastore.Audit', 'Pool.Audit', 'Sys.Audit', 'VM.Audit'],
  PVEVMAdmin: allPrivileges.filter((p) => p.startsWith('VM.')),
  PVEDatastoreUser: ['Datastore.AllocateSpace', 'Datastore.Audit'],
};

function expand(privs: string[]): Set<string> {
  const out = new Set<string>();
  for (const p of privs) for (const q of roles[p] ?? [p]) out.add(q);
  return out;
}

function covers(aclPath: string, path: string): boolean {
  if (aclPath === '/') return true;
  return path === aclPath || path.startsWith(`${aclPath}/`);
}

/** True when `auth` holds `priv` on `path`; `pool` is the pool a /vms/<id> path belongs to. */
export function hasPriv(auth: Auth, path: string, priv: string, pool?: string): boolean {
  if (auth.kind === 'user' || !auth.privsep) return true;
  for (const entry of auth.acl) {
    const privs = expand(entry.privs);
    if (!privs.has(priv)) continue;
    if (covers(entry.path, path)) return true;
    if (pool && covers(entry.path, `/pool/${pool}`)) return true;
  }
  return false;
}

/** GET /access/permissions: the effective privileges by path, as PVE lists them. */
export function permissionsOf(auth: Auth): Record<string, Record<string, 1>> {
  if (auth.kind === 'user' || !auth.privsep) {
    return { '/': Object.fromEntries(allPrivileges.map((p) => [p, 1 as const])) };
  }
  const out: Record<string, Record<string, 1>> = {};
  for (const entry of auth.acl) {
    const privs = (out[entry.path] ??= {});
    for (const p of expand(entry.privs)) privs[p] = 1;
  }
  return out;
}

export function authName(auth: Auth): string {
  return auth.kind === 'user' ? auth.user : auth.tokenId;
}
