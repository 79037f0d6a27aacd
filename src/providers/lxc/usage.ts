// CPU and memory of local sessions, read from each container's cgroup (cgroups.ts
// says where it lives), and the one host's figures. CPU % comes from the growth of
// the cgroup's CPU time between two samples, so the first sample of a container
// has none.
import os from 'node:os';
import { statfsSync, existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Config } from '../../config.ts';
import type { HostFigures, MachineUsage, ProviderRef } from '../../core/provider-port.ts';
import { cgroupVersion, sessionCgroupFile } from './cgroups.ts';
import { containerName } from './naming.ts';

/** CPU time used by the container so far, in nanoseconds; null when its cgroup is gone. */
async function cpuNs(name: string): Promise<number | null> {
  if (cgroupVersion() === 2) {
    const stat = await readFile(sessionCgroupFile(name, 'cpu', '', 'cpu.stat'), 'utf8').catch(() => null);
    const m = stat && /^usage_usec (\d+)/m.exec(stat);
    return m ? Number(m[1]) * 1000 : null;
  }
  const text = await readFile(sessionCgroupFile(name, 'cpuacct', 'cpuacct.usage', ''), 'utf8').catch(() => null);
  return text === null ? null : Number(text.trim());
}

/** Memory in use, without the page cache the kernel would drop first (inactive_file), as `docker stats` counts it. */
async function memoryBytes(name: string): Promise<number | null> {
  const v2 = cgroupVersion() === 2;
  const usage = await readFile(sessionCgroupFile(name, 'memory', 'memory.usage_in_bytes', 'memory.current'), 'utf8').catch(() => null);
  if (usage === null) return null;
  const stat = await readFile(sessionCgroupFile(name, 'memory', 'memory.stat', 'memory.stat'), 'utf8').catch(() => '');
  const inactive = new RegExp(`^${v2 ? 'inactive_file' : 'total_inactive_file'} (\\d+)`, 'm').exec(stat);
  return Math.max(0, Number(usage.trim()) - Number(inactive?.[1] ?? 0));
}

/** Keeps the previous CPU reading of each container, so each call can give a rate. */
export function createUsageReader() {
  const previous = new Map<string, { cpuNs: number; atNs: bigint }>();
  return async function usage(refs: ProviderRef[]): Promise<Map<number, MachineUsage>> {
    const out = new Map<number, MachineUsage>();
    const seen = new Set<string>();
    await Promise.all(
      refs.map(async (ref) => {
        const name = containerName(Number(ref.containerId));
        seen.add(name);
        const [cpu, mem] = await Promise.all([cpuNs(name), memoryBytes(name)]);
        if (cpu === null || mem === null) return;
        const at = process.hrtime.bigint();
        const before = previous.get(name);
        previous.set(name, { cpuNs: cpu, atNs: at });
        const elapsed = before ? Number(at - before.atNs) : 0;
        const cpuPercent = before && elapsed > 0 && cpu >= before.cpuNs ? Math.round(((cpu - before.cpuNs) / elapsed) * 1000) / 10 : null;
        out.set(Number(ref.containerId), { cpuPercent, memoryBytes: mem });
      }),
    );
    for (const name of previous.keys()) if (!seen.has(name)) previous.delete(name);
    return out;
  };
}

/** MemAvailable (what programs could still get, page cache included), else MemFree. */
function availableBytes(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : os.freemem();
}

/** This host: memory, the disk holding the containers, load, and CPU use since the last call. */
export function createHostReader(config: Config) {
  let last: { busy: number; total: number } | null = null;
  return async function hosts(): Promise<HostFigures[]> {
    const times = os.cpus().map((c) => c.times);
    const total = times.reduce((a, t) => a + t.user + t.nice + t.sys + t.idle + t.irq, 0);
    const busy = times.reduce((a, t) => a + t.user + t.nice + t.sys + t.irq, 0);
    const cpuPercent = last && total > last.total ? Math.round(((busy - last.busy) / (total - last.total)) * 1000) / 10 : null;
    last = { busy, total };
    let disk: { total: number; used: number } | null = null;
    try {
      const s = statfsSync(existsSync(config.lxc.path) ? config.lxc.path : '/');
      disk = { total: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize };
    } catch {
      /* no such filesystem: shown as unknown */
    }
    return [
      {
        node: os.hostname(),
        online: true,
        cpus: times.length,
        cpuPercent,
        memoryTotalBytes: os.totalmem(),
        memoryUsedBytes: os.totalmem() - availableBytes(),
        diskTotalBytes: disk?.total ?? null,
        diskUsedBytes: disk?.used ?? null,
        load: os.loadavg(),
      },
    ];
  };
}
