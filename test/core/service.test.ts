// The state machine through SessionService with behaviour fakes: failures,
// timeouts, ending during creation, reconciliation, and no secret in errors or logs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger.ts';
import { FailingProvider, FakeProvider, NeverReadyProvider } from '../support/fake-provider.ts';
import { startTestServer, waitFor, type TestServer } from '../support/server.ts';

const api = '/api/winux';
const many = { WINUX_SESSIONS_PER_VISITOR: '0' };

async function settle(s: TestServer, id: string, wanted: string[]) {
  return waitFor(
    async () => {
      const x = await s.store.get(id);
      return x && wanted.includes(x.status) && !(x.status === 'failed' && x.holdsContainer) ? x : undefined;
    },
    8000,
    `session ${id} to reach ${wanted.join('/')}`,
  );
}

describe('session lifecycle with a failing or slow provider', () => {
  test('a failed creation ends failed, with a message, and its container is removed and id released', async () => {
    let failing = true;
    const fake = new FailingProvider({ create: () => failing });
    const s = await startTestServer({ provider: fake, env: many });
    try {
      const r = await s.request('POST', `${api}/sessions`);
      const final = await settle(s, r.body.session_id, ['failed']);
      assert.match(final.error ?? '', /Could not prepare the desktop: simulated failure/);
      assert.equal(fake.machines().length, 0);
      assert.equal(final.holdsContainer, false);
      const view = await s.request('GET', `${api}/sessions/${r.body.session_id}`, { token: r.body.token });
      assert.equal(view.body.status, 'failed');
      assert.equal(view.body.password, undefined);
      // The id is free again.
      failing = false;
      const next = await s.request('POST', `${api}/sessions`);
      assert.equal(next.body.container_id, r.body.container_id);
    } finally {
      await s.close();
    }
  });

  test('the session password never appears in an error, even if the provider puts it there', async () => {
    const fake = new FailingProvider({ create: () => true, message: (spec) => `chpasswd failed for ${spec.username}:${spec.password}` });
    const s = await startTestServer({ provider: fake });
    try {
      const r = await s.request('POST', `${api}/sessions`);
      const final = await settle(s, r.body.session_id, ['failed']);
      assert.ok(!final.error!.includes(r.body.password));
      assert.match(final.error!, /\[redacted\]/);
    } finally {
      await s.close();
    }
  });

  test('ending a session while it is being created stops the creation and leaves no container', async () => {
    const fake = new NeverReadyProvider();
    const s = await startTestServer({ provider: fake });
    try {
      const r = await s.request('POST', `${api}/sessions`);
      await waitFor(() => fake.machines().length === 1, 5000, 'machine to exist');
      const del = await s.request('DELETE', `${api}/sessions/${r.body.session_id}`, { token: r.body.token });
      assert.equal(del.status, 202);
      const final = await settle(s, r.body.session_id, ['destroyed']);
      assert.equal(final.holdsContainer, false);
      assert.equal(fake.machines().length, 0);
    } finally {
      await s.close();
    }
  });

  test('a creation that takes too long fails and is cleaned up', async () => {
    const fake = new NeverReadyProvider();
    const s = await startTestServer({ provider: fake, config: { createTimeoutMs: 300 } });
    try {
      const r = await s.request('POST', `${api}/sessions`);
      const final = await settle(s, r.body.session_id, ['failed']);
      assert.match(final.error!, /did not finish in time/);
      assert.equal(fake.machines().length, 0);
    } finally {
      await s.close();
    }
  });

  test('a failing destroy is retried until it works; the id stays held until then', async () => {
    let failing = true;
    const fake = new FailingProvider({ destroy: () => failing });
    const s = await startTestServer({ provider: fake, reaper: false });
    try {
      const r = await s.request('POST', `${api}/sessions`);
      await settle(s, r.body.session_id, ['ready']);
      await s.request('DELETE', `${api}/sessions/${r.body.session_id}`, { token: r.body.token });
      await waitFor(async () => (await s.store.get(r.body.session_id))!.cleanupAttempts >= 1, 5000, 'a failed attempt');
      await s.service.idle();
      let x = await s.store.get(r.body.session_id);
      assert.equal(x!.status, 'destroying');
      assert.equal(x!.holdsContainer, true, 'id held while the container may exist');
      failing = false;
      await waitFor(
        async () => {
          await s.service.retryStuck();
          await s.service.idle();
          return (await s.store.get(r.body.session_id))!.status === 'destroyed';
        },
        8000,
        'retry',
      );
      x = await s.store.get(r.body.session_id);
      assert.equal(x!.holdsContainer, false);
      assert.equal(fake.machines().length, 0);
    } finally {
      await s.close();
    }
  });

  test('a destroy that keeps failing past its timeout ends failed, and is still retried', async () => {
    let failing = true;
    const fake = new FailingProvider({ destroy: () => failing });
    const s = await startTestServer({ provider: fake, reaper: false, config: { destroyTimeoutMs: 1 } });
    try {
      const r = await s.request('POST', `${api}/sessions`);
      await settle(s, r.body.session_id, ['ready']);
      await s.request('DELETE', `${api}/sessions/${r.body.session_id}`, { token: r.body.token });
      await waitFor(async () => (await s.store.get(r.body.session_id))!.status === 'failed', 5000, 'failed');
      assert.equal((await s.store.get(r.body.session_id))!.holdsContainer, true);
      failing = false;
      await waitFor(
        async () => {
          await s.service.retryStuck();
          await s.service.idle();
          return !(await s.store.get(r.body.session_id))!.holdsContainer;
        },
        8000,
        'cleanup',
      );
      assert.equal(fake.machines().length, 0);
    } finally {
      await s.close();
    }
  });
});

describe('ids occupied by machines Winux did not create', () => {
  test('the creation moves to another id, and the occupied one is skipped afterwards', async () => {
    const { ContainerIdTakenError } = await import('../../src/core/errors.ts');
    class Occupied extends FakeProvider {
      async create(spec: Parameters<FakeProvider['create']>[0], ctx: Parameters<FakeProvider['create']>[1]) {
        if (spec.containerId === 30001) throw new ContainerIdTakenError(30001, 'pve1');
        return super.create(spec, ctx);
      }
    }
    const fake = new Occupied();
    const s = await startTestServer({ provider: fake, env: many });
    try {
      const r = await s.request('POST', `${api}/sessions`);
      assert.equal(r.body.container_id, 30001);
      const ready = await settle(s, r.body.session_id, ['ready']);
      assert.equal(ready.containerId, 30002);
      const view = await s.request('GET', `${api}/sessions/${r.body.session_id}`, { token: r.body.token });
      assert.equal(view.body.container_id, 30002);
      const next = await s.request('POST', `${api}/sessions`);
      assert.equal(next.body.container_id, 30003, '30001 is set aside');
      await settle(s, next.body.session_id, ['ready']);
      assert.deepEqual(
        fake
          .machines()
          .map((m) => m.containerId)
          .sort(),
        [30002, 30003],
      );
    } finally {
      await s.close();
    }
  });
});

describe('reconciliation', () => {
  test('a container killed from outside: the session ends failed and is cleaned', async () => {
    const fake = new FakeProvider();
    const s = await startTestServer({ provider: fake, reaper: false });
    try {
      const r = await s.request('POST', `${api}/sessions`);
      await settle(s, r.body.session_id, ['ready']);
      fake.kill(r.body.container_id);
      // Several consecutive passes (and a direct status check) before a session is failed.
      let failed = 0;
      for (let i = 0; i < 3; i++) failed += (await s.service.reconcile()).failed;
      assert.equal(failed, 1);
      const final = await settle(s, r.body.session_id, ['failed']);
      assert.match(final.error!, /stopped unexpectedly/);
      assert.equal(fake.machines().length, 0);
    } finally {
      await s.close();
    }
  });

  test('containers nobody owns are removed; owned ones are kept', async () => {
    const fake = new FakeProvider();
    const s = await startTestServer({ provider: fake, reaper: false, env: many });
    try {
      const r = await s.request('POST', `${api}/sessions`);
      await settle(s, r.body.session_id, ['ready']);
      fake.plant(30500);
      fake.plant(31500); // outside this Winux's id range: another instance's
      const stats = await s.service.reconcile();
      assert.equal(stats.orphansRemoved, 1);
      assert.deepEqual(
        fake
          .machines()
          .map((m) => m.containerId)
          .sort(),
        [r.body.container_id, 31500],
      );
    } finally {
      await s.close();
    }
  });
});

describe('logs', () => {
  test('one line per request and per transition, with the session id, and never a password or token', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const s = await startTestServer({ logger: createLogger('info', sink as never), env: many });
    try {
      const r = await s.request('POST', `${api}/sessions`);
      await settle(s, r.body.session_id, ['ready']);
      await s.request('GET', `${api}/sessions/${r.body.session_id}`, { token: r.body.token, headers: { cookie: `winux_token=${r.body.token}` } });
      await s.request('DELETE', `${api}/sessions/${r.body.session_id}`, { token: r.body.token });
      await settle(s, r.body.session_id, ['destroyed']);
      const text = lines.join('\n');
      assert.ok(!text.includes(r.body.password), 'password in logs');
      assert.ok(!text.includes(r.body.token.split('.')[1]), 'token in logs');
      assert.ok(!text.includes(s.adminToken), 'admin token in logs');
      const parsed = lines.map((l) => JSON.parse(l));
      const transitions = parsed.filter((l) => l.session_id === r.body.session_id && l.status).map((l) => l.status);
      assert.deepEqual(transitions, ['creating', 'ready', 'destroying', 'destroyed']);
      const requestLines = parsed.filter((l) => l.msg === 'request');
      assert.deepEqual(
        requestLines.map((l) => `${l.method} ${l.status_code}`),
        ['POST 202', 'GET 200', 'DELETE 202'],
        'one line per request',
      );
      assert.ok(
        requestLines.some((l) => l.method === 'DELETE' && l.session_id === r.body.session_id && l.status_code === 202),
        'with the session id',
      );
      assert.ok(!parsed.some((l) => l.msg === 'incoming request'), 'no second line per request');
    } finally {
      await s.close();
    }
  });
});

describe('start-up', () => {
  test('a provider that does not answer stops the start with a message that says what to do', async () => {
    const broken = new FakeProvider();
    broken.list = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:8006');
    };
    await assert.rejects(
      startTestServer({ provider: broken }),
      /The fake provider is not working \(connect ECONNREFUSED 127\.0\.0\.1:8006\)\. Run "winux doctor"/,
    );
  });

  test('an orphan whose removal never returns does not hold up serving, and its id is not handed out meanwhile', async () => {
    const stuck = new FakeProvider();
    stuck.plant(30001);
    let release = () => {};
    const removal = new Promise<void>((resolve) => {
      release = resolve;
    });
    stuck.destroy = () => removal;
    const started = startTestServer({ provider: stuck, reaper: false, env: many });
    const s = await Promise.race([started, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('start-up waited on the removal')), 5_000))]);
    try {
      const r = await s.request('POST', `${api}/sessions`);
      assert.equal(r.status, 202);
      assert.notEqual(r.body.container_id, 30001, "the orphan's id is set aside while it is being removed");
    } finally {
      release();
      await s.close();
    }
  });
});
