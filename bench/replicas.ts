// Three Winux replicas (`winux serve` processes) on one PostgreSQL behind nginx, with
// the Proxmox simulator: the drills of test/hardening/drill-replicas.test.ts, printed
// as figures (kill -9 during 20 creations and 20 removals, a rolling restart under
// load, PostgreSQL restarted under load, how soon a change on one replica reaches an
// event stream on another). Asserts nothing. Run: node --import tsx bench/replicas.ts
import { startReplicaSet } from '../test/hardening/support/replicas.ts';
import { crossReplicaEventMs, killDrill, postgresRestart, rollingRestart } from '../test/hardening/support/replica-drills.ts';

const seedAt = process.argv.indexOf('--seed');
const seed = seedAt > 0 ? Number(process.argv[seedAt + 1]) : 17;
const started = Date.now();
const set = await startReplicaSet();
console.log(`3 replicas + nginx + PostgreSQL + simulator up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
try {
  const k = await killDrill(set, { seed });
  console.log(
    `kill -9 (seed ${seed}): ${k.kills} kills during ${k.created} creations and ${k.removals} removals; ` +
      `sessions created twice ${k.doubled}, leaked CTs ${k.leaked}, stuck sessions ${k.stuck}, failed sessions ${k.failedSessions}; ` +
      `POST answers lost to a kill ${k.lostAnswers} (asked again), removals failed ${k.failedRemovals}; settled ${(k.settleMs / 1000).toFixed(1)} s after the last removal`,
  );
  if (k.problems.length) console.log(`  still wrong: ${k.problems.join('; ')}`);
  const events: number[] = [];
  for (let i = 0; i < 5; i++) events.push(await crossReplicaEventMs(set, i % 3, (i + 1) % 3));
  events.sort((a, b) => a - b);
  console.log(
    `a change on one replica → an event stream on another: median ${events[2]!.toFixed(0)} ms, worst ${events[4]!.toFixed(0)} ms (the stream's own re-read: 5000 ms)`,
  );
  const r = await rollingRestart(set);
  console.log(
    `rolling restart (nginx told first, SIGTERM, drain, start; each of 3 in turn) under load: ${r.requests} requests, ${r.failed} failed; leaked ${r.leaked}, stuck ${r.stuck}, created twice ${r.doubled}`,
  );
  for (const s of r.samples) console.log(`  ${s}`);
  // The same without telling nginx: what a bare `systemctl restart` on each costs.
  const blind = await rollingRestart(set, { tellProxy: false });
  console.log(
    `rolling restart without telling nginx (SIGTERM, drain, start): ${blind.requests} requests, ${blind.failed} failed (${((100 * blind.failed) / blind.requests).toFixed(1)} %)`,
  );
  for (const s of blind.samples) console.log(`  ${s}`);
  const p = await postgresRestart(set);
  console.log(
    `PostgreSQL down ${(p.outageMs / 1000).toFixed(0)} s under load: ${p.requests} requests, ${p.failedDuringOutage} failed while it was down or coming back, ` +
      `${p.failedAfterRecovery} failed from 3 s after it was back; leaked ${p.leaked}, stuck ${p.stuck}`,
  );
  console.log(`after the restart, a change → another replica's event stream: ${(await crossReplicaEventMs(set, 2, 0)).toFixed(0)} ms`);
} finally {
  await set.close();
}
