// GET /metrics: the series the issue names (failure series before any failure),
// readable with the admin token or WINUX_METRICS_TOKEN only; a real Prometheus
// (Debian's) scrapes Winux on loopback and answers queries through its HTTP API;
// promtool accepts the shipped alert rules.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FailingProvider } from '../support/fake-provider.ts';
import { startTestServer, tempDir, waitFor, type TestServer } from '../support/server.ts';

const api = '/api/winux';
const metricsToken = 'scraper-token-0123456789';
const root = path.resolve(import.meta.dirname, '../..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('metrics', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: { WINUX_SESSIONS_PER_VISITOR: '1', WINUX_METRICS_TOKEN: metricsToken, WINUX_MAX_SESSIONS: '5' } });
  });
  after(async () => {
    await s.close();
  });

  test('the admin token and WINUX_METRICS_TOKEN read them; a session token or nothing does not', async () => {
    const created = await s.request('POST', `${api}/sessions`, {});
    assert.equal((await s.request('GET', `${api}/metrics`)).status, 401);
    assert.equal((await s.request('GET', `${api}/metrics`, { token: created.body.token })).status, 403);
    assert.equal((await s.request('GET', `${api}/metrics`, { token: 'wrong-token-0123456789' })).status, 403);
    const byScraper = await s.request('GET', `${api}/metrics`, { token: metricsToken });
    assert.equal(byScraper.status, 200);
    assert.match(byScraper.headers.get('content-type') ?? '', /text\/plain/);
    assert.equal((await s.request('GET', `${api}/metrics`, { token: s.adminToken })).status, 200);
    // The scraper's token is not an admin's.
    assert.equal((await s.request('GET', `${api}/sessions`, { token: metricsToken })).status, 200);
    assert.equal((await s.request('GET', `${api}/admin/overview`, { token: metricsToken })).status, 403);
    await s.request('DELETE', `${api}/sessions/${created.body.session_id}`, { token: created.body.token });
  });

  test('the named series, with failure series at 0 before any failure; a start, a refusal and requests are counted', async () => {
    const first = await s.request('GET', `${api}/metrics`, { token: metricsToken });
    const text = first.body as string;
    assert.equal(sample(text, 'winux_session_start_duration_seconds_count{status="failure",provider="fake"}'), 0);
    assert.equal(sample(text, 'winux_session_stop_duration_seconds_count{status="failure"}'), 0);
    assert.equal(sample(text, 'winux_provider_errors_total{operation="create",code="error"}'), 0);
    for (const reason of ['visitor_limit', 'capacity', 'rate_limited', 'address_blocked']) {
      assert.equal(sample(text, `winux_visitors_refused_total{reason="${reason}"}`), 0, reason);
    }
    assert.equal(sample(text, 'winux_capacity_sessions'), 5);
    for (const name of ['winux_sessions{status="ready"}', 'winux_pool_members{state="ready"}', 'winux_sessions_in_use']) {
      assert.notEqual(sample(text, name), undefined, name);
    }
    assert.match(text, /^winux_reconcile_duration_seconds_count \d+/m);
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    // Buckets resolve 0.1–30 s.
    for (const le of ['0.1', '0.5', '1', '5', '10', '30']) assert.match(text, new RegExp(`winux_session_start_duration_seconds_bucket\\{le="${le}"`));

    const before = sample(text, 'winux_session_start_duration_seconds_count{status="success",provider="fake"}') ?? 0;
    const a = await s.request('POST', `${api}/sessions`, {});
    await waitFor(async () => (await s.store.get(a.body.session_id))?.status === 'ready');
    const refused = await s.request('POST', `${api}/sessions`, {});
    assert.equal(refused.status, 429);
    const later = (await s.request('GET', `${api}/metrics`, { token: metricsToken })).body as string;
    assert.equal(sample(later, 'winux_session_start_duration_seconds_count{status="success",provider="fake"}'), before + 1);
    assert.equal(sample(later, 'winux_visitors_refused_total{reason="visitor_limit"}'), 1);
    assert.equal(sample(later, 'winux_sessions{status="ready"}'), 1);
    // The route's pattern, never the id: no series per session.
    assert.match(later, /winux_request_duration_seconds_count\{method="POST",route="\/api\/winux\/sessions",code="202"\} \d+/);
    assert.ok(!later.includes(a.body.session_id), 'no session id in any label');
    await s.request('DELETE', `${api}/sessions/${a.body.session_id}`, { token: a.body.token });
    await s.service.idle();
    const ended = (await s.request('GET', `${api}/metrics`, { token: metricsToken })).body as string;
    assert.ok((sample(ended, 'winux_session_stop_duration_seconds_count{status="success"}') ?? 0) >= 1);
  });

  test('two apps in one process keep their own registries; failures are counted by operation', async () => {
    const other = await startTestServer({ provider: new FailingProvider(), env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
    try {
      const r = await other.request('POST', `${api}/sessions`, {});
      await waitFor(async () => (await other.store.get(r.body.session_id))?.status === 'failed');
      const text = (await other.request('GET', `${api}/metrics`, { token: other.adminToken })).body as string;
      assert.equal(sample(text, 'winux_session_start_duration_seconds_count{status="failure",provider="fake"}'), 1);
      assert.equal(sample(text, 'winux_provider_errors_total{operation="create",code="error"}'), 1);
      const mine = (await s.request('GET', `${api}/metrics`, { token: metricsToken })).body as string;
      assert.equal(sample(mine, 'winux_session_start_duration_seconds_count{status="failure",provider="fake"}'), 0, 'the other app did not count here');
    } finally {
      await other.close();
    }
  });

  describe('a real Prometheus', () => {
    let prom: ChildProcess | undefined;
    let promUrl = '';
    let dir = '';
    let output = '';
    before(async () => {
      dir = tempDir('winux-prom-');
      const port = await freePort();
      promUrl = `http://127.0.0.1:${port}`;
      fs.writeFileSync(path.join(dir, 'token'), metricsToken, { mode: 0o600 });
      const target = new URL(s.url).host;
      fs.writeFileSync(
        path.join(dir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          '  evaluation_interval: 1s',
          `rule_files: [${JSON.stringify(path.join(root, 'deploy/winux-alerts.yml'))}]`,
          'scrape_configs:',
          '  - job_name: winux',
          '    metrics_path: /api/winux/metrics',
          '    authorization:',
          `      credentials_file: ${JSON.stringify(path.join(dir, 'token'))}`,
          '    static_configs:',
          `      - targets: [${JSON.stringify(target)}]`,
          '',
        ].join('\n'),
      );
      prom = spawn(
        'prometheus',
        [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      prom.stderr?.on('data', (d) => {
        output = (output + d).slice(-4000);
      });
    });
    after(async () => {
      if (prom && prom.exitCode === null) {
        const gone = new Promise((r) => prom!.once('exit', r));
        prom.kill('SIGTERM');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const query = async (q: string) => {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      assert.equal(body.status, 'success');
      return body.data.result;
    };

    test('scrapes Winux with the metrics token and answers queries about it', async () => {
      const up = await waitFor(
        async () => {
          assert.equal(prom?.exitCode, null, `prometheus exited: ${output.slice(-800)}`);
          try {
            const r = await query('up{job="winux"}');
            return r[0]?.value[1] === '1' ? r : null;
          } catch {
            return null;
          }
        },
        30_000,
        'Prometheus to scrape Winux',
      ).catch((e: Error) => {
        throw new Error(`${e.message} (prometheus said: ${output.slice(-800)})`);
      });
      assert.equal(up[0]!.metric.instance, new URL(s.url).host);
      const capacity = await query('winux_capacity_sessions');
      assert.equal(capacity[0]!.value[1], '5');
      const starts = await query('sum(winux_session_start_duration_seconds_count{status="success"})');
      assert.ok(Number(starts[0]!.value[1]) >= 1);
      const refused = await query('winux_visitors_refused_total{reason="capacity"}');
      assert.equal(refused[0]!.value[1], '0', 'the failure series is there before the first failure');
      // The shipped alert rules are loaded and evaluated against these series.
      const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
      const loaded = rules.data.groups.flatMap((g) => g.rules);
      assert.deepEqual(loaded.map((r) => r.name).sort(), ['WinuxCapacityNearlyFull', 'WinuxCreationsSlow', 'WinuxProviderErrors', 'WinuxSessionsFailing']);
      await waitFor(
        async () => {
          const again = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as typeof rules;
          return again.data.groups.flatMap((g) => g.rules).every((r) => r.health === 'ok');
        },
        15_000,
        'every rule evaluated without error',
      );
    });
  });

  test('promtool accepts deploy/winux-alerts.yml', () => {
    const r = spawnSync('promtool', ['check', 'rules', path.join(root, 'deploy/winux-alerts.yml')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS: 4 rules found/);
  });
});
