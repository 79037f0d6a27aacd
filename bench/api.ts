// API throughput and latency with 1,000 sessions stored, measured with autocannon
// on loopback; plus the reaper's work per tick, which must not grow with
// sessions that are not due. Prints figures; asserts nothing.
//   node --import tsx bench/api.ts
import autocannon from 'autocannon';
import { ManualClock } from '../test/support/clock.ts';
import { FakeProvider } from '../test/support/fake-provider.ts';
import { startTestServer } from '../test/support/server.ts';

export interface ApiFigures {
  [route: string]: { requestsPerSecond: number; p50: number; p99: number; errors: number };
}

async function measure(url: string, headers: Record<string, string>, seconds: number) {
  const result = await autocannon({ url, headers, connections: 10, duration: seconds });
  return { requestsPerSecond: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx };
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
    api['GET /sessions/{id} (owner)'] = await measure(`${base}/sessions/${last!.session_id}`, { authorization: `Bearer ${last!.token}` }, seconds);
    api['GET /sessions (visitor: own)'] = await measure(`${base}/sessions`, { authorization: `Bearer ${last!.token}` }, seconds);
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
  console.log('API on loopback, 1,000 sessions stored (autocannon, 10 connections):');
  console.table(api);
  console.table(reaper);
}
