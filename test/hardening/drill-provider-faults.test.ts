// Drill: the provider fails 30 % of its create and destroy calls (a flaky
// Proxmox, a full disk, a lock). Every session must end ready, or failed with its
// machine removed; deletions are retried until the machines are gone. Ends with
// 0 containers leaked, 0 sessions stuck.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, endEverything, json, machines, newDrill, recordFigures, stop, waitSettled } from './support/drill.ts';

const sessions = 20;

test('the provider fails 30 % of its calls: nothing leaks, nothing stays in flight', async (t) => {
  const seed = Number(process.env.DRILL_SEED ?? 20260101);
  const drill = newDrill({ DRILL_FAIL_CREATE_RATE: '0.3', DRILL_FAIL_DESTROY_RATE: '0.3', DRILL_SEED: String(seed), FAKE_STEP_MS: '10' });
  const p = await drill.start();
  try {
    const created = await Promise.all(Array.from({ length: sessions }, () => json(p, 'POST', `${api}/sessions`)));
    assert.ok(created.every((c) => c.status === 202));

    // Failed creations built half a machine (the fake fails after cloning): those must be removed.
    const settled = await waitSettled(drill, 90_000);
    const ready = settled.filter((r) => r.status === 'ready');
    const failed = settled.filter((r) => r.status === 'failed');
    assert.equal(ready.length + failed.length, sessions, 'every session ended ready or failed');
    assert.ok(failed.every((r) => r.holds_container === 0 && /simulated failure/.test(r.error ?? '')));
    assert.deepEqual(
      machines(drill.dir)
        .map((m) => m.containerId)
        .sort(),
      ready.map((r) => r.container_id).sort(),
      'machines = ready sessions',
    );

    // Owners see a clear error, without internals.
    const one = created.find((c) => failed.some((f) => f.id === c.body.session_id));
    if (one) {
      const seen = await json(p, 'GET', `${api}/sessions/${one.body.session_id}`, { token: one.body.token });
      assert.equal(seen.body.status, 'failed');
      assert.match(seen.body.error, /^Could not prepare the desktop/);
    }

    // Deletions under the same 30 % failure rate: retried with back-off until done.
    const audit = await endEverything(drill, p, 150_000);
    recordFigures('provider-faults', {
      seed,
      sessions,
      ready: ready.length,
      failed_creations: failed.length,
      failure_rate: '30%',
      containers_leaked: audit.leaked,
      sessions_stuck: audit.stuck,
    });
    t.diagnostic(
      `provider faults (seed ${seed}): ${sessions} sessions, ${ready.length} ready, ${failed.length} failed and cleaned; after deleting all: ${audit.leaked} containers leaked, ${audit.stuck} sessions stuck`,
    );
    assert.equal(audit.leaked, 0, 'containers leaked');
    assert.equal(audit.stuck, 0, 'sessions stuck');
  } finally {
    await stop(p);
  }
});
