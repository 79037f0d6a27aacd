// Drill: 200 simultaneous POSTs at capacity 10, each from a different visitor
// (X-Forwarded-For through a trusted proxy), rate limit off. Exactly 10 sessions
// may exist; everyone else is told 503 (full) or 429; no container id or RDP
// port is given twice. Ends with 0 containers leaked, 0 sessions stuck.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, endEverything, machines, newDrill, recordFigures, rows, stop, waitSettled } from './support/drill.ts';

test('200 simultaneous POSTs at capacity 10', async (t) => {
  const drill = newDrill({
    WINUX_MAX_SESSIONS: '10',
    WINUX_SESSIONS_PER_VISITOR: '1',
    WINUX_TRUSTED_PROXIES: '127.0.0.1,::1',
    WINUX_CREATE_RATE_PER_MINUTE: '0',
    FAKE_STEP_MS: '30',
  });
  const p = await drill.start();
  try {
    // 150 distinct visitors plus one visitor trying 50 times: both limits are in play.
    const visitor = (i: number) => (i < 150 ? `198.51.${100 + (i >> 8)}.${i & 255}` : '203.0.113.99');
    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const res = await fetch(`${p.url}${api}/sessions`, { method: 'POST', headers: { 'x-forwarded-for': visitor(i) } });
        return { status: res.status, body: (await res.json()) as any };
      }),
    );
    const byStatus: Record<number, number> = {};
    for (const a of answers) byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
    t.diagnostic(`answers by status: ${JSON.stringify(byStatus)}`);

    const accepted = answers.filter((a) => a.status === 202);
    assert.equal(accepted.length, 10, 'exactly capacity');
    const refused = answers.filter((a) => a.status !== 202);
    for (const a of refused) {
      assert.ok(a.status === 503 || a.status === 429, `refused with ${a.status}`);
      assert.ok(['capacity_exhausted', 'visitor_limit'].includes(a.body.error), a.body.error);
      assert.equal(typeof a.body.message, 'string');
    }
    const visitorsAccepted = accepted.map((a) => answers.indexOf(a)).map(visitor);
    assert.equal(new Set(visitorsAccepted).size, 10, 'no visitor got two');

    const settled = await waitSettled(drill, 30_000);
    assert.equal(settled.length, 10, 'the store holds exactly 10 sessions');
    const ready = settled.filter((r) => r.status === 'ready');
    assert.equal(ready.length, 10);
    assert.equal(new Set(ready.map((r) => r.container_id)).size, 10, 'no container id twice');
    assert.equal(new Set(ready.map((r) => r.port)).size, 10, 'no RDP port twice');
    assert.equal(new Set(accepted.map((a) => a.body.container_id)).size, 10);
    assert.equal(machines(drill.dir).length, 10);

    const audit = await endEverything(drill, p);
    recordFigures('stampede', {
      requests: 200,
      accepted: accepted.length,
      refused: refused.length,
      containers_leaked: audit.leaked,
      sessions_stuck: audit.stuck,
    });
    t.diagnostic(
      `stampede: 200 POSTs, ${accepted.length} accepted, ${refused.length} refused; ${audit.leaked} containers leaked, ${audit.stuck} sessions stuck`,
    );
    assert.equal(audit.leaked, 0, 'containers leaked');
    assert.equal(audit.stuck, 0, 'sessions stuck');
    assert.equal((await rows(drill.dbUrl)).length, 10);
  } finally {
    await stop(p);
  }
});
