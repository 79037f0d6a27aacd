// The Proxmox provider against the simulator: create → ready latency (p50/p95)
// one at a time and 20 at once, with the simulator's own work times subtracted
// so the figure left is what the provider adds (polling granularity, API calls,
// the clone queue). Also API calls per session and destroy time. Prints figures;
// asserts nothing. Run: node --import tsx bench/proxmox-sim.ts
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/logger.ts';
import { createProxmoxProvider } from '../src/providers/proxmox/index.ts';
import type { CreateSpec } from '../src/core/provider-port.ts';
import { startProxmoxSim } from '../test/support/proxmox-sim/index.ts';

// Work times of the same order as a real node with a linked clone on LVM-thin (PROXMOX.md §7), scaled down 10×.
const timings = { cloneMs: 150, startMs: 100, dhcpMs: 300, desktopMs: 540 };
const inherent = timings.cloneMs + timings.startMs + Math.max(timings.dhcpMs, timings.desktopMs);

const sim = await startProxmoxSim({ timings });
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'winux-bench-px-'));
const env = sim.env({ WINUX_PROVIDER: 'proxmox', WINUX_DATA_DIR: dataDir });
delete env.proxmox_ssh_known_hosts;
const config = loadConfig(env);
const provider = createProxmoxProvider(config, silentLogger, { knownHostsFile: sim.knownHostsFile!, rdpPort: sim.cluster.rdpPort });

const spec = (id: number): CreateSpec => ({
  sessionId: `bench-${id}`,
  containerId: id,
  hostname: `winux-${id}`,
  username: 'winux',
  password: `bench-Secret-${id}`,
  memoryMb: 512,
  cores: 1,
  diskGb: 8,
  pidsMax: 1024,
});
const ctx = { signal: new AbortController().signal, progress: () => {} };
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const calls = () => [...sim.cluster.calls.values()].reduce((a, b) => a + b, 0);
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function timed(id: number): Promise<number> {
  const t = performance.now();
  await provider.create(spec(id), ctx);
  return performance.now() - t;
}

console.log(`simulated work per session: clone ${timings.cloneMs} ms + start ${timings.startMs} ms + desktop ${timings.desktopMs} ms = ${inherent} ms`);

const seq: number[] = [];
const before = calls();
for (let i = 0; i < 10; i++) seq.push(await timed(30001 + i));
const perSession = (calls() - before) / 10;
console.log(
  `one at a time (10): create→ready p50 ${fmt(pct(seq, 50))}, p95 ${fmt(pct(seq, 95))}; provider overhead p50 ${fmt(pct(seq, 50) - inherent)} (${((pct(seq, 50) / inherent - 1) * 100).toFixed(0)} % over the simulated work)`,
);
console.log(`API calls per session: ${perSession.toFixed(1)}`);

let t = performance.now();
for (let i = 0; i < 10; i++) await provider.destroy({ containerId: 30001 + i });
console.log(`destroy (stop + delete purge): ${fmt((performance.now() - t) / 10)} per session`);

t = performance.now();
const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => timed(30101 + i)));
const wall = performance.now() - t;
console.log(
  `20 at once from one template: p50 ${fmt(pct(burst, 50))}, p95 ${fmt(pct(burst, 95))}, all ready after ${fmt(wall)} (clones are serialised by PVE's template lock: 20 × ${timings.cloneMs} ms = ${fmt(20 * timings.cloneMs)} minimum)`,
);
await Promise.all(Array.from({ length: 20 }, (_, i) => provider.destroy({ containerId: 30101 + i })));
console.log(`rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (simulator and provider in one process)`);
await provider.close?.();
await sim.close();
rmSync(dataDir, { recursive: true, force: true });
