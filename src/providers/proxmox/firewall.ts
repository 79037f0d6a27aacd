// Each session CT's own firewall (PROXMOX.md §4, pve-firewall's Rules.pm), set
// before the CT first starts:
//   in:  RDP (tcp 3389, over IPv4) reaches the desktop; the desktop's VNC port
//        (tcp 5900, Xvnc with --vnc-network) only from Winux's own addresses
//        (WINUX_PROXMOX_VIEWER_SOURCES), so another session, the LAN or the
//        internet never reach it; policy_in DROP.
//   out: DNS, the networks an admin allows (WINUX_ALLOWED_NETWORKS), then
//        nothing on local networks (private, link-local with the cloud metadata
//        address, shared, multicast), then the IPv4 internet; policy_out DROP.
// Sessions therefore cannot reach each other, the nodes or the school's LAN.
//
// IPv6 is closed entirely rather than filtered by range. pve-firewall builds one
// ruleset per IP version, and a rule holding IPv4 addresses only applies to IPv4
// (Firewall.pm `ruleset_generate_vm_rules`: `next if $rule->{ipversion} &&
// $rule->{ipversion} != $ipversion`), so with the IPv4 rules alone every IPv6
// packet met policy_out ACCEPT: the node's `fe80::` address on the bridge, ULAs,
// and the LAN's own global prefix, which Winux cannot know, were all open. Every
// rule here carries an IPv4 address (0.0.0.0/0 where it means "anywhere"), so
// IPv6 meets the DROP policies, and `ndp=0` stops neighbour discovery too.
// Sessions are given IPv4 addresses only (DHCP or WINUX_PROXMOX_IP_POOL), so
// nothing they need travels over IPv6.
//
// Two traps from the source: POST …/firewall/rules puts the new rule FIRST, so
// rules are posted bottom-up; and a rule posted without `enable` is stored
// disabled. The rules only apply when the datacenter firewall is on too
// (`winux doctor` checks it) — PVE's default is off.
import type { Params } from './api.ts';
import type { ProxmoxContext } from './context.ts';
import { ctPath } from './guest-ops.ts';
import { localNetworks } from '../local-networks.ts';

export const ruleComment = 'winux session isolation';

/** IPv4 anywhere: a rule with it applies to IPv4 only. */
const anyIpv4 = '0.0.0.0/0';

/** The browser desktop's door: Xvnc's port, and who may knock (none: the door stays shut). */
export interface ViewerDoor {
  port: number;
  sources: readonly string[];
}

/** The CT's rules, top to bottom (the order PVE evaluates them in). */
export function sessionRules(allowedNetworks: readonly string[], rdpPort: number, viewer?: ViewerDoor): Params[] {
  const rule = (p: Params): Params => ({ enable: 1, comment: ruleComment, ...p });
  return [
    rule({ type: 'in', action: 'ACCEPT', proto: 'tcp', dport: String(rdpPort), source: anyIpv4 }),
    ...(viewer?.sources.length ? [rule({ type: 'in', action: 'ACCEPT', proto: 'tcp', dport: String(viewer.port), source: viewer.sources.join(',') })] : []),
    rule({ type: 'out', action: 'ACCEPT', proto: 'udp', dport: '53', dest: anyIpv4 }),
    rule({ type: 'out', action: 'ACCEPT', proto: 'tcp', dport: '53', dest: anyIpv4 }),
    ...(allowedNetworks.length ? [rule({ type: 'out', action: 'ACCEPT', dest: allowedNetworks.join(',') })] : []),
    rule({ type: 'out', action: 'DROP', dest: localNetworks.join(',') }),
    rule({ type: 'out', action: 'ACCEPT', dest: anyIpv4 }),
  ];
}

/** The CT's firewall options: both policies DROP (IPv6 has no rule that accepts it), no NDP. */
export function sessionFirewallOptions(dhcp: boolean): Params {
  return {
    enable: 1,
    policy_in: 'DROP',
    policy_out: 'DROP',
    // With a DROP policy a DHCP client needs this; a static address is enforced instead (no spoofing).
    dhcp: dhcp ? 1 : 0,
    ipfilter: dhcp ? 0 : 1,
    macfilter: 1,
    ndp: 0,
    radv: 0,
  };
}

/**
 * Runs once on a fresh CT, before its first start. (A creation interrupted
 * before the start leaves a stopped CT, which the next attempt destroys and
 * makes again; only running CTs are adopted, so rules are never posted twice.)
 * Rules a template carried stay below ours: PVE stops at the first match.
 */
export async function protectCt(ctx: ProxmoxContext, node: string, vmid: number, dhcp: boolean, signal?: AbortSignal): Promise<void> {
  const base = `${ctPath(node, vmid)}/firewall`;
  const viewer = { port: ctx.tuning.vncPort, sources: ctx.config.proxmox.viewerSources };
  for (const rule of sessionRules(ctx.config.allowedNetworks, ctx.tuning.rdpPort, viewer).reverse()) {
    // Retried on a 5xx like a PUT: if the rule was stored and only the answer was
    // lost, it is stored twice, next to itself — the same verdict for every packet.
    await ctx.client.post(`${base}/rules`, rule, { signal, retry: true });
  }
  await ctx.client.put(`${base}/options`, sessionFirewallOptions(dhcp), { signal });
}

/** Is the datacenter firewall on? Without it no CT rule applies. `null` when the token may not read it. */
export async function clusterFirewallEnabled(ctx: ProxmoxContext, signal?: AbortSignal): Promise<boolean | null> {
  try {
    const options = await ctx.client.get<{ enable?: number | string }>('/cluster/firewall/options', undefined, { signal });
    return Number(options.enable ?? 0) === 1;
  } catch {
    return null;
  }
}
