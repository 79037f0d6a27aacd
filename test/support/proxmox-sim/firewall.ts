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
const ipv4OrCidr = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\/(\d{1,2}))?$/;

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

function checkAddressList(field: string, value: string): void {
  for (const part of value.split(',')) {
    const m = ipv4OrCidr.exec(part.trim());
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || (m[6] !== undefined && Number(m[6]) > 32)) {
      throw paramError({ [field]: 'invalid IP address: value does not look like a valid IP address or CIDR network' });
    }
  }
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
