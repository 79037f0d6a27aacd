// The replica drills themselves, each returning its figures: kill -9 during creations
// and removals, a rolling restart under load, PostgreSQL restarted under load, and how
// soon a change on one replica reaches an event stream on another. The test asserts
// the counts (test/hardening/drill-replicas.test.ts); bench/replicas.ts prints them.
import { mulberry32 } from '../../support/prng.ts';
import { api, createOne, removeOne, settle, sleep, watchDoubles, type ReplicaSet } from './replicas.ts';

export interface KillFigures {
  kills: number;
  killsDuringCreations: number;
  killsDuringRemovals: number;
  /** Creations answered 202 (asked again after a lost answer until 20 were). */
  created: number;
  /** POSTs whose answer was lost to a kill (502 or a cut connection). */
  lostAnswers: number;
  removals: number;
  /** Removals that did not end with 200/202 even after asking again. */
  failedRemovals: number;
  doubled: number;
  leaked: number;
  stuck: number;
  /** Sessions that ended failed instead of ready (a creation the takeover could not finish). */
  failedSessions: number;
  settleMs: number;
  problems: string[];
}

/** 20 creations, then 20 removals, while a random replica is SIGKILLed and restarted again and again. */
export async function killDrill(set: ReplicaSet, o: { seed?: number; creations?: number } = {}): Promise<KillFigures> {
  const random = mulberry32(o.seed ?? 17);
  const wanted = o.creations ?? 20;
  const doubles = watchDoubles(set);
  let chaos = true;
  let kills = 0;
  const restarts: Promise<void>[] = [];
  // A random replica that is up is killed every 0.5–2 s, as long as another stays up, and started again at once.
  const killer = (async () => {
    while (chaos) {
      await sleep(500 + random() * 1500);
      const up = set.replicas.filter((r) => r.up);
      if (!chaos || up.length < 2) continue;
      const victim = up[Math.floor(random() * up.length)]!;
      await set.kill(victim.index);
      kills++;
      restarts.push(set.start(victim.index));
    }
  })();
  let lostAnswers = 0;
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: wanted }, async (_, k) => {
      await sleep(k * 300);
      for (;;) {
        const r = await createOne(set);
        if (r.id) return void ids.push(r.id);
        lostAnswers++;
        await sleep(200);
      }
    }),
  );
  // Let the creations finish (or be taken over) while the kills go on, then remove them all.
  await waitUntil(async () => (await set.rows()).every((r) => r.status !== 'creating'), 120_000);
  // Removals start once the killed replicas are back, so the kills go on among them.
  await waitUntil(async () => set.replicas.filter((r) => r.up).length >= 2, 180_000);
  const killsDuringCreations = kills;
  let failedRemovals = 0;
  const removalFailures: string[] = [];
  await Promise.all(
    ids.map(async (id, k) => {
      await sleep(k * 300);
      const r = await removeOne(set, id);
      if (r.status !== 200 && r.status !== 202) {
        failedRemovals++;
        removalFailures.push(`DELETE ${id} answered ${r.status} after ${r.attempts} attempts`);
      }
    }),
  );
  chaos = false;
  await killer;
  await Promise.all(restarts);
  // Sessions whose POST answer was lost were created all the same: the admin ends them too.
  for (const r of await set.rows()) if (r.status === 'ready' || r.status === 'creating') await removeOne(set, r.id);
  const s = await settle(set);
  const all = await set.rows();
  return {
    kills,
    killsDuringCreations,
    killsDuringRemovals: kills - killsDuringCreations,
    created: ids.length,
    lostAnswers,
    removals: ids.length,
    failedRemovals,
    doubled: doubles.stop(),
    leaked: s.leaked,
    stuck: s.stuck,
    failedSessions: all.filter((r) => r.status === 'failed').length,
    settleMs: s.ms,
    problems: [...removalFailures, ...s.problems],
  };
}

export interface LoadFigures {
  requests: number;
  failed: number;
  /** The first few failures, for a message. */
  samples: string[];
}

/**
 * Visitors' traffic through the proxy until `stop()`: create a session, read it, end it,
 * from a few workers at once. Every answer that is not the one expected counts as failed.
 */
export function load(set: ReplicaSet, workers = 4): { stop(): Promise<LoadFigures>; failedSince(): number } {
  let running = true;
  const figures: LoadFigures = { requests: 0, failed: 0, samples: [] };
  const check = (what: string, status: number, ok: number[], text: string) => {
    figures.requests++;
    if (ok.includes(status)) return true;
    figures.failed++;
    if (figures.samples.length < 5) figures.samples.push(`${what} → ${status} ${text.slice(0, 120)}`);
    return false;
  };
  const worker = async () => {
    while (running) {
      const created = await set.call('POST', `${api}/sessions`, { body: { duration_minutes: 30 }, token: null });
      if (!check('POST /sessions', created.status, [202], created.text)) {
        await sleep(100);
        continue;
      }
      const id = created.json.session_id as string;
      const token = created.json.token as string;
      const read = await set.call('GET', `${api}/sessions/${id}`, { token });
      check('GET /sessions/{id}', read.status, [200], read.text);
      await sleep(300);
      const ended = await set.call('DELETE', `${api}/sessions/${id}`, { token });
      check('DELETE /sessions/{id}', ended.status, [200, 202], ended.text);
    }
  };
  const all = Promise.all(Array.from({ length: workers }, worker));
  return {
    async stop() {
      running = false;
      await all;
      return figures;
    },
    failedSince: () => figures.failed,
  };
}

export interface RollingFigures extends LoadFigures {
  restarts: number;
  leaked: number;
  stuck: number;
  doubled: number;
  problems: string[];
}

/**
 * A rolling restart as README "Several replicas" tells an operator to do it behind nginx,
 * under load: each replica in turn is marked `down` in the upstream (a graceful reload),
 * gets SIGTERM (it drains and exits), is started again and put back. Telling the proxy
 * first is what makes it lossless: a replica that stops listening while nginx still sends
 * it connections resets those the kernel had queued but Node had not accepted yet, and
 * nginx does not send a POST it had already written to another server.
 */
export async function rollingRestart(set: ReplicaSet, o: { tellProxy?: boolean } = {}): Promise<RollingFigures> {
  const tellProxy = o.tellProxy ?? true;
  const upstream = (down?: number) => set.proxy.setUpstream!(set.replicas.map((r) => ({ address: `127.0.0.1:${r.port}`, down: r.index === down })));
  // Fresh workers also forget the failures the kill drill left them (nginx's fail_timeout,
  // per worker: one holding all three as failed answers 502 without trying any).
  await upstream();
  const doubles = watchDoubles(set);
  const traffic = load(set);
  await sleep(1500);
  for (let i = 0; i < set.replicas.length; i++) {
    if (tellProxy) await upstream(i);
    await set.terminate(i);
    await set.start(i);
    if (tellProxy) await upstream();
    await sleep(1500);
  }
  const figures = await traffic.stop();
  const s = await settle(set);
  return { ...figures, restarts: set.replicas.length, leaked: s.leaked, stuck: s.stuck, doubled: doubles.stop(), problems: s.problems };
}

export interface PostgresFigures extends LoadFigures {
  outageMs: number;
  /** Failed requests while the database was down (503 store_unavailable is the honest answer then). */
  failedDuringOutage: number;
  /** Failed requests from 3 s after it came back. */
  failedAfterRecovery: number;
  leaked: number;
  stuck: number;
  problems: string[];
}

/** PostgreSQL stopped and started again while visitors keep coming. */
export async function postgresRestart(set: ReplicaSet, outageMs = 3000): Promise<PostgresFigures> {
  const traffic = load(set);
  await sleep(1500);
  const before = traffic.failedSince();
  set.pg.down('fast');
  await sleep(outageMs);
  set.pg.up();
  await sleep(3000);
  const recovered = traffic.failedSince();
  await sleep(4000);
  const figures = await traffic.stop();
  const s = await settle(set);
  return {
    ...figures,
    outageMs,
    failedDuringOutage: recovered - before,
    failedAfterRecovery: figures.failed - recovered,
    leaked: s.leaked,
    stuck: s.stuck,
    problems: s.problems,
  };
}

/**
 * Milliseconds from a DELETE sent to replica `from` until an event stream open on replica
 * `to` shows the session ending (LISTEN/NOTIFY; without it the stream's 5 s re-read).
 */
export async function crossReplicaEventMs(set: ReplicaSet, from: number, to: number): Promise<number> {
  const direct = (i: number) => `http://127.0.0.1:${set.replicas[i]!.port}${api}`;
  const auth = { authorization: `Bearer ${set.adminToken}` };
  const created = await fetch(`${direct(from)}/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const session = (await created.json()) as { session_id: string };
  await waitUntil(async () => (await set.rows()).find((r) => r.id === session.session_id)?.status === 'ready', 60_000);
  const abort = new AbortController();
  const stream = await fetch(`${direct(to)}/sessions/${session.session_id}/events`, { headers: auth, signal: abort.signal });
  const reader = stream.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  // The stream's first event (ready) first, so the change below is the only one left to see.
  while (!text.includes('"status":"ready"')) text += decoder.decode((await reader.read()).value ?? new Uint8Array(), { stream: true });
  const started = performance.now();
  const ended = fetch(`${direct(from)}/sessions/${session.session_id}`, { method: 'DELETE', headers: auth });
  while (!/"status":"(destroying|destroyed)"/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the event stream ended before the session did');
    text += decoder.decode(value, { stream: true });
  }
  const ms = performance.now() - started;
  await ended;
  abort.abort();
  return ms;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`);
    await sleep(200);
  }
}
