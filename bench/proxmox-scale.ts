// Winux at a Proxmox cluster's scale, on the simulator: 10 nodes of different
// sizes, sessions created through the real Winux API (POST /sessions) up to each
// step of the curve (100 / 300 / 1,000 live sessions by default). At each step:
// Proxmox API calls and wall time of one reaper pass and one reconciler pass (the
// simulator counts calls per route), GET /sessions/{id} p50/p99 under load
// (autocannon in its own process while reconciler passes run), POST /sessions
// p50/p99 while `--batch` creations were in flight, the memory of each Winux
// process, and how evenly the sessions were placed by free memory.
// Prints figures; asserts nothing.
//   node --import tsx bench/proxmox-scale.ts [--sessions 100,300,1000] [--replicas 1] [--speed 10] [--batch 40] [--seconds 5]
// Winux runs in its own process(es) (test/providers/proxmox/server-main.ts), the
// simulator in this one. With --replicas N > 1 the replicas share a throwaway
// PostgreSQL and the load is spread over them; see the warning printed then.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { startTempPostgres, type TempPostgres } from '../test/support/postgres.ts';
import { tempDir } from '../test/support/server.ts';
import { startProxmoxSim, type ProxmoxSim } from '../test/support/proxmox-sim/index.ts';
import { fastTuning } from '../test/providers/proxmox/sim-config.ts';
import { measure } from './api.ts';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '100,300,1000' },
    replicas: { type: 'string', default: '1' },
    speed: { type: 'string', default: '10' },
    batch: { type: 'string', default: '40' },
    seconds: { type: 'string', default: '5' },
  },
});
const steps = args.sessions.split(',').map(Number);
const replicaCount = Number(args.replicas);
const speed = Number(args.speed);
const batch = Number(args.batch);
const seconds = Number(args.seconds);
const total = Math.max(...steps);
const GiB = 1024 ** 3;
const api = '/api/winux';

// Ten nodes, two sizes and different base loads, so "balanced" means equal free memory, not equal counts.
const nodes = Array.from({ length: 10 }, (_, i) => ({ name: `pve${i + 1}`, maxmem: (i % 2 ? 160 : 192) * GiB, mem: (4 + 3 * i) * GiB }));

interface Replica {
  child: ChildProcess;
  url: string;
  ask(msg: Record<string, unknown>): Promise<any>;
}

interface Live {
  id: string;
  token: string;
  replica: Replica;
}

const percentile = (xs: number[], p: number) => {
  if (!xs.length) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const median = (xs: number[]) => percentile(xs, 50);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startReplica(sim: ProxmoxSim, env: Record<string, string>): Promise<Replica> {
  const child = fork(path.join(import.meta.dirname, '../test/providers/proxmox/server-main.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env, WINUX_TEST_REAPER: '0', WINUX_TEST_PROXMOX_TUNING: JSON.stringify(fastTuning(sim, { pollMs: 50 })) },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const first = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', () => reject(new Error('a Winux replica exited before serving')));
  });
  const pending = new Map<number, (answer: any) => void>();
  let next = 0;
  child.on('message', (m: { id: number }) => {
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  return {
    child,
    url: JSON.parse(first).url,
    ask(msg) {
      const id = next++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        child.send({ id, ...msg });
      });
    },
  };
}

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

/** Creates sessions through the API until `target` are live, `batch` creations in flight at a time. Returns the POST latencies. */
async function rampTo(target: number, live: Live[], replicas: Replica[], failures: string[]): Promise<number[]> {
  const latencies: number[] = [];
  let next = live.length;
  const worker = async () => {
    while (next < target) {
      const replica = replicas[next++ % replicas.length]!;
      const started = performance.now();
      const r = await json(`${replica.url}${api}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      latencies.push(performance.now() - started);
      if (r.status !== 202) {
        failures.push(`POST ${r.status} ${r.body.error}`);
        continue;
      }
      const s: Live = { id: r.body.session_id, token: r.body.token, replica };
      for (;;) {
        await sleep(500);
        const g = await json(`${replica.url}${api}/sessions/${s.id}`, { headers: { authorization: `Bearer ${s.token}` } });
        if (g.body.status === 'ready') break;
        if (g.body.status !== 'creating') {
          failures.push(`${s.id}: ${g.body.status} ${g.body.error ?? ''}`);
          break;
        }
      }
      live.push(s);
    }
  };
  await Promise.all(Array.from({ length: batch }, worker));
  return latencies;
}

/** One pass on the first replica, with the Proxmox API calls it made (nothing else calls meanwhile). */
async function pass(sim: ProxmoxSim, replica: Replica, kind: 'reaper' | 'reconcile') {
  const before = new Map(sim.cluster.calls);
  const answer = await replica.ask({ pass: kind });
  const calls = sim.cluster.callsSince(before);
  return { ms: answer.ms as number, calls: Object.values(calls).reduce((a, b) => a + b, 0), routes: calls };
}

function placement(sim: ProxmoxSim) {
  const rows = [...sim.cluster.nodes.values()].map((n) => {
    const sessions = [...sim.cluster.cts.values()].filter((ct) => ct.node === n.name && !ct.config.template).length;
    return { node: n.name, sessions, freeGiB: (n.maxmem - sim.cluster.nodeMem(n)) / GiB };
  });
  const free = rows.map((r) => r.freeGiB);
  const mean = free.reduce((a, b) => a + b, 0) / free.length;
  return { rows, mean, worst: Math.max(...free.map((f) => Math.abs(f - mean))) / mean, spread: (Math.max(...free) - Math.min(...free)) / mean };
}

const sim = await startProxmoxSim({ nodes, speed, statsIntervalMs: 10_000 });
let pg: TempPostgres | undefined;
const replicas: Replica[] = [];
try {
  const dataDir = tempDir('winux-bench-scale-');
  const env = sim.env({
    WINUX_PROVIDER: 'proxmox',
    WINUX_DATA_DIR: dataDir,
    WINUX_HOST: '127.0.0.1',
    WINUX_PORT: '0',
    WINUX_LOG_LEVEL: 'error',
    WINUX_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    WINUX_SESSION_MINUTES: '240',
    WINUX_SESSIONS_PER_VISITOR: '0',
    WINUX_SESSIONS_PER_ADDRESS: '0',
    WINUX_CREATE_RATE_PER_MINUTE: '0',
    WINUX_CONTAINER_ID_MIN: '30001',
    WINUX_CONTAINER_ID_MAX: String(30000 + total + 50),
    proxmox_node: 'auto',
  });
  delete env.proxmox_ssh_known_hosts;
  if (replicaCount > 1) {
    // Each replica serves POSTs and GETs (spread over them); the reaper and reconciler
    // passes measured are the first replica's, asked over IPC, whoever leads.
    console.log(`${replicaCount} replicas on one PostgreSQL (leases, shared budgets, LISTEN/NOTIFY)`);
    pg = await startTempPostgres();
    env.WINUX_DATABASE_URL = pg.url;
  }
  // One after another: the first creates the data dir's secret key that the others then read.
  for (let i = 0; i < replicaCount; i++) replicas.push(await startReplica(sim, env));
  console.log(
    `simulator: 10 nodes (${nodes.map((n) => `${n.maxmem / GiB}/${n.mem / GiB}`).join(' ')} GiB total/base), ${speed}× faster, node figures pushed every ${10 / speed} s; ${replicaCount} Winux process(es); ${batch} creations in flight during the ramp`,
  );

  const live: Live[] = [];
  const failures: string[] = [];
  const rows: Record<string, Record<string, string | number>> = {};
  const routeRows: Record<string, Record<string, number>> = {};
  const spreadRows: Record<string, Record<string, string | number>> = {};
  for (const target of steps) {
    const rampStarted = performance.now();
    const posts = await rampTo(target, live, replicas, failures);
    const rampS = (performance.now() - rampStarted) / 1000;
    // Let the node figures catch up, as they would between two passes on a real cluster.
    await sleep((2 * 10_000) / speed);
    const reaper = [await pass(sim, replicas[0]!, 'reaper'), await pass(sim, replicas[0]!, 'reaper'), await pass(sim, replicas[0]!, 'reaper')];
    const reconcile = [await pass(sim, replicas[0]!, 'reconcile'), await pass(sim, replicas[0]!, 'reconcile'), await pass(sim, replicas[0]!, 'reconcile')];
    // GET under load: autocannon per replica (10 connections in all) while the first replica reconciles again and again.
    let loading = true;
    const underLoad = (async () => {
      let n = 0;
      while (loading) {
        await replicas[0]!.ask({ pass: 'reconcile' });
        n++;
      }
      return n;
    })();
    const gets = await Promise.all(
      replicas.map((r, i) => {
        const s = live.find((l) => l.replica === r) ?? live[i]!;
        return measure(`${r.url}${api}/sessions/${s.id}`, { authorization: `Bearer ${s.token}` }, seconds, Math.max(1, Math.round(10 / replicas.length)));
      }),
    );
    loading = false;
    const passesDuringGet = await underLoad;
    const memory = await Promise.all(replicas.map((r) => r.ask({ memory: true })));
    const place = placement(sim);
    rows[`${live.length} live`] = {
      'reaper pass: API calls': reaper[0]!.calls,
      'reaper pass ms (median of 3)': Number(median(reaper.map((p) => p.ms)).toFixed(1)),
      'reconciler pass: API calls': reconcile[0]!.calls,
      'reconciler pass ms (median of 3)': Number(median(reconcile.map((p) => p.ms)).toFixed(1)),
      'GET /sessions/{id} p50 ms': Math.max(...gets.map((g) => g.p50)),
      'GET p99 ms': Math.max(...gets.map((g) => g.p99)),
      'GET req/s': gets.reduce((a, g) => a + g.requestsPerSecond, 0),
      'reconciles during GET': passesDuringGet,
      'POST /sessions p50 ms': Number(percentile(posts, 50).toFixed(1)),
      'POST p99 ms': Number(percentile(posts, 99).toFixed(1)),
      'ramp s': Number(rampS.toFixed(1)),
      'Winux RSS MiB': memory.map((m) => (m.rss / 2 ** 20).toFixed(0)).join(' / '),
      'free-memory spread %': Number((place.spread * 100).toFixed(1)),
    };
    routeRows[`${live.length} live`] = { ...Object.fromEntries(Object.entries(reconcile[0]!.routes).map(([k, v]) => [`reconcile: ${k}`, v])) };
    spreadRows[`${live.length} live`] = Object.fromEntries(place.rows.map((r) => [r.node, `${r.sessions} / ${r.freeGiB.toFixed(0)} GiB`]));
    console.log(
      `${live.length} live (ramp ${rampS.toFixed(1)} s): worst node ${(place.worst * 100).toFixed(1)} % from the mean free memory (${place.mean.toFixed(1)} GiB), ${failures.length} failure(s) so far`,
    );
  }
  console.log('\nPer step (passes run on the first Winux process; calls counted by the simulator):');
  console.table(rows);
  console.log('Routes one reconciler pass called:');
  console.table(routeRows);
  console.log('Placement: sessions / free memory per node');
  console.table(spreadRows);
  if (failures.length) console.log(`failures: ${failures.length}, first: ${failures.slice(0, 5).join('; ')}`);
} finally {
  for (const r of replicas) {
    r.child.kill('SIGTERM');
    await new Promise((resolve) => (r.child.exitCode !== null ? resolve(null) : r.child.once('exit', resolve)));
  }
  await sim.close();
  pg?.stop();
}
