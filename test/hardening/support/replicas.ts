// Several Winux replicas as real processes (`node bin/winux.js serve`) on one real
// PostgreSQL, behind real nginx balancing them, with the Proxmox simulator (in this
// process, on loopback) as their provider: what test/hardening/drill-replicas.test.ts
// and bench/replicas.ts drive. Each replica has its own data dir holding the same
// secret.key, and the same WINUX_ADMIN_TOKEN, as README "Several replicas" says.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, request, startNginx, type Answer, type Proxy as FrontProxy } from '../../deploy/proxies.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { tempDir } from '../../support/server.ts';
import { rows, type Row } from './drill.ts';
import { startRestartablePostgres, type RestartablePostgres } from './postgres-outage.ts';

const bin = path.resolve(import.meta.dirname, '../../../bin/winux.js');
/** Each replica's log is kept here after the run (test-output/ is not committed), one dir per run. */
const logDir = path.resolve(import.meta.dirname, '../../../test-output/replicas', `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
export const api = '/api/winux';
/** Container ids of this file's sessions (no other test uses 34101–34199). */
export const idRange = { min: 34101, max: 34199 };

export interface Replica {
  index: number;
  port: number;
  dir: string;
  child?: ChildProcess;
  exited?: Promise<void>;
  /** Started and answering (false from a kill or SIGTERM until it serves again). */
  up: boolean;
}

export interface ReplicaSet {
  sim: ProxmoxSim;
  pg: RestartablePostgres;
  proxy: FrontProxy;
  replicas: Replica[];
  adminToken: string;
  /** Starts replica `i` (again) and waits until it answers. */
  start(i: number): Promise<void>;
  /** `kill -9`: no drain, no hand-over. */
  kill(i: number): Promise<void>;
  /** SIGTERM: the replica drains and exits by itself. */
  terminate(i: number): Promise<void>;
  /** One request through nginx, as the admin unless `token` is given; a connection error is status 0. */
  call(method: string, urlPath: string, o?: { body?: unknown; token?: string | null }): Promise<Answer>;
  rows(): Promise<Row[]>;
  /** The simulator's session containers (the template left out). */
  machines(): { vmid: number; session: string | undefined; status: string }[];
  logs(): string;
  close(): Promise<void>;
}

export interface ReplicaSetOptions {
  replicas?: number;
  /** WINUX_LEASE_SECONDS: how long a dead replica's work waits before another takes it over. */
  leaseSeconds?: number;
}

export async function startReplicaSet(o: ReplicaSetOptions = {}): Promise<ReplicaSet> {
  const count = o.replicas ?? 3;
  // A desktop takes a couple of seconds, so kills land in the middle of creations and removals.
  const sim = await startProxmoxSim({ timings: { cloneMs: 400, startMs: 300, dhcpMs: 600, desktopMs: 900, destroyMs: 400, stopMs: 200 } });
  const pg = await startRestartablePostgres();
  const adminToken = randomBytes(24).toString('base64url');
  const secretKey = `${randomBytes(32).toString('base64')}\n`;
  const replicas: Replica[] = [];
  fs.mkdirSync(logDir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const dir = tempDir(`winux-replica-${i}-`);
    // The same key in every data dir: a password sealed by one replica is opened by another.
    fs.writeFileSync(path.join(dir, 'secret.key'), secretKey, { mode: 0o600 });
    // The simulator's SSH host key, pinned as a first connection would pin it.
    if (sim.knownHostsFile) fs.copyFileSync(sim.knownHostsFile, path.join(dir, 'proxmox_known_hosts'));
    replicas.push({ index: i, port: await freePort(), dir, up: false });
  }
  const env = sim.env({
    WINUX_PROVIDER: 'proxmox',
    WINUX_DATABASE_URL: pg.url,
    WINUX_ADMIN_TOKEN: adminToken,
    WINUX_HOST: '127.0.0.1',
    WINUX_LOG_LEVEL: 'info',
    WINUX_LEASE_SECONDS: String(o.leaseSeconds ?? 5),
    WINUX_SWEEP_SECONDS: '1',
    WINUX_SESSIONS_PER_VISITOR: '0',
    WINUX_SESSIONS_PER_ADDRESS: '0',
    WINUX_CREATE_RATE_PER_MINUTE: '0',
    WINUX_CONTAINER_ID_MIN: String(idRange.min),
    WINUX_CONTAINER_ID_MAX: String(idRange.max),
    WINUX_CREATE_TIMEOUT_SECONDS: '120',
    WINUX_DESTROY_TIMEOUT_SECONDS: '30',
    WINUX_MEMORY_MB: '512',
  });
  delete env.proxmox_ssh_known_hosts;

  const start = async (i: number) => {
    const r = replicas[i]!;
    const out = fs.openSync(logFile(r), 'a');
    const child = spawn(process.execPath, [bin, 'serve'], {
      env: { ...process.env, ...env, WINUX_DATA_DIR: r.dir, WINUX_PORT: String(r.port) },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    r.child = child;
    r.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        fs.appendFileSync(logFile(r), `--- exited: ${signal ?? code}\n`);
        resolve();
      }),
    );
    // Generous: on a machine shared with other test runs a start-up (tsx, migrations) can take half a minute.
    const deadline = Date.now() + 180_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`replica ${i} exited (${child.exitCode}):\n${tail(r)}`);
      const ok = await fetch(`http://127.0.0.1:${r.port}${api}/health`).then(
        (res) => res.status > 0,
        () => false,
      );
      if (ok) {
        r.up = true;
        return;
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`replica ${i} did not serve within 180 s:\n${tail(r)}`);
      }
      await sleep(100);
    }
  };
  const stopWith = async (i: number, signal: NodeJS.Signals) => {
    const r = replicas[i]!;
    r.up = false;
    if (!r.child || r.child.exitCode !== null || r.child.signalCode !== null) return;
    r.child.kill(signal);
    await r.exited;
  };

  for (let i = 0; i < count; i++) await start(i);
  const proxy = await startNginx(replicas.map((r) => `127.0.0.1:${r.port}`));
  const tagPrefix = 'winux-session-';
  return {
    sim,
    pg,
    proxy,
    replicas,
    adminToken,
    start,
    kill: (i) => stopWith(i, 'SIGKILL'),
    terminate: (i) => stopWith(i, 'SIGTERM'),
    async call(method, urlPath, c = {}) {
      const token = c.token === undefined ? adminToken : c.token;
      try {
        return await request(proxy, method, urlPath, { body: c.body, headers: token ? { authorization: `Bearer ${token}` } : {} });
      } catch (error) {
        return { status: 0, headers: {}, text: String(error), json: undefined };
      }
    },
    rows: () => rows(pg.url),
    machines() {
      return [...sim.cluster.cts.values()]
        .filter((ct) => ct.vmid >= idRange.min && ct.vmid <= idRange.max)
        .map((ct) => ({
          vmid: ct.vmid,
          status: ct.status,
          session: String(ct.config.tags ?? '')
            .split(';')
            .find((t) => t.startsWith(tagPrefix))
            ?.slice(tagPrefix.length),
        }));
    },
    logs: () => replicas.map((r) => `--- replica ${r.index}\n${tail(r)}`).join('\n'),
    async close() {
      for (let i = 0; i < count; i++) await stopWith(i, 'SIGKILL');
      // Kept with the replicas' logs: why nginx answered what it answered.
      fs.writeFileSync(path.join(logDir, 'nginx-error.log'), proxy.log());
      await proxy.stop();
      pg.remove();
      await sim.close();
      for (const r of replicas) fs.rmSync(r.dir, { recursive: true, force: true });
    },
  };
}

function logFile(r: Replica): string {
  return path.join(logDir, `replica-${r.index}.log`);
}

function tail(r: Replica): string {
  try {
    return fs.readFileSync(logFile(r), 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Watches the simulator while a drill runs: a session whose tag is ever on two containers
 * at once, or on two different container ids over the run, was created twice.
 */
export function watchDoubles(set: ReplicaSet): { stop(): number } {
  const vmidsBySession = new Map<string, Set<number>>();
  const twiceAtOnce = new Set<string>();
  const look = () => {
    const seen = new Map<string, number>();
    for (const m of set.machines()) {
      if (!m.session) continue;
      seen.set(m.session, (seen.get(m.session) ?? 0) + 1);
      vmidsBySession.set(m.session, (vmidsBySession.get(m.session) ?? new Set()).add(m.vmid));
    }
    for (const [s, n] of seen) if (n > 1) twiceAtOnce.add(s);
  };
  const timer = setInterval(look, 25);
  return {
    stop() {
      clearInterval(timer);
      look();
      const doubled = new Set(twiceAtOnce);
      for (const [s, ids] of vmidsBySession) if (ids.size > 1) doubled.add(s);
      return doubled.size;
    },
  };
}

/** A session nobody will move on any more: still building, still ending, or failed holding a machine. */
export function unsettled(r: Row): boolean {
  return r.status === 'creating' || r.status === 'destroying' || (r.status === 'failed' && r.holds_container === 1);
}

/**
 * Waits until no session is in flight and the simulator's containers are exactly the
 * ready sessions'. Returns how long it took, and what is still wrong when it gives up.
 */
export async function settle(set: ReplicaSet, timeoutMs = 90_000): Promise<{ ms: number; stuck: number; leaked: number; problems: string[] }> {
  const started = Date.now();
  for (;;) {
    const all = await set.rows().catch(() => undefined);
    if (all) {
      const ready = new Map(all.filter((r) => r.status === 'ready').map((r) => [r.container_id, r.id]));
      const stuck = all.filter(unsettled);
      const machines = set.machines();
      const leaked = machines.filter((m) => ready.get(m.vmid) !== m.session);
      const missing = [...ready.keys()].filter((id) => !machines.some((m) => m.vmid === id));
      const problems = [
        ...stuck.map((r) => `stuck: ${r.id} ${r.status} holds=${r.holds_container}`),
        ...leaked.map((m) => `leaked: CT ${m.vmid} (${m.status}, session ${m.session ?? '?'})`),
        ...missing.map((id) => `ready without a CT: ${id}`),
      ];
      if (!problems.length || Date.now() - started > timeoutMs) {
        return { ms: Date.now() - started, stuck: stuck.length, leaked: leaked.length, problems };
      }
    }
    await sleep(200);
  }
}

/** Creates a session through the proxy; the session id on 202, undefined on any other answer. */
export async function createOne(set: ReplicaSet): Promise<{ status: number; id?: string }> {
  const r = await set.call('POST', `${api}/sessions`, { body: { duration_minutes: 60 }, token: null });
  return { status: r.status, id: r.status === 202 ? r.json?.session_id : undefined };
}

/** Ends a session through the proxy, asking again on a connection error or a 502 (DELETE is idempotent). */
export async function removeOne(set: ReplicaSet, id: string): Promise<{ status: number; attempts: number }> {
  // nginx keeps an upstream that failed out for its fail_timeout (10 s): right after
  // kills of two replicas in a row it may, for a few seconds, have none left to try
  // and answer 502 although one serves. A client asks again; so does this one, for 30 s.
  const deadline = Date.now() + 30_000;
  for (let attempt = 1; ; attempt++) {
    const r = await set.call('DELETE', `${api}/sessions/${id}`);
    if ((r.status === 0 || r.status === 502 || r.status === 503) && Date.now() < deadline) {
      await sleep(250);
      continue;
    }
    return { status: r.status, attempts: attempt };
  }
}
