// GET /sessions/{id}/events: the session as server-sent events, through real HTTP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { FakeProvider, SlowProvider } from '../support/fake-provider.ts';
import { maxStreamsPerSession } from '../../src/http/routes/session-events.ts';

const api = '/api/winux';

interface Stream {
  status: number;
  headers: Headers;
  /** Every `session` event so far, parsed, and their ids. */
  events: any[];
  ids: string[];
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** Resolves once `count` events have arrived. */
  waitFor(count: number): Promise<void>;
  close(): void;
}

/** Opens the stream and parses it as EventSource would (event/data lines, blank line ends an event). */
async function openStream(s: TestServer, id: string, headers: Record<string, string>): Promise<Stream> {
  const abort = new AbortController();
  const res = await fetch(`${s.url}${api}/sessions/${id}/events`, { headers, signal: abort.signal });
  const events: any[] = [];
  const ids: string[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const lines = block.split('\n');
          if (!lines.includes('event: session')) continue;
          const event = JSON.parse(
            lines
              .filter((l) => l.startsWith('data: '))
              .map((l) => l.slice(6))
              .join('\n'),
          );
          ids.push(lines.find((l) => l.startsWith('id: '))?.slice(4) ?? '');
          events.push(event);
          for (const w of waiters.filter((w) => events.length >= w.count)) w.resolve();
        }
      }
    } catch {
      /* aborted by close() */
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    events,
    ids,
    ended,
    waitFor: (count) => (events.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
    close: () => abort.abort(),
  };
}

describe('session events', () => {
  let s: TestServer;
  let provider: FakeProvider;
  before(async () => {
    provider = new SlowProvider(150);
    s = await startTestServer({ provider, env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
  });
  after(async () => {
    await s.close();
  });

  test('the owner sees every step, then ready, then the end; the stream closes after', async () => {
    const created = await s.request('POST', `${api}/sessions`);
    assert.equal(created.status, 202);
    const { session_id: id, token } = created.body;
    const stream = await openStream(s, id, { authorization: `Bearer ${token}` });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(stream.headers.get('cache-control'), 'no-store', 'events carry the password');

    // Steps take 150 ms each: the stream reports them as they happen, without being asked.
    await Promise.race([
      (async () => {
        while (stream.events.at(-1)?.status !== 'ready') await stream.waitFor(stream.events.length + 1);
      })(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no ready event: ${JSON.stringify(stream.events.map((e) => e.step))}`)), 5000)),
    ]);
    const steps = stream.events.map((e) => e.step);
    assert.equal(stream.events[0].status, 'creating');
    for (const step of ['starting', 'network', 'desktop']) assert.ok(steps.includes(step), `step ${step} in ${steps.join(',')}`);
    const ready = stream.events.at(-1);
    assert.equal(ready.password, created.body.password, 'the same JSON as GET /sessions/{id}');
    const polled = await s.request('GET', `${api}/sessions/${id}`, { token });
    assert.deepEqual(Object.keys(ready).sort(), Object.keys(polled.body).sort());

    const ended = await s.request('DELETE', `${api}/sessions/${id}`, { token });
    assert.equal(ended.status, 202);
    await stream.ended;
    assert.equal(stream.events.at(-1).status, 'destroyed', `last event: ${JSON.stringify(stream.events.at(-1))}`);

    // EventSource reconnects after the stream ends: with the last event's id it is told to stop (204);
    // a new client without it still gets the final state once.
    const lastId = stream.ids.at(-1)!;
    assert.ok(lastId && new Set(stream.ids).size === stream.ids.length, `distinct event ids: ${stream.ids.join(' ')}`);
    const again = await fetch(`${s.url}${api}/sessions/${id}/events`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': lastId } });
    assert.equal(again.status, 204);
    const fresh = await openStream(s, id, { authorization: `Bearer ${token}` });
    await fresh.ended;
    assert.deepEqual(
      fresh.events.map((e) => e.status),
      ['destroyed'],
    );
  });

  test('the same access rule as GET /sessions/{id}: nobody → 401, another visitor → 403, unknown id → 403, admin → 200', async () => {
    const mine = (await s.request('POST', `${api}/sessions`)).body;
    const theirs = (await s.request('POST', `${api}/sessions`)).body;
    for (const [headers, status] of [
      [{}, 401],
      [{ authorization: `Bearer ${theirs.token}` }, 403],
    ] as const) {
      const res = await fetch(`${s.url}${api}/sessions/${mine.session_id}/events`, { headers });
      assert.equal(res.status, status);
      const body = await res.json();
      assert.equal(typeof body.error, 'string', 'an ordinary JSON error, not a stream');
      assert.ok(!JSON.stringify(body).includes(mine.password));
    }
    const unknown = await fetch(`${s.url}${api}/sessions/winux-aaaaaaaaaaaa/events`, { headers: { authorization: `Bearer ${mine.token}` } });
    assert.equal(unknown.status, 403);
    await unknown.body?.cancel();
    const admin = await openStream(s, mine.session_id, { authorization: `Bearer ${s.adminToken}` });
    assert.equal(admin.status, 200);
    await admin.waitFor(1);
    assert.equal(admin.events[0].session_id, mine.session_id);
    admin.close();
    for (const x of [mine, theirs]) await s.request('DELETE', `${api}/sessions/${x.session_id}`, { token: x.token });
  });

  test(`one session holds at most ${maxStreamsPerSession} streams: the next is a 429 JSON error until one closes`, async () => {
    const { session_id: id, token } = (await s.request('POST', `${api}/sessions`)).body;
    const auth = { authorization: `Bearer ${token}` };
    const streams = await Promise.all(Array.from({ length: maxStreamsPerSession }, () => openStream(s, id, auth)));
    await Promise.all(streams.map((x) => x.waitFor(1)));
    const refused = await fetch(`${s.url}${api}/sessions/${id}/events`, { headers: auth });
    assert.equal(refused.status, 429);
    const body = await refused.json();
    assert.equal(body.error, 'rate_limited');
    assert.match(body.message, /open event streams/);
    streams[0]!.close();
    let reopened: Stream | undefined;
    for (let i = 0; i < 100 && !reopened; i++) {
      const attempt = await openStream(s, id, auth);
      if (attempt.status === 200) reopened = attempt;
      else await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(reopened, 'a stream opens again once one closed');
    for (const x of [...streams.slice(1), reopened]) x.close();
    await s.request('DELETE', `${api}/sessions/${id}`, { token });
  });

  test('a client that goes away leaves no listener behind', async () => {
    const { session_id: id, token } = (await s.request('POST', `${api}/sessions`)).body;
    const before = s.service.listenerCount('session');
    const streams = await Promise.all([1, 2, 3].map(() => openStream(s, id, { authorization: `Bearer ${token}` })));
    await Promise.all(streams.map((x) => x.waitFor(1)));
    assert.equal(s.service.listenerCount('session'), before + 3);
    for (const x of streams) x.close();
    const deadline = Date.now() + 3000;
    while (s.service.listenerCount('session') > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.service.listenerCount('session'), before);
    await s.request('DELETE', `${api}/sessions/${id}`, { token });
  });
});

// If close() waited for open streams, this test would hang until its timeout.
test('stopping the server ends open streams instead of waiting for them', { timeout: 20_000 }, async () => {
  const s = await startTestServer({ provider: new FakeProvider({ stepDelayMs: 5 }) });
  const { session_id: id, token } = (await s.request('POST', `${api}/sessions`)).body;
  const stream = await openStream(s, id, { authorization: `Bearer ${token}` });
  await stream.waitFor(1);
  await s.close();
  await stream.ended;
  assert.equal(stream.events[0].session_id, id);
});
