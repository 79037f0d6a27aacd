// Every local session lives under one parent cgroup, `winux`, whose memory limit
// is the total all sessions together may use (WINUX_SESSIONS_MEMORY_MB, by
// default 90 % of the host's memory). Per-session limits alone let 24 sessions
// of 1 GiB run a 24 GiB host out of memory; under the parent, the kernel
// reclaims and, at worst, OOM-kills inside the sessions, never the host's own
// processes (Winux, sshd, the database).
//
// The host's init is not always systemd (no slices to ask for), so the parent
// is made directly in the cgroup filesystem: on the unified v2 hierarchy
// /sys/fs/cgroup/winux with the controllers delegated to it, on v1 (Debian 12
// hybrid hosts) /sys/fs/cgroup/memory/winux; LXC creates the other v1
// controllers' directories itself. Each container's config points LXC there
// (lxc.cgroup.dir.container); its monitor process stays outside, so an OOM kill
// in the sessions never takes the process that reaps a container.
//
// Per session, besides memory/CPU/pids (container.ts): swap (v2 memory.swap.max,
// v1 memory.memsw.limit_in_bytes = memory + swap), so a hog cannot push the
// host into swapping, and an IO weight (v2 io.weight, v1 blkio.bfq.weight).
// Weights only share a disk whose scheduler is BFQ (or, on v2, io.cost): the
// doctor check says which scheduler the sessions' disk has.
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.ts';

export const parentCgroup = 'winux';

/** cgroup v1 (Debian 12 hosts booted with the hybrid hierarchy) or the unified v2 hierarchy. */
export function cgroupVersion(): 1 | 2 {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? 2 : 1;
}

/** The session's cgroup, relative to the hierarchy's root (what lxc.cgroup.dir.container takes). */
export function sessionCgroupDir(name: string): string {
  return `${parentCgroup}/${name}`;
}

/** A file of a session's cgroup: `v1` under /sys/fs/cgroup/<controller>/, `v2` on the unified hierarchy. */
export function sessionCgroupFile(name: string, controller: string, v1: string, v2: string): string {
  return cgroupVersion() === 2 ? path.join('/sys/fs/cgroup', sessionCgroupDir(name), v2) : path.join('/sys/fs/cgroup', controller, sessionCgroupDir(name), v1);
}

/** A file of the parent cgroup (memory controller). */
export function parentCgroupFile(v1: string, v2: string): string {
  return cgroupVersion() === 2 ? path.join('/sys/fs/cgroup', parentCgroup, v2) : path.join('/sys/fs/cgroup/memory', parentCgroup, v1);
}

/** MemTotal of this host in MiB. */
export function hostMemoryMb(): number {
  const m = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Math.floor(Number(m[1]) / 1024) : 0;
}

/** What all sessions together may use: WINUX_SESSIONS_MEMORY_MB, else 90 % of the host's memory. */
export function sessionsMemoryMb(config: Config): number {
  return config.lxc.sessionsMemoryMb ?? Math.floor(hostMemoryMb() * 0.9);
}

export interface CapacityInputs {
  ids: number;
  sessionsMemoryMb: number;
  sessionMemoryMb: number;
  diskFreeGb: number;
  sessionDiskGb: number;
}

/** How many sessions this host holds: the id range, the memory all sessions may use, and the free disk, whichever is smallest. */
export function sessionCapacity(i: CapacityInputs): { max: number; by: 'ids' | 'memory' | 'disk' } {
  const byMemory = Math.floor(i.sessionsMemoryMb / i.sessionMemoryMb);
  const byDisk = Math.floor(i.diskFreeGb / i.sessionDiskGb);
  const max = Math.max(0, Math.min(i.ids, byMemory, byDisk));
  return { max, by: max === i.ids ? 'ids' : max === byMemory ? 'memory' : 'disk' };
}

/** Free space of the filesystem holding the containers, in GiB (fractional). */
export function diskFreeGb(dir: string): number {
  const s = statfsSync(dir);
  return (s.bavail * s.bsize) / 2 ** 30;
}

/** This host's capacity for the configured session size. */
export function hostCapacity(config: Config): ReturnType<typeof sessionCapacity> & CapacityInputs {
  const inputs: CapacityInputs = {
    ids: config.containerIdMax - config.containerIdMin + 1,
    sessionsMemoryMb: sessionsMemoryMb(config),
    sessionMemoryMb: config.resources.memoryMb,
    diskFreeGb: diskFreeGb(existsSync(config.lxc.path) ? config.lxc.path : '/'),
    sessionDiskGb: config.lxc.diskEstimateGb ?? config.resources.diskGb,
  };
  return { ...inputs, ...sessionCapacity(inputs) };
}

/** The configuration with the host's capacity as WINUX_MAX_SESSIONS, unless an admin set one. */
export function withHostCapacity(config: Config): Config {
  if (config.maxSessionsSet) return config;
  return Object.freeze({ ...config, maxSessions: Math.min(config.maxSessions, hostCapacity(config).max) });
}

async function writeIfDifferent(file: string, value: string): Promise<void> {
  const current = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (current !== value) await writeFile(file, value);
}

/** Creates the parent cgroup and sets the sessions' total memory. Idempotent; cheap when done. */
export async function ensureSessionsCgroup(config: Config): Promise<void> {
  const bytes = String(sessionsMemoryMb(config) * 2 ** 20);
  if (cgroupVersion() === 2) {
    const dir = path.join('/sys/fs/cgroup', parentCgroup);
    await mkdir(dir, { recursive: true });
    // Delegate the controllers the sessions' limits use, at the root and in the parent.
    const available = (await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8')).trim().split(/\s+/);
    const wanted = ['cpu', 'io', 'memory', 'pids'].filter((c) => available.includes(c));
    for (const file of ['/sys/fs/cgroup/cgroup.subtree_control', path.join(dir, 'cgroup.subtree_control')]) {
      const enabled = (await readFile(file, 'utf8')).trim().split(/\s+/);
      const missing = wanted.filter((c) => !enabled.includes(c));
      if (missing.length) await writeFile(file, missing.map((c) => `+${c}`).join(' '));
    }
    await writeIfDifferent(path.join(dir, 'memory.max'), bytes);
    return;
  }
  const dir = path.join('/sys/fs/cgroup/memory', parentCgroup);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'memory.limit_in_bytes');
  // The kernel rounds to pages; compare what it would keep.
  const current = Number((await readFile(file, 'utf8')).trim());
  if (current !== Number(bytes) - (Number(bytes) % 4096)) await writeFile(file, bytes);
}

/**
 * Removes the empty cgroups a container's lxc-start left when it was killed
 * (a SIGKILLed Winux, a host crash): its monitor's (`lxc.monitor.<name>`,
 * `-1`, …) and its payload's (`winux/<name>` and what systemd made inside).
 * LXC 5.0 does not step past them: the next start of that name fails with
 * "Failed to create monitor/container cgroup: Numerical result out of range".
 * Only empty cgroups go (rmdir refuses one with processes), deepest first.
 */
export async function removeStaleCgroups(name: string): Promise<void> {
  const own = new RegExp(`^lxc\\.monitor\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(-\\d+)?$`);
  for (const root of await cgroupRoots()) {
    for (const entry of await readdir(root).catch(() => [] as string[])) {
      if (own.test(entry)) await removeEmptyTree(path.join(root, entry));
    }
    await removeEmptyTree(path.join(root, sessionCgroupDir(name)));
  }
}

/** The unified hierarchy's root, or each v1 controller's. */
async function cgroupRoots(): Promise<string[]> {
  if (cgroupVersion() === 2) return ['/sys/fs/cgroup'];
  const names = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  return names.map((h) => path.join('/sys/fs/cgroup', h)).filter((d) => existsSync(path.join(d, 'cgroup.procs')));
}

async function removeEmptyTree(dir: string): Promise<void> {
  const children = await readdir(dir, { withFileTypes: true }).catch(() => null);
  if (!children) return;
  for (const c of children) if (c.isDirectory()) await removeEmptyTree(path.join(dir, c.name));
  await rmdir(dir).catch(() => {});
}

/** The lxc.cgroup* lines for swap and IO weight that this host's kernel supports. */
export function sessionCgroupExtras(memoryMb: number, swapMb: number, ioWeight: number): string[] {
  if (cgroupVersion() === 2) {
    const lines = [];
    // Files the kernel lacks (no swap accounting, no io controller) would make lxc-start fail.
    if (existsSync(parentCgroupFile('', 'memory.swap.max'))) lines.push(`lxc.cgroup2.memory.swap.max = ${swapMb}M`);
    if (existsSync(parentCgroupFile('', 'io.weight'))) lines.push(`lxc.cgroup2.io.weight = ${ioWeight}`);
    else if (existsSync(parentCgroupFile('', 'io.bfq.weight'))) lines.push(`lxc.cgroup2.io.bfq.weight = ${Math.min(ioWeight, 1000)}`);
    return lines;
  }
  const lines = [];
  if (existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes')) lines.push(`lxc.cgroup.memory.memsw.limit_in_bytes = ${memoryMb + swapMb}M`);
  if (bfqWeightV1()) lines.push(`lxc.cgroup.blkio.bfq.weight = ${Math.min(ioWeight, 1000)}`);
  return lines;
}

/** The root of the v1 blkio hierarchy hides weight files: look in any child (LXC's own lxc.pivot is always there). */
function bfqWeightV1(): boolean {
  const root = '/sys/fs/cgroup/blkio';
  try {
    return existsSync(path.join(root, 'lxc.pivot', 'blkio.bfq.weight')) || existsSync(path.join(root, parentCgroup, 'blkio.bfq.weight'));
  } catch {
    return false;
  }
}

/** The IO scheduler of the disk under `dir` (weights only share a BFQ disk), or null when it cannot be told. */
export function diskScheduler(dir: string): string | null {
  try {
    const mount = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[4] && (dir === f[4] || dir.startsWith(f[4] === '/' ? '/' : `${f[4]}/`)))
      .sort((a, b) => b[4]!.length - a[4]!.length)[0];
    if (!mount) return null;
    const [major, minor] = mount[2]!.split(':');
    const devDir = `/sys/dev/block/${major}:${minor}`;
    const queue = existsSync(path.join(devDir, 'queue')) ? devDir : path.join(devDir, '..');
    const text = readFileSync(path.join(queue, 'queue', 'scheduler'), 'utf8');
    return /\[([^\]]+)\]/.exec(text)?.[1] ?? null;
  } catch {
    return null;
  }
}
