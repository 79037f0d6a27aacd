// The sessions' network: one bridge of Winux's own, NAT out to the web, and
// nothing else. iptables rules live in chains named WINUX-* that the base chains
// jump to, so setting them up is idempotent and removing Winux is one flush.
//
// RDP gateway: each session's port on the host is forwarded to its container's
// 3389 with iptables DNAT rather than an in-process TCP proxy, because
//  - the forwarding lives in the kernel, so sessions stay reachable while the
//    Winux server restarts or after it was killed, with nothing to re-open;
//  - no bytes of a desktop stream pass through Node (no CPU, no extra latency);
//  - removing a session's port is removing one rule, checked by `iptables -C`.
// Connections to 127.0.0.1:<port> from the host itself (tests, a local reverse
// proxy) go through the OUTPUT chain and need `route_localnet` on the bridge plus
// a MASQUERADE so the container can answer.
//
// Isolation: session ports on the bridge are "isolated" (bridge port isolation,
// set by a veth up-hook before the container's init runs), so sessions never see
// each other at layer 2; the FORWARD rules drop bridge→bridge routing through the
// host, and INPUT drops everything from the bridge to the host's own services
// except DNS to the bridge address when Winux runs a DNS forwarder there.
// Sessions reach the internet but not the host's local networks: private,
// link-local (cloud metadata at 169.254.169.254), shared and multicast ranges
// are dropped, except DNS to the host's own nameservers and the networks an
// admin lists in WINUX_ALLOWED_NETWORKS.
//
// IPv6: sessions get none. Nothing Winux offers needs it, and every IPv4 rule
// above would need an IPv6 twin kept in step. Three layers, because the
// container's root is the visitor's: inside the container IPv6 is off
// (lxc.sysctl in container.ts: the desktop never tries IPv6 first and waits), but
// its root can turn it back on in its own network namespace, so the host side
// holds on its own: IPv6 is off on the bridge (no fe80:: address for the host on
// the sessions' link, and the kernel drops every IPv6 packet arriving on it) and
// ip6tables drops anything from or to the bridge in INPUT and FORWARD, in case
// an admin or another tool turns IPv6 on there again.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.ts';
import { run } from './exec.ts';
import { containerName, subnetPlan } from './naming.ts';
import { ensureHostLimits } from './host-limits.ts';
import { localNetworks } from '../local-networks.ts';

type Tables = (args: string[], okCodes?: number[]) => ReturnType<typeof run>;
const ipt: Tables = (args, okCodes) => run('iptables', ['-w', '5', ...args], { okCodes });
const ip6t: Tables = (args, okCodes) => run('ip6tables', ['-w', '5', ...args], { okCodes });

async function ensureChain(table: string, chain: string, from: string[], tool: Tables = ipt): Promise<void> {
  await tool(['-t', table, '-N', chain], [1]); // exit 1: it exists already
  for (const base of from) {
    const jump = ['-t', table, base, '-j', chain];
    const present = await tool(['-t', table, '-C', ...jump.slice(2)], [1]);
    if (present.code !== 0) await tool(['-t', table, '-I', ...jump.slice(2)]);
  }
}

/** Makes a chain hold exactly `rules`, touching it only when it differs (a no-op on a prepared host). */
async function syncChain(table: string, chain: string, rules: string[][], tool: Tables = ipt): Promise<void> {
  const { stdout } = await tool(['-t', table, '-S', chain]);
  const count = stdout.split('\n').filter((l) => l.startsWith('-A ')).length;
  let same = count === rules.length;
  for (const r of rules) {
    if (!same) break;
    same = (await tool(['-t', table, '-C', chain, ...r], [1])).code === 0;
  }
  if (same) return;
  await tool(['-t', table, '-F', chain]);
  for (const r of rules) await tool(['-t', table, '-A', chain, ...r]);
}

export async function readFile0(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return null;
  }
}

async function sysctl(key: string, value: string): Promise<void> {
  const file = path.join('/proc/sys', ...key.split('.'));
  if ((await readFile0(file))?.trim() !== value) await writeFile(file, value);
}

export async function bridgeState(bridge: string): Promise<{ exists: boolean; up: boolean; addresses: string[] }> {
  try {
    const { stdout } = await run('ip', ['-j', 'addr', 'show', 'dev', bridge]);
    const [info] = JSON.parse(stdout) as Array<{ flags: string[]; operstate: string; addr_info: Array<{ family: string; local: string; prefixlen: number }> }>;
    if (!info) return { exists: false, up: false, addresses: [] };
    return {
      exists: true,
      up: info.flags.includes('UP'),
      addresses: info.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    };
  } catch {
    return { exists: false, up: false, addresses: [] };
  }
}

/** The nameservers sessions use: the host's own when reachable from a container, else a forwarder on the bridge. */
export async function sessionDns(config: Config): Promise<{ servers: string[]; forwarder: boolean }> {
  const conf = (await readFile0('/etc/resolv.conf')) ?? '';
  const servers = [...conf.matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1]!).filter((ip) => !ip.startsWith('127.'));
  if (servers.length) return { servers: servers.slice(0, 3), forwarder: false };
  return { servers: [subnetPlan(config.lxc.subnet).gateway], forwarder: true };
}

function hookPath(config: Config): string {
  return path.join(config.lxc.path, '.winux', 'net-up.sh');
}

/** The veth up-hook LXC runs on the host as each session's interface joins the bridge. */
const hookScript = `#!/bin/sh
# Written by Winux (src/providers/lxc/network.ts). LXC runs it on the host when a
# session's veth joins the bridge, before the container's init starts: isolate
# the port so sessions cannot talk to each other, and give the host's end of the
# veth no IPv6 (see network.ts). If it fails, the start fails.
set -e
# LXC passes: name net up veth <bridge> <host-side veth>.
dev="$6"
[ -n "$dev" ] || { echo "net-up: no veth name" >&2; exit 1; }
if [ -e "/proc/sys/net/ipv6/conf/$dev/disable_ipv6" ]; then echo 1 > "/proc/sys/net/ipv6/conf/$dev/disable_ipv6"; fi
exec bridge link set dev "$dev" isolated on
`;

export async function ensureNetHook(config: Config): Promise<string> {
  const file = hookPath(config);
  if ((await readFile0(file)) !== hookScript) {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    await writeFile(file, hookScript, { mode: 0o755 });
    await chmod(file, 0o755);
  }
  return file;
}

export function netHookPath(config: Config): string {
  return hookPath(config);
}

/**
 * The configurations whose network ensureNetwork made in this process: host
 * preparation makes it at startup, and the provider's first create then need not
 * run its forty-odd `ip`/`iptables` commands again (0.5 s of the first click after
 * a start, each spawn also blocking the event loop).
 */
const networksMade = new Map<string, Promise<void>>();
const networkKey = (config: Config) => JSON.stringify([config.lxc, config.allowedNetworks]);

/** ensureNetwork once per configuration in this process (again after a failure). */
export function ensureNetworkOnce(config: Config): Promise<void> {
  const key = networkKey(config);
  let made = networksMade.get(key);
  if (!made) {
    made = ensureNetwork(config);
    networksMade.set(key, made);
    made.catch(() => networksMade.delete(key));
  }
  return made;
}

/** Creates the bridge, NAT and isolation rules if missing. Idempotent and fast when all is there. */
export async function ensureNetwork(config: Config): Promise<void> {
  const { bridge, subnet } = config.lxc;
  const { gateway } = subnetPlan(subnet);
  const state = await bridgeState(bridge);
  if (!state.exists) await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  if (!state.addresses.includes(`${gateway}/16`)) await run('ip', ['addr', 'add', `${gateway}/16`, 'dev', bridge]);
  if (!state.up) await run('ip', ['link', 'set', bridge, 'up']);

  await sysctl('net.ipv4.ip_forward', '1');
  await ensureHostLimits();
  await sysctl(`net.ipv4.conf.${bridge}.route_localnet`, '1');
  await ensureNetHook(config);
  await closeIpv6(bridge);

  const dns = await sessionDns(config);
  if (dns.forwarder) await ensureDnsForwarder(config);

  await ensureChain('filter', 'WINUX-INPUT', ['INPUT']);
  await syncChain('filter', 'WINUX-INPUT', [
    ['-i', bridge, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
    ...(dns.forwarder
      ? [
          ['-i', bridge, '-d', gateway, '-p', 'udp', '--dport', '53', '-j', 'ACCEPT'],
          ['-i', bridge, '-d', gateway, '-p', 'tcp', '--dport', '53', '-j', 'ACCEPT'],
        ]
      : []),
    ['-i', bridge, '-j', 'DROP'],
  ]);
  await ensureChain('filter', 'WINUX-FORWARD', ['FORWARD']);
  await syncChain('filter', 'WINUX-FORWARD', [
    ['-i', bridge, '-o', bridge, '-j', 'DROP'],
    ['-o', bridge, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
    ['-o', bridge, '-p', 'tcp', '--dport', '3389', '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT'],
    ['-o', bridge, '-j', 'DROP'],
    ...(dns.forwarder
      ? []
      : dns.servers.flatMap((ip) => ['udp', 'tcp'].map((proto) => ['-i', bridge, '-d', `${ip}/32`, '-p', proto, '--dport', '53', '-j', 'ACCEPT']))),
    ...config.allowedNetworks.map((net) => ['-i', bridge, '-d', net, '-j', 'ACCEPT']),
    ...localNetworks.map((net) => ['-i', bridge, '-d', net, '-j', 'DROP']),
    ['-i', bridge, '-j', 'ACCEPT'],
  ]);
  // Per-session DNAT rules are added to WINUX-RDP; it applies to packets addressed to this host only.
  await ipt(['-t', 'nat', '-N', 'WINUX-RDP'], [1]);
  for (const base of ['PREROUTING', 'OUTPUT']) {
    const jump = [base, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'WINUX-RDP'];
    if ((await ipt(['-t', 'nat', '-C', ...jump], [1])).code !== 0) await ipt(['-t', 'nat', '-I', ...jump]);
  }
  await ensureChain('nat', 'WINUX-POSTROUTING', ['POSTROUTING']);
  await syncChain('nat', 'WINUX-POSTROUTING', [
    ['-s', subnet, '!', '-d', subnet, '-j', 'MASQUERADE'],
    ['-o', bridge, '-s', '127.0.0.0/8', '-j', 'MASQUERADE'],
  ]);
  // The rules are this configuration's now, whatever another one made before.
  networksMade.clear();
  networksMade.set(networkKey(config), Promise.resolve());
}

/** True when this kernel has IPv6 at all (booted without `ipv6.disable=1`). */
export function hasIpv6(): boolean {
  return existsSync('/proc/sys/net/ipv6/conf/all/disable_ipv6');
}

/** No IPv6 between sessions and the host: off on the bridge, and dropped by ip6tables (see the top of this file). */
async function closeIpv6(bridge: string): Promise<void> {
  if (!hasIpv6()) return;
  await sysctl(`net.ipv6.conf.${bridge}.disable_ipv6`, '1');
  await ensureChain('filter', 'WINUX-INPUT6', ['INPUT'], ip6t);
  await syncChain('filter', 'WINUX-INPUT6', [['-i', bridge, '-j', 'DROP']], ip6t);
  await ensureChain('filter', 'WINUX-FORWARD6', ['FORWARD'], ip6t);
  await syncChain(
    'filter',
    'WINUX-FORWARD6',
    [
      ['-i', bridge, '-j', 'DROP'],
      ['-o', bridge, '-j', 'DROP'],
    ],
    ip6t,
  );
}

function dnatRule(containerId: number, port: number, ip: string): string[] {
  return [
    'WINUX-RDP',
    '-p',
    'tcp',
    '--dport',
    String(port),
    '-m',
    'comment',
    '--comment',
    containerName(containerId),
    '-j',
    'DNAT',
    '--to-destination',
    `${ip}:3389`,
  ];
}

export async function openRdpPort(containerId: number, port: number, ip: string): Promise<void> {
  const rule = dnatRule(containerId, port, ip);
  if ((await ipt(['-t', 'nat', '-C', ...rule], [1, 2])).code !== 0) await ipt(['-t', 'nat', '-A', ...rule]);
}

/** Removes every forwarding rule of this container (by its comment), whatever port or address it had. */
export async function closeRdpPort(containerId: number): Promise<void> {
  const { stdout } = await ipt(['-t', 'nat', '-S', 'WINUX-RDP'], [1]);
  const tag = `--comment ${containerName(containerId)} `;
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('-A WINUX-RDP ') || !line.includes(tag)) continue;
    // Rules are printed in iptables-save form; our own values contain no spaces or quotes.
    await ipt(['-t', 'nat', '-D', ...line.slice(3).split(' ')], [1]);
  }
}

/** Container ids that still have a forwarding rule (leftover checks, orphan sweep). */
export async function forwardedContainers(): Promise<Map<number, number>> {
  const { stdout } = await ipt(['-t', 'nat', '-S', 'WINUX-RDP'], [1]);
  const found = new Map<number, number>();
  for (const m of stdout.matchAll(/--dport (\d+) .*--comment winux-(\d+) /g)) found.set(Number(m[2]), Number(m[1]));
  return found;
}

const dnsPidFile = '/run/winux/dnsmasq.pid';

/** A DNS-only dnsmasq on the bridge address, for hosts whose resolver listens on loopback (systemd-resolved). */
async function ensureDnsForwarder(config: Config): Promise<void> {
  const pid = Number((await readFile0(dnsPidFile))?.trim());
  if (pid > 0) {
    try {
      process.kill(pid, 0);
      return;
    } catch {
      /* stale pid file */
    }
  }
  await mkdir('/run/winux', { recursive: true });
  const { gateway } = subnetPlan(config.lxc.subnet);
  await run('dnsmasq', [
    '--conf-file=/dev/null',
    `--listen-address=${gateway}`,
    '--bind-interfaces',
    '--except-interface=lo',
    `--interface=${config.lxc.bridge}`,
    `--no-dhcp-interface=${config.lxc.bridge}`,
    `--pid-file=${dnsPidFile}`,
    '--user=nobody',
  ]);
}

/**
 * True when a process on this host listens on TCP `port`. A session's DNAT rule
 * would silently take that port over from it, so such a port is never used.
 */
export async function hostListensOn(port: number): Promise<boolean> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile0(file);
    for (const line of text?.split('\n').slice(1) ?? []) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && cols[1]?.endsWith(`:${hex}`)) return true;
    }
  }
  return false;
}
