// Three Winux replicas (real `winux serve` processes) on one real PostgreSQL behind
// real nginx, with the Proxmox simulator as their provider: kill -9 at random moments
// during 20 creations and 20 removals, a rolling restart under load, PostgreSQL
// restarted under load. Nothing is built twice, left behind or left in flight, and
// a drained replica fails no request. bench/replicas.ts prints the same figures.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postgresInstalled } from './support/postgres-outage.ts';
import { recordFigures } from './support/drill.ts';
import { startReplicaSet, type ReplicaSet } from './support/replicas.ts';
import { crossReplicaEventMs, killDrill, postgresRestart, rollingRestart } from './support/replica-drills.ts';

describe('three replicas on one PostgreSQL behind nginx', { skip: !postgresInstalled() && 'PostgreSQL is not installed' }, () => {
  let set: ReplicaSet;
  before(async () => {
    set = await startReplicaSet();
  });
  after(async () => {
    await set?.close();
  });

  test('kill -9 of a replica at random moments during 20 creations and 20 removals: nothing doubled, leaked or stuck', async () => {
    const f = await killDrill(set);
    recordFigures('replicas-kill', { ...f, problems: f.problems.join('; ') });
    assert.ok(
      f.killsDuringCreations >= 1 && f.killsDuringRemovals >= 1,
      `kills: ${f.killsDuringCreations} during creations, ${f.killsDuringRemovals} during removals`,
    );
    assert.equal(f.created, 20);
    assert.equal(f.failedRemovals, 0, f.problems.join('; '));
    assert.deepEqual(f.problems, [], set.logs());
    assert.equal(f.doubled, 0, 'a session built on two containers');
    assert.equal(f.leaked, 0);
    assert.equal(f.stuck, 0);
  });

  test('a change on one replica reaches an event stream on another at once, not at its 5 s re-read', async () => {
    const ms = await crossReplicaEventMs(set, 0, 1);
    assert.ok(ms < 2500, `the event took ${ms.toFixed(0)} ms`);
  });

  test('a rolling restart of all three under load fails no request', async () => {
    const f = await rollingRestart(set);
    recordFigures('replicas-rolling', { ...f, samples: f.samples.join('; '), problems: f.problems.join('; ') });
    assert.ok(f.requests > 50, `${f.requests} requests`);
    // nginx's error log says why it answered 502 (refused, reset, closed before the answer).
    const nginxErrors = () =>
      set.proxy
        .log()
        .split('\n')
        .filter((l) => /\[(error|warn)\]/.test(l))
        .slice(-20)
        .join('\n');
    assert.deepEqual(f.samples, [], nginxErrors());
    assert.equal(f.failed, 0);
    assert.deepEqual(f.problems, [], set.logs());
    assert.equal(f.doubled, 0);
  });

  test('PostgreSQL restarted under load: requests recover, nothing leaked or stuck, events flow again', async () => {
    const f = await postgresRestart(set);
    recordFigures('replicas-postgres', { ...f, samples: f.samples.join('; '), problems: f.problems.join('; ') });
    assert.equal(f.failedAfterRecovery, 0, f.samples.join('\n'));
    assert.deepEqual(f.problems, [], set.logs());
    // The LISTEN connection came back by itself.
    const ms = await crossReplicaEventMs(set, 2, 0);
    assert.ok(ms < 2500, `the event took ${ms.toFixed(0)} ms after the restart`);
  });
});
