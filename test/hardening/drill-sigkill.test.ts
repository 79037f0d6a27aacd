// Drill: SIGKILL of the server at random moments, alternately during 20
// creations and during 20 deletions, then a restart on the same data dir. After
// every restart the store must be intact (SQLite integrity check), nothing may stay
// in flight, the machines must be exactly those of ready sessions, every answered
// POST must have its session and every answered DELETE must end its session.
// Ends with 0 containers leaked, 0 sessions stuck. Kill moments come from a seed
// (printed) so a failure can be replayed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, endEverything, integrityCheck, newDrill, recordFigures, rows, sigkill, stop, waitSettled, type DrillProcess } from './support/drill.ts';

const rounds = Number(process.env.HARDENING_KILL_ROUNDS ?? 6);
const perRound = 20;

test(`SIGKILL at random moments during ${perRound} creations and ${perRound} deletions, ${rounds} times`, async (t) => {
  const seed = Number(process.env.DRILL_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (DRILL_SEED=${seed} replays the kill moments)`);
  let state = seed >>> 0;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };

  // Slow enough steps that a random kill lands in the middle of things.
  const drill = newDrill({ FAKE_STEP_MS: '40', DRILL_DESTROY_MS: '60', WINUX_DESTROY_TIMEOUT_SECONDS: '5' });
  let p: DrillProcess = await drill.start();
  let kills = 0;
  let survived = 0;
  let created = 0;
  let deleted = 0;
  const owned = new Map<string, string>();
  try {
    for (let round = 0; round < rounds; round++) {
      const deleting = round % 2 === 1;
      const answeredPosts: string[] = [];
      const answeredDeletes: string[] = [];
      if (deleting) await topUp(p, perRound);
      const victims = deleting ? (await rows(drill.dbUrl)).filter((r) => r.status === 'ready').slice(0, perRound) : [];
      // The kill lands after a random number of this round's requests were answered, plus a random delay:
      // anywhere from "before the first answer" to "after the last, while the work continues in the background".
      const killAfterAnswers = Math.floor(random() * (perRound + 1));
      const extraDelayMs = Math.floor(random() * 150);
      const server = p;
      let answered = 0;
      const work = Array.from({ length: deleting ? victims.length : perRound }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i * 5));
        try {
          if (deleting) {
            const id = victims[i].id;
            const res = await fetch(`${server.url}${api}/sessions/${id}`, {
              method: 'DELETE',
              headers: { authorization: `Bearer ${owned.get(id) ?? server.adminToken}` },
            });
            if (res.status === 202 || res.status === 200) answeredDeletes.push(id);
          } else {
            const res = await fetch(`${server.url}${api}/sessions`, { method: 'POST' });
            const body = (await res.json()) as { session_id: string; token: string };
            if (res.status === 202) {
              answeredPosts.push(body.session_id);
              owned.set(body.session_id, body.token);
            }
          }
          answered++;
        } catch {
          /* the server died under this request: that is the drill */
        }
      });
      const deadline = Date.now() + 10_000;
      while (answered < killAfterAnswers && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      await new Promise((r) => setTimeout(r, extraDelayMs));
      await sigkill(p);
      kills++;
      await Promise.all(work);
      const before = await rows(drill.dbUrl);
      const inFlight = before.filter((r) => r.status === 'creating' || r.status === 'destroying').length;

      p = await drill.start();
      assert.equal(integrityCheck(drill.dbUrl), 'ok', `round ${round}: database intact after SIGKILL`);
      const after = await waitSettled(drill, 60_000);
      const byId = new Map(after.map((r) => [r.id, r]));
      for (const id of answeredPosts) assert.ok(byId.has(id), `round ${round}: an answered POST (${id}) kept its session`);
      for (const id of answeredDeletes) {
        const status = byId.get(id)?.status;
        assert.ok(status === 'destroyed' || status === 'failed', `round ${round}: answered DELETE of ${id} ended it (${status})`);
      }
      created += answeredPosts.length;
      deleted += answeredDeletes.length;
      survived++;
      t.diagnostic(
        `round ${round} (${deleting ? 'deletions' : 'creations'}): killed after ${killAfterAnswers} answers + ${extraDelayMs} ms with ${inFlight} in flight; ${answeredPosts.length + answeredDeletes.length} requests answered before; restart settled`,
      );
    }

    const audit = await endEverything(drill, p);
    recordFigures('sigkill', {
      seed,
      kills,
      kills_survived: survived,
      creations_answered: created,
      deletions_answered: deleted,
      sessions: audit.sessions,
      containers_leaked: audit.leaked,
      sessions_stuck: audit.stuck,
    });
    t.diagnostic(
      `SIGKILL drill: ${survived}/${kills} kills survived; ${audit.sessions} sessions; ${audit.leaked} containers leaked, ${audit.stuck} sessions stuck`,
    );
    assert.equal(survived, rounds);
    assert.equal(audit.leaked, 0, 'containers leaked');
    assert.equal(audit.stuck, 0, 'sessions stuck');
  } finally {
    await stop(p);
  }
});

/** Creates sessions (not killed) until `n` are ready, so a deletion round has work. */
async function topUp(p: DrillProcess, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const live = (
      (await fetch(`${p.url}${api}/sessions`, { headers: { authorization: `Bearer ${p.adminToken}` } }).then((r) => r.json())) as {
        sessions: { status: string }[];
      }
    ).sessions;
    const ready = live.filter((x) => x.status === 'ready').length;
    const creating = live.filter((x) => x.status === 'creating').length;
    if (ready >= n) return;
    if (Date.now() > deadline) throw new Error(`could not get ${n} ready sessions (${ready})`);
    for (let i = ready + creating; i < n; i++) await fetch(`${p.url}${api}/sessions`, { method: 'POST' });
    await new Promise((r) => setTimeout(r, 50));
  }
}
