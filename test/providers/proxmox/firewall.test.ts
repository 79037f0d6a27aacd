// A session CT's firewall as pve-firewall would apply it (the simulator's
// `verdict`, one ruleset per IP version): IPv4 local networks are dropped and the
// IPv4 internet stays open, and IPv6 is closed whole — the node's fe80:: address
// on the bridge, ULAs, the LAN's own global prefix and the other sessions.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { PveClient } from '../../../src/providers/proxmox/api.ts';
import { createProxmoxProvider, PveApiError } from '../../../src/providers/proxmox/index.ts';
import type { Provider } from '../../../src/core/provider-port.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import type { Packet } from '../../support/proxmox-sim/firewall.ts';
import { recordFigures } from '../../hardening/support/drill.ts';
import { ctxFor, fastTuning, simConfig, spec } from './sim-config.ts';

describe('proxmox session firewall', () => {
  let sim: ProxmoxSim;
  let provider: Provider;
  let client: PveClient;
  before(async () => {
    sim = await startProxmoxSim({ clusterFirewall: true });
    client = new PveClient({ host: sim.host, port: sim.port, tokenId: sim.tokenId, tokenSecret: sim.tokenSecret, ca: sim.caPem, retries: 1 });
    provider = createProxmoxProvider(simConfig(sim, { WINUX_ALLOWED_NETWORKS: '192.168.50.10/32' }), silentLogger, fastTuning(sim));
  });
  after(async () => {
    await provider.close?.();
    await client.close();
    await sim.close();
  });

  const tcp = (direction: 'in' | 'out', peer: string, dport: number): Packet => ({ direction, peer, proto: 'tcp', dport });

  it('closes IPv6 to the host, the LAN and other sessions, as it closes IPv4 local networks', async () => {
    const a = await provider.create(spec(30001, 'fw-a'), ctxFor());
    const b = await provider.create(spec(30002, 'fw-b'), ctxFor());
    const ifaces = await client.get<Array<{ name: string; inet6?: string }>>('/nodes/pve1/lxc/30002/interfaces');
    const bLinkLocal = ifaces.find((i) => i.name === 'eth0')!.inet6!.split('/')[0]!;
    assert.match(bLinkLocal, /^fe80:/, 'the other session has an IPv6 link-local address');
    const v = (p: Packet) => sim.cluster.packetVerdict(a.ref.containerId, p);

    // IPv6: a host service on [::] through the bridge's fe80:: address, a ULA, the LAN's global prefix, another session.
    const ipv6Probes: Array<[string, Packet]> = [
      ['sshd on the node via the bridge link-local', tcp('out', 'fe80::1', 22)],
      ['Winux itself on [::]:5000 via link-local', tcp('out', 'fe80::1', 5000)],
      ['a ULA host', tcp('out', 'fd12:3456:789a::1', 5432)],
      ['the LAN global prefix', tcp('out', '2001:db8:10::20', 443)],
      ['an IPv6 internet host', tcp('out', '2606:4700::1111', 443)],
      ['the other session over IPv6', tcp('out', bLinkLocal, 3389)],
      ['all-nodes multicast', { direction: 'out', peer: 'ff02::1', proto: 'ipv6-icmp' }],
      ['neighbour discovery to the node', { direction: 'out', peer: 'fe80::1', proto: 'ipv6-icmp', ndp: true }],
      ['DNS over IPv6', { direction: 'out', peer: 'fd00::53', proto: 'udp', dport: 53 }],
      ['RDP reached over IPv6', tcp('in', 'fe80::2', 3389)],
    ];
    const refused = ipv6Probes.filter(([, p]) => v(p) === 'DROP').length;
    recordFigures('proxmox-ipv6', { ipv6_probes: ipv6Probes.length, ipv6_refused: refused });
    for (const [what, p] of ipv6Probes) assert.equal(v(p), 'DROP', `IPv6 ${what} must be dropped`);
    // Session ↔ session over IPv6, seen from the receiving side too.
    assert.equal(sim.cluster.packetVerdict(b.ref.containerId, tcp('in', 'fe80::abcd:1', 22)), 'DROP');

    // IPv4 as before: local networks dropped, what an admin allowed and the internet open, RDP in only.
    assert.equal(v(tcp('out', '192.168.1.1', 22)), 'DROP', 'the LAN');
    assert.equal(v(tcp('out', '10.0.0.5', 3389)), 'DROP', 'another session on the bridge');
    assert.equal(v(tcp('out', '169.254.169.254', 80)), 'DROP', 'cloud metadata');
    assert.equal(v(tcp('out', '192.168.50.10', 443)), 'ACCEPT', 'WINUX_ALLOWED_NETWORKS');
    assert.equal(v(tcp('out', '198.51.100.7', 443)), 'ACCEPT', 'the IPv4 internet');
    assert.equal(v({ direction: 'out', peer: '192.168.1.1', proto: 'udp', dport: 53 }), 'ACCEPT', 'DNS');
    assert.equal(v({ direction: 'out', peer: '255.255.255.255', proto: 'udp', sport: 68, dport: 67 }), 'ACCEPT', 'DHCP');
    assert.equal(v(tcp('in', '192.168.1.20', 3389)), 'ACCEPT', 'RDP from the gateway');
    assert.equal(v(tcp('in', '192.168.1.20', 22)), 'DROP', 'nothing else in');

    await provider.destroy(a.ref);
    await provider.destroy(b.ref);
  });

  it('the simulator refuses rules PVE refuses: IPv4 and IPv6 mixed in one list, malformed addresses', async () => {
    sim.cluster.addForeignCt('pve1', 30009);
    const path = '/nodes/pve1/lxc/30009/firewall/rules';
    const status = (e: unknown) => (e instanceof PveApiError ? e.status : 0);
    await assert.rejects(client.post(path, { type: 'out', action: 'DROP', dest: '10.0.0.0/8,fc00::/7', enable: 1 }), (e) => status(e) === 400);
    await assert.rejects(client.post(path, { type: 'out', action: 'DROP', dest: 'fe80::/129', enable: 1 }), (e) => status(e) === 400);
    await client.post(path, { type: 'out', action: 'DROP', dest: 'fe80::/10,fc00::/7', enable: 1 });
    assert.equal(sim.cluster.cts.get(30009)!.firewall.rules[0]!.dest, 'fe80::/10,fc00::/7');
  });
});
