// Each session CT's own firewall (PROXMOX.md §4, pve-firewall's Rules.pm), set
// before the CT first starts:
//   in:  only RDP (tcp 3389) reaches the desktop; policy_in DROP.
//   out: DNS anywhere, the networks an admin allows (WINUX_ALLOWED_NETWORKS),
//        then nothing on local networks (private, link-local with the cloud
//        metadata address, shared, multicast); the internet stays open.
// Sessions therefore cannot reach each other, the nodes or the school's LAN.
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

/** The CT's rules, top to bottom (the order PVE evaluates them in). */
export function sessionRules(allowedNetworks: readonly string[], rdpPort: number): Params[] {
  const rule = (p: Params): Params => ({ enable: 1, comment: ruleComment, ...p });
  return [
    rule({ type: 'in', action: 'ACCEPT', proto: 'tcp', dport: String(rdpPort) }),
    rule({ type: 'out', action: 'ACCEPT', proto: 'udp', dport: '53' }),
    rule({ type: 'out', action: 'ACCEPT', proto: 'tcp', dport: '53' }),
    ...(allowedNetworks.length ? [rule({ type: 'out', action: 'ACCEPT', dest: allowedNetworks.join(',') })] : []),
    rule({ type: 'out', action: 'DROP', dest: localNetworks.join(',') }),
  ];
}

/**
 * Runs once on a fresh CT, before its first start. (A creation interrupted
 * before the start leaves a stopped CT, which the next attempt destroys and
 * makes again; only running CTs are adopted, so rules are never posted twice.)
 * Rules a template carried stay below ours: PVE stops at the first match.
 */
export async function protectCt(ctx: ProxmoxContext, node: string, vmid: number, dhcp: boolean, signal?: AbortSignal): Promise<void> {
  const base = `${ctPath(node, vmid)}/firewall`;
  for (const rule of sessionRules(ctx.config.allowedNetworks, ctx.tuning.rdpPort).reverse()) {
    // Retried on a 5xx like a PUT: if the rule was stored and only the answer was
    // lost, it is stored twice, next to itself — the same verdict for every packet.
    await ctx.client.post(`${base}/rules`, rule, { signal, retry: true });
  }
  await ctx.client.put(
    `${base}/options`,
    {
      enable: 1,
      policy_in: 'DROP',
      policy_out: 'ACCEPT',
      // With a DROP policy a DHCP client needs this; a static address is enforced instead (no spoofing).
      dhcp: dhcp ? 1 : 0,
      ipfilter: dhcp ? 0 : 1,
      macfilter: 1,
    },
    { signal },
  );
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
