// Drill: containers die from outside while their sessions are ready (an admin's
// `lxc-stop`, an OOM kill, a host reboot that lost one). The reconciler must notice,
// end those sessions as failed with a clear message, clean up, and leave the
// healthy session alone. Ends with 0 containers leaked, 0 sessions stuck.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, editMachines, endEverything, json, machines, newDrill, recordFigures, rows, stop, waitSettled } from './support/drill.ts';
import { waitFor } from '../support/server.ts';

test('a container killed from outside while ready: the session fails and is cleaned up', async (t) => {
  const drill = newDrill({ FAKE_STEP_MS: '10' });
  const p = await drill.start();
  try {
    const created = await Promise.all([0, 1, 2].map(() => json(p, 'POST', `${api}/sessions`).then((r) => r.body)));
    await waitSettled(drill, 20_000);
    const [stopped, vanished, healthy] = created;

    editMachines(drill.dir, (list) =>
      list.map((m) => (m.containerId === stopped.container_id ? { ...m, state: 'stopped' } : m)).filter((m) => m.containerId !== vanished.container_id),
    );

    const failed = await waitFor(
      async () => {
        const all = await rows(drill.dbUrl);
        const gone = all.filter((r) => r.id !== healthy.session_id);
        return gone.every((r) => r.status === 'failed' && r.holds_container === 0) ? all : undefined;
      },
      30_000,
      'the reconciler to fail both sessions',
    );
    const byId = new Map(failed.map((r) => [r.id, r]));
    assert.match(byId.get(stopped.session_id)!.error!, /stopped unexpectedly/);
    assert.match(byId.get(vanished.session_id)!.error!, /disappeared/);
    assert.equal(byId.get(healthy.session_id)!.status, 'ready', 'the healthy session is untouched');
    assert.deepEqual(
      machines(drill.dir).map((m) => m.containerId),
      [healthy.container_id],
      'the stopped container was removed',
    );

    // The owner sees the failure, and no password for a dead desktop.
    const seen = await json(p, 'GET', `${api}/sessions/${stopped.session_id}`, { token: stopped.token });
    assert.equal(seen.body.status, 'failed');
    assert.equal(seen.body.password, undefined);
    assert.equal(seen.body.error, byId.get(stopped.session_id)!.error);

    const audit = await endEverything(drill, p);
    recordFigures('external-kill', { killed_from_outside: 2, detected: 2, containers_leaked: audit.leaked, sessions_stuck: audit.stuck });
    t.diagnostic(`external kill: 2 containers killed, 2 sessions failed and cleaned; ${audit.leaked} containers leaked, ${audit.stuck} sessions stuck`);
    assert.equal(audit.leaked, 0, 'containers leaked');
    assert.equal(audit.stuck, 0, 'sessions stuck');
  } finally {
    await stop(p);
  }
});
