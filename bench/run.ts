// Every benchmark in one command, one after another (they share the machine):
//   npm run bench            (node --import tsx bench/run.ts)
//   npm run bench -- api lxc (only those whose file name contains a word)
// Each prints its own figures; the whole output is also kept in
// bench/output/latest.txt. Nothing here asserts a timing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const suites: { file: string; args: string[]; what: string }[] = [
  { file: 'api.ts', args: [], what: 'API throughput and latency with 1,000 sessions; reaper pass cost' },
  {
    file: 'lxc-startup.ts',
    args: ['--sessions', '10'],
    what: "local LXC: click → ready and → first RDP login, cold and warm; memory; template size; the seed's method and the ratio",
  },
  { file: 'lxc-phases.ts', args: ['--sessions', '5'], what: "local LXC: where the cold path's time goes, phase by phase" },
  { file: 'first-start.ts', args: ['--runs', '5'], what: 'local LXC: what the first-desktop check adds to a first start, and that later starts skip it' },
  {
    file: 'browser-desktop.ts',
    args: ['--runs', '3'],
    what: 'local LXC: click → desktop in Chromium and on an RDP client, cold and warm; keystroke → update; idle bytes; memory',
  },
  {
    file: 'desktop-phases.ts',
    args: ['--runs', '1'],
    what: 'local LXC: where click → desktop goes, as timelines (page, server, container processes, RDP client)',
  },
  { file: 'proxmox-sim.ts', args: [], what: 'the Proxmox provider against the simulator (protocol overhead)' },
  {
    file: 'proxmox-scale.ts',
    args: ['--sessions', '100,300,1000', '--replicas', '1'],
    what: '10 simulated Proxmox nodes up to 1,000 live sessions: API calls and time per reaper/reconciler pass, API p50/p99, memory, placement spread',
  },
  { file: 'replicas.ts', args: [], what: '3 replicas on one PostgreSQL behind nginx: kill -9, rolling restart, PostgreSQL restart, cross-replica events' },
  { file: 'web-page.ts', args: [], what: 'the page: first-load size and timings in Chromium' },
  { file: 'hardening-report.ts', args: [], what: 'hardening drills and fuzzing: hostile requests, kills survived, leaks, stuck sessions' },
];

const wanted = process.argv.slice(2);
const chosen = suites.filter((s) => fs.existsSync(path.join(here, s.file)) && (!wanted.length || wanted.some((w) => s.file.includes(w))));
fs.mkdirSync(path.join(here, 'output'), { recursive: true });
const log = fs.createWriteStream(path.join(here, 'output', 'latest.txt'));
const say = (text: string) => {
  process.stdout.write(text);
  log.write(text);
};

say(`Winux benchmarks, ${new Date().toISOString()}, node ${process.version}\n`);
for (const suite of chosen) {
  say(`\n=== ${suite.file}: ${suite.what}\n`);
  const started = Date.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, suite.file), ...suite.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => say(d.toString()));
    child.stderr.on('data', (d) => say(d.toString()));
    child.on('exit', resolve);
  });
  say(`=== ${suite.file} finished in ${((Date.now() - started) / 1000).toFixed(0)} s${code ? ` (exit ${code})` : ''}\n`);
}
log.end();
