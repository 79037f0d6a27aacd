// Isolation under abuse, with real LXC containers (the LXC engineer's suite in
// test/providers/lxc already checks unprivileged ids, the configured limits and
// that sessions cannot reach each other or host services). Here one session
// misbehaves as a visitor could, as its desktop user: a fork bomb, a memory hog,
// a CPU burner. Its limits must hold (pids, memory, CPU quota) while a neighbour
// session's RDP gateway keeps answering and the host keeps running commands.
// IPv6 is checked the way an attacker with the container's root would go at it:
// turn IPv6 back on inside, then try the host (a service on [::], one on the
// bridge's fe80:: address) and the neighbour session.
// Like every LXC test it needs the host to itself: a Winux server running next to
// it would remove these containers as orphans (CI runs one test file at a time).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { CreateSpec } from '../../src/core/provider-port.ts';
import { createLxcProvider } from '../../src/providers/lxc/index.ts';
import { cgroupVersion, ensureSessionsCgroup, hostMemoryMb, parentCgroupFile, sessionCgroupFile } from '../../src/providers/lxc/cgroups.ts';
import { run } from '../../src/providers/lxc/exec.ts';
import { sessionIdMap } from '../../src/providers/lxc/idmap.ts';
import { containerName, rdpPort } from '../../src/providers/lxc/naming.ts';
import { recordFigures } from './support/drill.ts';
import { desktopUser, logger, lxcConfig, portAccepts, prepareHost, randomPassword } from '../providers/lxc/helpers.ts';

const config = lxcConfig();
const provider = createLxcProvider(config, logger);
// Apart from the LXC suite's ids (30901-30904) and a server's first sessions.
const HOG = 30911;
const NEIGHBOUR = 30912;
const limits = { memoryMb: 384, cores: 1, pidsMax: 256 };

function spec(containerId: number): CreateSpec {
  return {
    sessionId: `hardening-${containerId}`,
    containerId,
    hostname: `winux-hardening-${containerId}`,
    username: desktopUser,
    password: randomPassword(),
    ...limits,
    diskGb: config.resources.diskGb,
  };
}

/**
 * Runs `args` in session `id` as its root (the visitor's admin), with a clean
 * environment and killed after `seconds`; `okCodes` are the exits the caller judges itself.
 */
function asRoot(id: number, args: string[], seconds = 20, okCodes = [1, 2, 124, 137]) {
  return run(
    'lxc-attach',
    [
      '-P',
      config.lxc.path,
      '-n',
      containerName(id),
      '--clear-env',
      '--set-var',
      'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
      '--',
      'timeout',
      '-s',
      'KILL',
      String(seconds),
      ...args,
    ],
    { okCodes, timeoutMs: (seconds + 30) * 1000 },
  );
}

/** Runs a shell command in the session as its desktop user (what a visitor can do), bounded in time. */
function asVisitor(id: number, script: string, seconds: number) {
  return asRoot(id, ['runuser', '-u', desktopUser, '--', 'bash', '-c', script], seconds, [1, 2, 124, 126, 137, 143]);
}

/** Link-local IPv6 addresses of `dev` (in the host's namespace, or inside session `id`), DAD finished. */
async function linkLocal(dev: string, id?: number): Promise<string[]> {
  const args = ['-j', '-6', 'addr', 'show', 'dev', dev, 'scope', 'link'];
  const r = id === undefined ? await run('ip', args, { okCodes: [1] }) : await asRoot(id, ['ip', ...args]);
  const [info] = JSON.parse(r.stdout || '[]') as Array<{ addr_info: Array<{ local: string; tentative?: boolean }> }>;
  return (info?.addr_info ?? []).filter((a) => !a.tentative).map((a) => a.local);
}

async function waitLinkLocal(dev: string, id?: number): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const [addr] = await linkLocal(dev, id);
    if (addr) return addr;
    if (Date.now() > deadline) throw new Error(`no link-local IPv6 address on ${dev}${id ? ` in ${containerName(id)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Can session `id` open a TCP connection to [address%eth0]:port over IPv6? (3 s limit) */
async function connects6(id: number, address: string, port: number): Promise<boolean> {
  const py = 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()';
  const r = await asRoot(id, ['python3', '-c', py, `${address}%eth0`, String(port)], 10);
  return r.code === 0;
}

/** What the session's root does first: IPv6 back on in its own network namespace. */
async function reenableIpv6(id: number): Promise<string> {
  const r = await asRoot(id, ['sysctl', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0', 'net.ipv6.conf.eth0.disable_ipv6=0']);
  assert.equal(r.code, 0, `the session's root can turn IPv6 back on (${r.stderr.trim()})`);
  return waitLinkLocal('eth0', id);
}

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function cgroupFile(controller: string, v1: string, v2: string, id = HOG): string {
  return sessionCgroupFile(containerName(id), controller, v1, v2);
}
/** The kernel's count of OOM kills in a session's cgroup (v2 memory.events, v1 memory.oom_control). */
function oomKills(id = HOG): number {
  const text = readFileSync(cgroupFile('memory', 'memory.oom_control', 'memory.events', id), 'utf8');
  return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}
function readNumber(file: string): number {
  // Another Winux server on this host (e.g. test/providers/lxc/api.test.ts running at the same
  // time) removes winux-* containers it does not own as orphans: say so rather than ENOENT.
  if (!existsSync(file)) throw new Error(`${file} is gone: the session container disappeared (another Winux on this host reconciling orphans?)`);
  return Number(readFileSync(file, 'utf8').trim().split(/\s+/)[0]);
}

/** The neighbour and the host still work: the neighbour's RDP gateway accepts, the host runs a command. */
async function othersResponsive(): Promise<void> {
  assert.equal(await portAccepts(rdpPort(config, NEIGHBOUR), '127.0.0.1', 10_000), true, "the neighbour session's RDP port answers");
  const host = await run('true', [], { timeoutMs: 10_000 });
  assert.equal(host.code, 0, 'the host runs commands');
}

before(
  async () => {
    await prepareHost(config);
    for (const id of [HOG, NEIGHBOUR]) await provider.destroy({ containerId: id });
    for (const id of [HOG, NEIGHBOUR]) await provider.create(spec(id), { signal: AbortSignal.timeout(300_000), progress: () => {} });
  },
  { timeout: 45 * 60_000 },
);

after(async () => {
  for (const id of [HOG, NEIGHBOUR]) await provider.destroy({ containerId: id }).catch(() => {});
});

test("the session's pids limit is the desktop's only one: systemd sets no lower TasksMax on it", async () => {
  // systemd's default (15 % of the container's pids.max: 38 under this suite's 256) once
  // stopped XFCE's threads at start, and the desktop never came up (before() above).
  const { stdout } = await asRoot(NEIGHBOUR, ['systemctl', 'show', '-p', 'TasksMax', '--value', `winux-desktop@${desktopUser}`]);
  assert.equal(stdout.trim(), 'infinity');
  const pidsMax = cgroupFile('pids', 'pids.max', 'pids.max', NEIGHBOUR);
  assert.equal(readNumber(pidsMax), limits.pidsMax);
});

test("a fork bomb stops at the session's pids limit; the neighbour and the host stay responsive", { timeout: 180_000 }, async (t) => {
  const pidsMax = cgroupFile('pids', 'pids.max', 'pids.max');
  assert.equal(readNumber(pidsMax), limits.pidsMax);
  // Detached from our pipes (its orphans would hold them open forever); it forks until the limit stops it.
  await asVisitor(HOG, 'exec </dev/null >/dev/null 2>&1; bomb() { bomb | bomb & }; bomb', 10);
  let peak = 0;
  const pidsCurrent = cgroupFile('pids', 'pids.current', 'pids.current');
  const sampling = (async () => {
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      peak = Math.max(peak, readNumber(pidsCurrent));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await new Promise((r) => setTimeout(r, 3000));
  await othersResponsive();
  await sampling;
  assert.ok(peak > 50, `the bomb did fork (${peak} processes at peak)`);
  assert.ok(peak <= limits.pidsMax, `at most ${limits.pidsMax} processes (${peak})`);
  t.diagnostic(`fork bomb: peak ${peak} processes, limit ${limits.pidsMax}; neighbour and host responsive`);
  // The bomb's orphans outlive `timeout`: end the session as Winux would, the neighbour is unaffected.
  await provider.destroy({ containerId: HOG });
  await othersResponsive();
  await provider.create(spec(HOG), { signal: AbortSignal.timeout(300_000), progress: () => {} });
});

test("a memory hog is stopped at the session's memory limit; the neighbour and the host stay responsive", { timeout: 180_000 }, async (t) => {
  const limitFile = cgroupFile('memory', 'memory.limit_in_bytes', 'memory.max');
  assert.equal(readNumber(limitFile), limits.memoryMb * 1024 * 1024);
  // `tail -n 1` keeps the last line of its input in memory, and /dev/zero has no newline: it grows until stopped.
  const peakFile = cgroupFile('memory', 'memory.max_usage_in_bytes', 'memory.peak');
  if (peakFile.endsWith('max_usage_in_bytes')) writeFileSync(peakFile, '0');
  // No swap to spill into: memory.swap.max 0 (v1: memory+swap = memory).
  if (cgroupVersion() === 2) assert.equal(readNumber(cgroupFile('memory', '', 'memory.swap.max')), config.lxc.swapMb * 2 ** 20);
  else assert.equal(readNumber(cgroupFile('memory', 'memory.memsw.limit_in_bytes', '')), (limits.memoryMb + config.lxc.swapMb) * 2 ** 20);
  const killsBefore = oomKills();
  const hog = await asVisitor(HOG, 'head -c 4G /dev/zero | tail -n 1 > /dev/null && echo survived', 90);
  assert.ok(!hog.stdout.includes('survived'), 'the hog was stopped before it got 4 GiB');
  // Stopped by the memory limit (the kernel's OOM kill in the session's cgroup), not by the test's own `timeout -s KILL`.
  assert.ok(oomKills() > killsBefore, `the kernel OOM-killed the hog in its cgroup (oom_kill ${killsBefore} → ${oomKills()}; exit ${hog.code})`);
  const peak = readNumber(peakFile);
  assert.ok(peak >= 0.8 * limits.memoryMb * 1024 * 1024, `the hog did push against the limit (peak ${Math.round(peak / 2 ** 20)} MiB)`);
  assert.ok(peak <= limits.memoryMb * 1024 * 1024, `never above the limit (peak ${Math.round(peak / 2 ** 20)} MiB)`);
  t.diagnostic(`memory hog: stopped at ${Math.round(peak / 2 ** 20)} MiB by an OOM kill, limit ${limits.memoryMb} MiB`);
  await othersResponsive();
});

test('a CPU burner gets at most its quota (1 core of this host)', { timeout: 120_000 }, async (t) => {
  const usage = cgroupFile('cpuacct', 'cpuacct.usage', 'cpu.stat');
  const cpuNs = () => (cgroupVersion() === 1 ? readNumber(usage) : Number(/usage_usec (\d+)/.exec(readFileSync(usage, 'utf8'))![1]) * 1000);
  const startNs = cpuNs();
  const started = process.hrtime.bigint();
  // Four busy loops: without a quota they would take every core of the host.
  await asVisitor(HOG, 'for i in 1 2 3 4; do (while :; do :; done) & done; wait', 8);
  const wallNs = Number(process.hrtime.bigint() - started);
  const cores = (cpuNs() - startNs) / wallNs;
  assert.ok(cores <= limits.cores * 1.15, `the session used ${cores.toFixed(2)} cores with a quota of ${limits.cores}`);
  assert.ok(cores > 0.2, `the burner did run (${cores.toFixed(2)} cores)`);
  t.diagnostic(`CPU burner (4 loops): ${cores.toFixed(2)} cores used, quota ${limits.cores}`);
  await othersResponsive();
});

test("IPv6: no host service (on [::] or the bridge's fe80:: address) and no other session answers, even with IPv6 turned back on inside", {
  timeout: 180_000,
}, async (t) => {
  const bridge = config.lxc.bridge;
  const sysctl = `/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`;
  // The layers as set up (asserted at the end, after the probes that matter most).
  const layers = {
    bridgeAddresses: await linkLocal(bridge),
    bridgeOff: readFileSync(sysctl, 'utf8').trim(),
    insideOff: (await asRoot(HOG, ['cat', '/proc/sys/net/ipv6/conf/all/disable_ipv6'])).stdout.trim(),
    insideAddresses: await linkLocal('eth0', HOG),
  };

  const hog6 = await reenableIpv6(HOG);
  const neighbour6 = await reenableIpv6(NEIGHBOUR);
  let probes = 0;
  let refused = 0;
  const probe = async (what: string, address: string, port: number) => {
    probes++;
    const reached = await connects6(HOG, address, port);
    if (!reached) refused++;
    assert.equal(reached, false, `the session reached ${what} over IPv6`);
  };

  // Session ↔ session: the neighbour listens on [::]; it reaches itself (control), the hog must not.
  await asVisitor(
    NEIGHBOUR,
    'exec </dev/null >/dev/null 2>&1; python3 -c \'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::", 7777)); s.listen()\nwhile True: s.accept()[0].close()\' &',
    5,
  );
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await connects6(NEIGHBOUR, neighbour6, 7777), true, 'control: the neighbour reaches its own listener over IPv6');
  assert.equal(await connects6(HOG, hog6, 22), false, 'control: nothing listens on port 22 of the hog itself');
  await probe('the neighbour session', neighbour6, 7777);

  // The host, with IPv6 turned back on on the bridge too (an admin's or another tool's doing): ip6tables alone must hold.
  const anyServer = net.createServer((s) => s.end());
  const linkServer = net.createServer((s) => s.end());
  writeFileSync(sysctl, '0');
  try {
    const bridge6 = await waitLinkLocal(bridge);
    const anyPort = await listen(anyServer, '::');
    const linkPort = await listen(linkServer, `${bridge6}%${bridge}`);
    const hostReaches = (port: number) =>
      new Promise<boolean>((resolve) => {
        const c = net.connect({ host: `${bridge6}%${bridge}`, port, timeout: 3000 }, () => {
          c.destroy();
          resolve(true);
        });
        c.on('error', () => resolve(false));
        c.on('timeout', () => {
          c.destroy();
          resolve(false);
        });
      });
    assert.equal(await hostReaches(anyPort), true, 'control: the [::] service answers on the bridge address');
    assert.equal(await hostReaches(linkPort), true, 'control: the fe80:: service answers');
    await probe('a host service on [::] through the bridge (IPv6 on on the bridge)', bridge6, anyPort);
    await probe("a host service on the bridge's fe80:: address (IPv6 on on the bridge)", bridge6, linkPort);
    // And as Winux leaves it: IPv6 off on the bridge again; the address it had is gone with it.
    writeFileSync(sysctl, '1');
    await probe('a host service on [::] through the address the bridge had', bridge6, anyPort);
    assert.deepEqual(layers.bridgeAddresses, [], 'the bridge has no IPv6 address the sessions could reach the host on');
    assert.equal(layers.bridgeOff, '1', 'IPv6 is off on the bridge');
    assert.equal(layers.insideOff, '1', 'IPv6 is off inside the session');
    assert.deepEqual(layers.insideAddresses, [], 'the session has no IPv6 address');
    t.diagnostic(`IPv6 probes refused: ${refused} / ${probes} (host [::], host fe80::, neighbour session)`);
    recordFigures('ipv6', { probes, refused });
  } finally {
    writeFileSync(sysctl, '1');
    anyServer.close();
    linkServer.close();
  }
});

test('sessions live under one parent cgroup: together at their limits they never pass its total; each has an IO weight', { timeout: 240_000 }, async (t) => {
  for (const id of [HOG, NEIGHBOUR]) {
    assert.ok(existsSync(cgroupFile('memory', 'memory.limit_in_bytes', 'memory.max', id)), `${containerName(id)} is under the parent cgroup`);
    const weight = cgroupFile('blkio', 'blkio.bfq.weight', 'io.weight', id);
    if (existsSync(weight)) assert.match(readFileSync(weight, 'utf8'), new RegExp(`\\b${config.lxc.ioWeight}\\b`), 'the IO weight');
  }
  const total = parentCgroupFile('memory.limit_in_bytes', 'memory.max');
  const peakFile = parentCgroupFile('memory.max_usage_in_bytes', 'memory.peak');
  // A total below the two sessions' limits together (2 × 384 MiB), so the parent's limit is what must hold.
  const totalMb = 600;
  writeFileSync(total, String(totalMb * 2 ** 20));
  try {
    if (cgroupVersion() === 1) writeFileSync(peakFile, '0');
    const hogs = [HOG, NEIGHBOUR].map((id) => asVisitor(id, 'head -c 4G /dev/zero | tail -n 1 > /dev/null && echo survived', 90));
    let sampledPeak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        sampledPeak = Math.max(sampledPeak, readNumber(parentCgroupFile('memory.usage_in_bytes', 'memory.current')));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const results = await Promise.all(hogs);
    sampling = false;
    await sampler;
    for (const r of results) assert.ok(!r.stdout.includes('survived'), 'a hog got 4 GiB');
    const peak = Math.max(readNumber(peakFile), sampledPeak);
    const perSession = [HOG, NEIGHBOUR].map((id) => readNumber(cgroupFile('memory', 'memory.max_usage_in_bytes', 'memory.peak', id)));
    assert.ok(peak <= totalMb * 2 ** 20, `all sessions together stayed within ${totalMb} MiB (peak ${Math.round(peak / 2 ** 20)} MiB)`);
    assert.ok(peak >= 0.8 * totalMb * 2 ** 20, `the hogs did push against the total (peak ${Math.round(peak / 2 ** 20)} MiB)`);
    t.diagnostic(
      `2 sessions of ${limits.memoryMb} MiB at their limits under a ${totalMb} MiB total: peak ${Math.round(peak / 2 ** 20)} MiB together (${perSession.map((p) => Math.round(p / 2 ** 20)).join(' + ')} MiB each at peak)`,
    );
    recordFigures('memory-total', {
      sessions: 2,
      session_limit_mb: limits.memoryMb,
      total_mb: totalMb,
      peak_mb: Math.round(peak / 2 ** 20),
      exceeded: peak > totalMb * 2 ** 20 ? 1 : 0,
    });
  } finally {
    // Back to the configured total.
    await ensureSessionsCgroup(config);
  }
  assert.equal(readNumber(total), Math.floor(((config.lxc.sessionsMemoryMb ?? Math.floor(hostMemoryMb() * 0.9)) * 2 ** 20) / 4096) * 4096);
  const host = await run('true', [], { timeoutMs: 10_000 });
  assert.equal(host.code, 0, 'the host runs commands');
});

test("each session has its own uid range: two sessions' root are different host uids, and a file made in one is in its range only", {
  timeout: 60_000,
}, async (t) => {
  const uidMap = async (id: number) => (await asRoot(id, ['cat', '/proc/self/uid_map'])).stdout.trim().split(/\s+/).map(Number);
  const [a, b] = [await uidMap(HOG), await uidMap(NEIGHBOUR)];
  assert.equal(a[0], 0);
  assert.equal(a[2], 65_536);
  assert.notEqual(a[1], b[1], 'two sessions share one host uid range');
  assert.ok(Math.abs(a[1]! - b[1]!) >= 65_536, `the ranges overlap (${a[1]}, ${b[1]})`);
  assert.deepEqual(a.slice(1), [sessionIdMap(config, HOG).uid, 65_536]);
  // A file the hog's desktop user makes, seen from the host: owned inside the hog's range, outside the neighbour's.
  await asVisitor(HOG, 'echo mine > /tmp/winux-owner-probe', 10);
  const upper = path.join(config.lxc.path, containerName(HOG), 'overlay', 'delta', 'tmp', 'winux-owner-probe');
  const owner = statSync(upper).uid;
  const inRange = (uid: number, start: number) => uid >= start && uid < start + 65_536;
  assert.ok(inRange(owner, a[1]!), `the file is owned by ${owner}, in the hog's range from ${a[1]}`);
  assert.ok(!inRange(owner, b[1]!), "the file is in the neighbour's range");
  // The template's files keep working in each session (shifted view): root owns /etc/shadow, the desktop user its home.
  for (const id of [HOG, NEIGHBOUR]) {
    assert.equal(
      (await asRoot(id, ['stat', '-c', '%u:%g %U', '/etc/shadow', `/home/${desktopUser}`])).stdout.trim().split('\n')[1]?.split(' ')[1],
      desktopUser,
    );
    assert.match((await asRoot(id, ['stat', '-c', '%u %U', '/etc/shadow'])).stdout, /^0 root/);
  }
  t.diagnostic(`session roots: host uid ${a[1]} and ${b[1]}; the probe file is owned by ${owner}`);
});
