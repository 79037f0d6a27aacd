// Shared machinery for the hardening drills: a Winux server in a child process
// (so it can be SIGKILLed), and an audit from outside that process: the session
// rows read straight from the database and the fake provider's machine file.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { tempDir } from '../../support/server.ts';

const main = path.resolve(import.meta.dirname, 'drill-server-main.ts');
export const api = '/api/winux';

export interface DrillProcess {
  child: ChildProcess;
  url: string;
  adminToken: string;
  exited: Promise<number | null>;
}

export interface Drill {
  dir: string;
  /** The database the server uses (sqlite:… in the data dir unless a drill sets WINUX_DATABASE_URL). */
  dbUrl: string;
  env: Record<string, string>;
  start(extraEnv?: Record<string, string>): Promise<DrillProcess>;
}

export function newDrill(env: Record<string, string> = {}): Drill {
  const dir = tempDir('winux-drill-');
  const dbUrl = env.WINUX_DATABASE_URL ?? `sqlite:${path.join(dir, 'winux.db')}`;
  const log = path.join(dir, 'server.log');
  return {
    dir,
    dbUrl,
    env,
    async start(extraEnv = {}) {
      const out = fs.openSync(log, 'a');
      const child = spawn(process.execPath, ['--import', 'tsx', main], {
        env: {
          ...process.env,
          WINUX_DATA_DIR: dir,
          WINUX_HOST: '127.0.0.1',
          WINUX_PORT: '0',
          WINUX_LOG_LEVEL: 'warn',
          WINUX_SESSIONS_PER_VISITOR: '0',
          WINUX_CREATE_RATE_PER_MINUTE: '0',
          WINUX_SESSIONS_PER_ADDRESS: '0',
          WINUX_SWEEP_SECONDS: '1',
          WINUX_CREATE_TIMEOUT_SECONDS: '30',
          WINUX_DESTROY_TIMEOUT_SECONDS: '5',
          FAKE_STATE_FILE: path.join(dir, 'machines.json'),
          ...env,
          ...extraEnv,
        },
        stdio: ['ignore', 'pipe', out],
      });
      fs.closeSync(out);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const first = await new Promise<string>((resolve, reject) => {
        readline.createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', () => reject(new Error(`drill server exited before it served; log:\n${tail(log)}`)));
      });
      return { child, exited, ...JSON.parse(first) };
    },
  };
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function stop(p: DrillProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  await p.exited;
}

export async function sigkill(p: DrillProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGKILL');
  await p.exited;
}

/** The fake provider's machines, as the file says (what would be real containers). */
export function machines(dir: string): { containerId: number; state: string }[] {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'machines.json'), 'utf8'));
  } catch {
    return [];
  }
}

/** Changes the machine file from outside, as `lxc-stop` or a crash of the host would. */
export function editMachines(dir: string, edit: (list: { containerId: number; state: string }[]) => { containerId: number; state: string }[]): void {
  const file = path.join(dir, 'machines.json');
  const tmp = `${file}.drill.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(edit(machines(dir))));
  fs.renameSync(tmp, file);
}

export interface Row {
  id: string;
  status: string;
  container_id: number;
  holds_container: number;
  port: number | null;
  error: string | null;
  token_hash: string;
  password: string;
}

/** Every session row, read straight from the database (never through the server under test). */
export async function rows(dbUrl: string): Promise<Row[]> {
  if (dbUrl.startsWith('postgres')) {
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      const r = await client.query('SELECT * FROM sessions ORDER BY id');
      return r.rows.map((x) => ({
        ...x,
        container_id: Number(x.container_id),
        holds_container: Number(x.holds_container),
        port: x.port === null ? null : Number(x.port),
      }));
    } finally {
      await client.end();
    }
  }
  const file = dbUrl.replace(/^sqlite:/, '');
  if (!fs.existsSync(file)) return [];
  const db = new SQLite(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.prepare('SELECT * FROM sessions ORDER BY id').all() as Row[];
  } finally {
    db.close();
  }
}

export function integrityCheck(dbUrl: string): string {
  const db = new SQLite(dbUrl.replace(/^sqlite:/, ''), { readonly: true, fileMustExist: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

/** A session nobody will ever move on: building, ending, or failed while still holding a container. */
export function isUnsettled(r: Row): boolean {
  return r.status === 'creating' || r.status === 'destroying' || (r.status === 'failed' && r.holds_container === 1);
}

/**
 * Waits until no session is in flight and the machines are exactly those of ready
 * sessions. Returns the rows, or throws with what is still wrong.
 */
export async function waitSettled(drill: Drill, timeoutMs = 60_000): Promise<Row[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await rows(drill.dbUrl);
    const problems = consistencyProblems(all, machines(drill.dir));
    if (!problems.length) return all;
    if (Date.now() > deadline) throw new Error(`not settled after ${timeoutMs} ms:\n  ${problems.slice(0, 10).join('\n  ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function consistencyProblems(all: Row[], ms: { containerId: number; state: string }[]): string[] {
  const problems = all.filter(isUnsettled).map((r) => `stuck: ${r.id} ${r.status} holds=${r.holds_container}`);
  const ready = new Set(all.filter((r) => r.status === 'ready').map((r) => r.container_id));
  for (const m of ms) if (!ready.has(m.containerId)) problems.push(`leaked: machine ${m.containerId} (${m.state}) has no ready session`);
  for (const id of ready) if (!ms.some((m) => m.containerId === id)) problems.push(`ready session without a machine: ${id}`);
  const held = all.filter((r) => r.holds_container === 1).map((r) => r.container_id);
  if (new Set(held).size !== held.length) problems.push('a container id is held twice');
  return problems;
}

export interface FinalAudit {
  leaked: number;
  stuck: number;
  sessions: number;
}

/**
 * The drills' last word: the admin ends every session still live, and once things
 * settle, the number of containers left behind and of sessions left in flight.
 */
export async function endEverything(drill: Drill, p: DrillProcess, timeoutMs = 90_000): Promise<FinalAudit> {
  const deadline = Date.now() + timeoutMs;
  for (const r of await rows(drill.dbUrl)) {
    if (r.status === 'ready' || r.status === 'creating') {
      await fetch(`${p.url}${api}/sessions/${r.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${p.adminToken}` } });
    }
  }
  for (;;) {
    const all = await rows(drill.dbUrl);
    const stuck = all.filter((r) => r.status !== 'destroyed' && !(r.status === 'failed' && r.holds_container === 0)).length;
    const leaked = machines(drill.dir).length;
    if ((stuck === 0 && leaked === 0) || Date.now() > deadline) return { leaked, stuck, sessions: all.length };
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Drills record their figures here; bench/hardening-report.ts prints them. */
export function recordFigures(name: string, figures: Record<string, number | string>): void {
  const dir = path.resolve(import.meta.dirname, '../../../test-output/hardening');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify({ name, at: new Date().toISOString(), ...figures }, null, 2)}\n`);
}

export async function json(p: DrillProcess, method: string, urlPath: string, o: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(p.url + urlPath, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, body, headers: res.headers };
}
