// The per-CT firewall of the simulator, as pve-firewall has it
// (src/PVE/API2/Firewall/Rules.pm, VM.pm; PROXMOX.md §4):
//  - GET|PUT /nodes/{node}/lxc/{vmid}/firewall/options: enable, policy_in,
//    policy_out, dhcp, ipfilter, macfilter, ndp, radv, log levels; PUT needs
//    VM.Config.Network, GET VM.Audit.
//  - GET|POST /nodes/{node}/lxc/{vmid}/firewall/rules: POST puts the new rule
//    FIRST (`unshift @$rules`), `action` and `type` are required, and a rule
//    created without `enable` is stored with enable=0 (disabled). GET lists them
//    with their `pos`.
//  - GET /cluster/firewall/options: the datacenter switch (enable defaults to 0);
//    a CT's rules only apply when it, the CT's `enable` and the NIC's firewall=1 are on.
// The rules live with the CT (its <vmid>.fw), so destroying the CT removes them.
//
// `verdict()` says what pve-firewall would do with one packet on the CT's NIC
// (src/PVE/Firewall.pm: ruleset_create_vm_chain, ruleset_generate_vm_rules,
// ruleset_add_chain_policy), so tests can probe a session's isolation:
//  - one ruleset per IP version (iptables and ip6tables): a rule whose source or
//    dest holds addresses of one version applies to that version only
//    (`next if $rule->{ipversion} && $rule->{ipversion} != $ipversion`); a rule
//    without addresses applies to both;
//  - DHCPv4 (when `dhcp`) and NDP (unless `ndp=0`) are accepted before the rules;
//  - rules are evaluated top-down, enabled ones only, the first match decides;
//  - then the policy: policy_out defaults to ACCEPT, policy_in to DROP;
//  - nothing is filtered unless the datacenter firewall, the CT's `enable` and
//    the NIC's firewall=1 are all on.
import net from 'node:net';
import { paramError } from './errors.ts';

export interface SimFirewall {
  options: Record<string, string | number>;
  rules: Array<Record<string, string | number>>;
}

const booleanOptions = ['enable', 'dhcp', 'ipfilter', 'macfilter', 'ndp', 'radv'];
const policyOptions = ['policy_in', 'policy_out'];
const logOptions = ['log_level_in', 'log_level_out'];
const actions = ['ACCEPT', 'DROP', 'REJECT'];
const ruleKeys = ['type', 'action', 'enable', 'proto', 'dport', 'sport', 'dest', 'source', 'comment', 'macro', 'iface', 'log', 'pos', 'digest', 'icmp-type'];

export function emptyFirewall(): SimFirewall {
  return { options: {}, rules: [] };
}

export function setOptions(fw: SimFirewall, p: Record<string, string>): null {
  for (const [key, value] of Object.entries(p)) {
    if (key === 'digest') continue;
    if (key === 'delete') {
      for (const k of value.split(/[,;\s]+/).filter(Boolean)) delete fw.options[k];
      continue;
    }
    if (booleanOptions.includes(key)) {
      if (!/^(0|1)$/.test(value)) throw paramError({ [key]: `type check ('boolean') failed - got '${value}'` });
      fw.options[key] = Number(value);
    } else if (policyOptions.includes(key)) {
      if (!actions.includes(value)) throw paramError({ [key]: `value '${value}' does not have a value in the enumeration 'ACCEPT, REJECT, DROP'` });
      fw.options[key] = value;
    } else if (logOptions.includes(key)) {
      fw.options[key] = value;
    } else {
      throw paramError({ [key]: 'property is not defined in schema and the schema does not allow additional properties' });
    }
  }
  return null;
}

/** An address or CIDR network, v4 or v6: its version, or 0 when it is neither. */
function addressVersion(part: string): 0 | 4 | 6 {
  const [addr, prefix, extra] = part.trim().split('/');
  const version = net.isIP(addr ?? '');
  if (!version || extra !== undefined) return 0;
  if (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (version === 4 ? 32 : 128))) return 0;
  return version as 4 | 6;
}

/** pve-firewall's parse_address_list: each element a valid address or network, one IP version per list. */
function checkAddressList(field: string, value: string): void {
  const versions = new Set<number>();
  for (const part of value.split(',')) {
    const version = addressVersion(part);
    if (!version) throw paramError({ [field]: 'invalid IP address: value does not look like a valid IP address or CIDR network' });
    versions.add(version);
  }
  // The API's own description of source/dest: "Please do not mix IPv4 and IPv6 addresses inside such lists."
  if (versions.size > 1) throw paramError({ [field]: "you can't mix IPv4 and IPv6 addresses in one list" });
}

/** The IP version a rule is limited to by its addresses (0: both). */
function ruleVersion(rule: Record<string, string | number>): 0 | 4 | 6 {
  for (const key of ['dest', 'source']) {
    const value = rule[key];
    if (typeof value === 'string' && value) return addressVersion(value.split(',')[0]!);
  }
  return 0;
}

function inList(list: string, address: string, family: 4 | 6): boolean {
  const block = new net.BlockList();
  for (const part of list.split(',')) {
    const [addr, prefix] = part.trim().split('/');
    if (addressVersion(addr!) !== family) continue;
    block.addSubnet(addr!, prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
  }
  return block.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function portMatches(spec: string, port: number | undefined): boolean {
  if (port === undefined) return false;
  return spec.split(',').some((item) => {
    const [lo, hi] = item.split(':').map(Number);
    return hi === undefined ? port === lo : port >= lo! && port <= hi;
  });
}

export interface Packet {
  /** out: the CT sends it; in: it is sent to the CT. */
  direction: 'in' | 'out';
  /** The other end: the destination of an outgoing packet, the source of an incoming one. */
  peer: string;
  proto: 'tcp' | 'udp' | 'icmp' | 'ipv6-icmp';
  dport?: number;
  sport?: number;
  /** An ICMPv6 neighbour discovery message. */
  ndp?: boolean;
}

export interface FirewallSwitches {
  /** The datacenter firewall (cluster.fw `enable`). */
  cluster: boolean;
  /** The NIC's own `firewall=1` in netN. */
  nic: boolean;
}

export function verdict(fw: SimFirewall, switches: FirewallSwitches, p: Packet): 'ACCEPT' | 'DROP' | 'REJECT' {
  const o = fw.options;
  if (!switches.cluster || !switches.nic) return 'ACCEPT';
  const family = net.isIP(p.peer) as 4 | 6;
  if (!family) throw new Error(`not an IP address: ${p.peer}`);
  if (p.direction === 'out' && family === 4 && Number(o.dhcp ?? 0) === 1 && p.proto === 'udp' && p.sport === 68 && p.dport === 67) return 'ACCEPT';
  if (family === 6 && p.ndp && Number(o.ndp ?? 1) !== 0) return 'ACCEPT';
  if (Number(o.enable ?? 0) !== 1) return 'ACCEPT';
  for (const rule of fw.rules) {
    if (Number(rule.enable ?? 0) !== 1 || rule.type !== p.direction) continue;
    const version = ruleVersion(rule);
    if (version && version !== family) continue;
    if (rule.proto !== undefined && !protoMatches(String(rule.proto), p.proto)) continue;
    if (rule.dport !== undefined && !portMatches(String(rule.dport), p.dport)) continue;
    if (rule.sport !== undefined && !portMatches(String(rule.sport), p.sport)) continue;
    const addressKey = p.direction === 'out' ? 'dest' : 'source';
    if (rule[addressKey] !== undefined && !inList(String(rule[addressKey]), p.peer, family)) continue;
    return rule.action as 'ACCEPT' | 'DROP' | 'REJECT';
  }
  return (p.direction === 'out' ? (o.policy_out ?? 'ACCEPT') : (o.policy_in ?? 'DROP')) as 'ACCEPT' | 'DROP' | 'REJECT';
}

function protoMatches(ruleProto: string, proto: Packet['proto']): boolean {
  const numbers: Record<string, string> = { tcp: '6', udp: '17', icmp: '1', 'ipv6-icmp': '58' };
  return ruleProto === proto || ruleProto === numbers[proto] || (ruleProto === 'icmpv6' && proto === 'ipv6-icmp');
}

export function addRule(fw: SimFirewall, p: Record<string, string>): null {
  for (const key of Object.keys(p)) {
    if (!ruleKeys.includes(key)) throw paramError({ [key]: 'property is not defined in schema and the schema does not allow additional properties' });
  }
  if (!p.type) throw paramError({ type: 'property is missing and it is not optional' });
  if (!p.action) throw paramError({ action: 'property is missing and it is not optional' });
  if (!['in', 'out', 'group'].includes(p.type)) throw paramError({ type: `value '${p.type}' does not have a value in the enumeration 'in, out, group'` });
  if (p.type !== 'group' && !actions.includes(p.action))
    throw paramError({ action: `value '${p.action}' does not have a value in the enumeration 'ACCEPT, DROP, REJECT'` });
  if (p.enable !== undefined && !/^\d+$/.test(p.enable)) throw paramError({ enable: `type check ('integer') failed - got '${p.enable}'` });
  if ((p.dport || p.sport) && !['tcp', 'udp', '6', '17'].includes(p.proto ?? '')) {
    throw paramError({ proto: 'missing property - protocol required for port' });
  }
  if (p.dest) checkAddressList('dest', p.dest);
  if (p.source) checkAddressList('source', p.source);
  const rule: Record<string, string | number> = {};
  for (const key of ['type', 'action', 'proto', 'dport', 'sport', 'dest', 'source', 'comment', 'macro', 'iface', 'log']) {
    if (p[key] !== undefined && p[key] !== '') rule[key] = p[key]!;
  }
  // pve-firewall: `$rule->{enable} = 0 if !defined($param->{enable})`.
  rule.enable = p.enable === undefined ? 0 : Number(p.enable);
  fw.rules.unshift(rule);
  return null;
}

export function listRules(fw: SimFirewall): Array<Record<string, string | number>> {
  return fw.rules.map((rule, pos) => ({ ...rule, pos }));
}
