// A missed listing must not kill a live session (issue 14, item 6): a ready session is
// failed only after several consecutive passes without its machine and a direct
// status() that agrees; and an id is reused only once the provider says its machine is gone.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ManagedMachine, MachineState, ProviderRef } from '../../src/core/provider-port.ts';
/** src/core/reconciler.ts's missesBeforeFailing, written out so this file also runs (and fails) on the code before it. */
const missesBeforeFailing = 3;
import { FakeProvider } from '../support/fake-provider.ts';
import { startTestServer, waitFor, type TestServer } from '../support/server.ts';

const api = '/api/winux';

/** A listing that leaves out the machines in `hidden` (a node briefly "unknown", a token without VM.Audit). */
class BlindListProvider extends FakeProvider {
  hidden = new Set<number>();
  statusAnswer: MachineState | 'throw' | undefined;
  statusCalls = 0;
  override async list(): Promise<ManagedMachine[]> {
    return (await super.list()).filter((m) => !this.hidden.has(m.containerId));
  }
  override async status(ref: ProviderRef): Promise<MachineState> {
    this.statusCalls++;
    if (this.statusAnswer === 'throw') throw new Error('permission denied (VM.Audit)');
    return this.statusAnswer ?? super.status(ref);
  }
}

/** destroy() resolves without removing anything (it could not see the machine). */
class InvisibleDestroyProvider extends FakeProvider {
  blind = false;
  override async destroy(ref: ProviderRef): Promise<void> {
    if (this.blind) return;
    return super.destroy(ref);
  }
}

async function readySession(s: TestServer) {
  const r = await s.request('POST', `${api}/sessions`);
  assert.equal(r.status, 202);
  await waitFor(async () => (await s.store.get(r.body.session_id))?.status === 'ready', 10_000, 'ready');
  return r.body as { session_id: string; container_id: number; token: string };
}

/** A server on a BlindListProvider with one ready session, for `body`; the server is closed after it. */
async function withReadySession(
  body: (s: TestServer, fake: BlindListProvider, b: Awaited<ReturnType<typeof readySession>>) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const fake = new BlindListProvider();
  const s = await startTestServer({ provider: fake, reaper: false, env });
  try {
    await body(s, fake, await readySession(s));
  } finally {
    await s.close();
  }
}

describe('the reconciler does not fail a session on one missed listing', () => {
  test('a ready session missing from every list() while status() says running is never failed', async () => {
    await withReadySession(
      async (s, fake, b) => {
        fake.hidden.add(b.container_id);
        for (let i = 0; i < missesBeforeFailing * 3; i++) {
          const stats = await s.service.reconcile();
          assert.equal(stats.failed, 0, `pass ${i + 1}`);
        }
        assert.equal((await s.store.get(b.session_id))?.status, 'ready');
        assert.ok(fake.statusCalls >= 1, 'the direct status check was asked');
        assert.equal(fake.machines().length, 1, 'the machine was not destroyed');
      },
      { WINUX_SESSIONS_PER_VISITOR: '0' },
    );
  });

  test('one missed listing, then seen again: the count starts over', async () => {
    await withReadySession(async (s, fake, b) => {
      fake.statusAnswer = 'missing'; // status() would agree: only the consecutive count protects it
      for (let round = 0; round < 3; round++) {
        fake.hidden.add(b.container_id);
        for (let i = 1; i < missesBeforeFailing; i++) assert.equal((await s.service.reconcile()).unseen, 1);
        fake.hidden.clear();
        assert.equal((await s.service.reconcile()).unseen, 0);
      }
      assert.equal((await s.store.get(b.session_id))?.status, 'ready');
      assert.equal(fake.statusCalls, 0, 'status() is asked only once the misses are enough');
    });
  });

  test('a status() that cannot be read fails nothing', async () => {
    await withReadySession(async (s, fake, b) => {
      fake.hidden.add(b.container_id);
      fake.statusAnswer = 'throw';
      for (let i = 0; i < missesBeforeFailing + 2; i++) assert.equal((await s.service.reconcile()).failed, 0);
      assert.equal((await s.store.get(b.session_id))?.status, 'ready');
    });
  });

  test('a machine really gone: failed on the Nth consecutive pass, once status() agrees', async () => {
    await withReadySession(async (s, fake, b) => {
      fake.hidden.add(b.container_id);
      fake.statusAnswer = 'missing';
      for (let i = 1; i < missesBeforeFailing; i++) {
        const stats = await s.service.reconcile();
        assert.deepEqual([stats.failed, stats.unseen], [0, 1], `pass ${i}`);
      }
      assert.equal((await s.service.reconcile()).failed, 1);
      const failed = await s.store.get(b.session_id);
      assert.equal(failed?.status, 'failed');
      assert.match(failed!.error!, /disappeared/);
    });
  });
});

describe('an id is reused only when the provider confirms its machine gone', () => {
  test('a destroy that resolves while the machine is still there keeps the id held, and no new session gets it', async () => {
    const fake = new InvisibleDestroyProvider();
    const s = await startTestServer({ provider: fake, reaper: false, env: { WINUX_SESSIONS_PER_VISITOR: '0' } });
    try {
      const a = await readySession(s);
      fake.blind = true;
      const del = await s.request('DELETE', `${api}/sessions/${a.session_id}`, { token: a.token });
      assert.equal(del.status, 202);
      await s.service.idle();
      const after = await s.store.get(a.session_id);
      assert.equal(after?.holdsContainer, true, 'still held: the machine is still there');
      assert.notEqual(after?.status, 'destroyed');
      const b = await readySession(s);
      assert.notEqual(b.container_id, a.container_id, 'the live machine id is not handed out again');
      // Once the provider can remove it, the retry confirms it gone and the id is free again.
      fake.blind = false;
      await s.service.destroy(a.session_id, 'retry', { wait: true });
      await s.service.retryStuck();
      await s.service.idle();
      await waitFor(async () => (await s.store.get(a.session_id))?.holdsContainer === false, 5_000, 'released');
    } finally {
      await s.close();
    }
  });
});
