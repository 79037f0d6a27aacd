// API throughput and latency with 1,000 sessions stored, measured with autocannon
// on loopback; plus the reaper's work per tick, which must not grow with
// sessions that are not due. Prints figures; asserts nothing.
//   node --import tsx bench/api.ts
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { ManualClock } from '../test/support/clock.ts';
import { FakeProvider } from '../test/support/fake-provider.ts';
import { startTestServer } from '../test/support/server.ts';

export interface ApiFigures {
  [route: string]: { connections: number; requestsPerSecond: number; p50: number; p99: number; errors: number };
}

// autocannon runs in its own process, so the load generator does not share the
// server's event loop (in-process, it roughly doubled the measured latency).
const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

export async function measure(url: string, headers: Record<string, string>, seconds: number, connections = 1) {
  const args = [autocannonBin, '--json', '-c', String(connections), '-d', String(seconds)];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  const { stdout } = await promisify(execFile)(process.execPath, [...args, url], { maxBuffer: 1 << 24 });
  const result = JSON.parse(stdout);
  return {
    connections,
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

export async function runApiBench(options: { sessions?: number; seconds?: number } = {}): Promise<{ api: ApiFigures; reaper: Record<string, number> }> {
  const total = options.sessions ?? 1000;
  const seconds = options.seconds ?? 5;
  const clock = new ManualClock(Date.now());
  const s = await startTestServer({
    provider: new FakeProvider({ stepDelayMs: 0 }),
    clock,
    reaper: false,
    env: { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_MAX_SESSIONS: String(total + 10), WINUX_CONTAINER_ID_MAX: String(30001 + total + 10) },
  });
  try {
    let last: { session_id: string; token: string } | undefined;
    for (let i = 0; i < total; i++) {
      const r = await s.request('POST', '/api/winux/sessions', { body: { duration_minutes: 60 + (i % 120) } });
      last = r.body;
    }
    await s.service.idle();
    const base = `${s.url}/api/winux`;
    const api: ApiFigures = {};
    const owner = { authorization: `Bearer ${last!.token}` };
    api['GET /sessions/{id} (owner)'] = await measure(`${base}/sessions/${last!.session_id}`, owner, seconds);
    api['GET /sessions/{id} (owner), 10 connections'] = await measure(`${base}/sessions/${last!.session_id}`, owner, seconds, 10);
    api['GET /sessions (visitor: own)'] = await measure(`${base}/sessions`, owner, seconds);
    api['GET /sessions?limit=50 (admin)'] = await measure(`${base}/sessions?limit=50`, { authorization: `Bearer ${s.adminToken}` }, seconds);
    api['GET /health'] = await measure(`${base}/health`, {}, seconds);

    // The reaper's pass with nothing due: its queries are indexed and bounded.
    const reaper: Record<string, number> = {};
    for (const n of [10, 100]) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await s.reaper.runOnce({ reconcile: false });
      reaper[`ms per reaper pass, ${total} sessions, none due (mean of ${n})`] = Number(process.hrtime.bigint() - started) / 1e6 / n;
    }
    return { api, reaper };
  } finally {
    await s.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { api, reaper } = await runApiBench();
  console.log('API on loopback, 1,000 sessions stored (autocannon in its own process; latency in ms):');
  console.table(api);
  console.table(reaper);
}
