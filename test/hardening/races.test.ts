// Races that used to end a visitor's session (issue 14, item 5), interleaved on
// purpose: a store wrapper pauses every "begin destroy" between the caller's read and
// its write, and runs the competing move (an extension, a pool claim) right there.
// Every move is a compare-and-set on what it read, so the loser must change nothing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionStore } from '../../src/core/store-port.ts';
import { silentLogger } from '../../src/logger.ts';
import { WarmPool } from '../../src/reaper/pool.ts';
import { standaloneService } from '../support/standalone-service.ts';
import { recordFigures } from './support/drill.ts';

const rounds = 20;

/** The store, except that a move to `destroying` first runs `interleave` (once per arming). */
function pausingStore(store: SessionStore): { store: SessionStore; arm(interleave: () => Promise<void>): void } {
  let pending: (() => Promise<void>) | undefined;
  const wrapped = new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key !== 'transition' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: Parameters<SessionStore['transition']>) => {
        if (args[2] === 'destroying' && pending) {
          const run = pending;
          pending = undefined;
          await run();
        }
        return value.apply(target, args);
      };
    },
  });
  return {
    store: wrapped,
    arm(interleave) {
      pending = interleave;
    },
  };
}

/** A service on its own whose store pauses every move to `destroying` when armed. */
async function build(env: Record<string, string> = {}) {
  let arm!: (interleave: () => Promise<void>) => void;
  const t = await standaloneService({
    env,
    wrapStore: (real) => {
      const paused = pausingStore(real);
      arm = paused.arm;
      return paused.store;
    },
  });
  return { ...t, arm };
}

const figures: Record<string, number> = {};

describe('interleaved moves never end a session wrongly', () => {
  test('an extension committed between the expiry pass reading due sessions and ending them keeps the session', async () => {
    const t = await build();
    let wronglyEnded = 0;
    let extended = 0;
    try {
      for (let i = 0; i < rounds; i++) {
        const { session } = await t.service.create({ visitor: `address:192.0.2.${i}`, durationMinutes: 1 });
        await t.service.idle();
        t.clock.advance(61_000);
        let extendAnswered = false;
        t.arm(async () => {
          await t.service.extend(session.id, 10);
          extendAnswered = true;
          extended++;
        });
        const ended = await t.service.cleanupExpired({ wait: true });
        const after = await t.service.get(session.id);
        assert.ok(extendAnswered, 'the extension ran between the read and the write');
        if (after.status !== 'ready') wronglyEnded++;
        assert.equal(after.status, 'ready', 'the extension answered 200: the session must not end');
        assert.ok(!ended.includes(session.id));
        assert.ok(after.expiresAt > t.clock.now());
        await t.service.destroy(session.id, 'round over', { wait: true });
      }
      // Without an interleaving, the same pass still ends what is due.
      const { session } = await t.service.create({ visitor: 'address:198.51.100.1', durationMinutes: 1 });
      await t.service.idle();
      t.clock.advance(61_000);
      assert.deepEqual(await t.service.cleanupExpired({ wait: true }), [session.id]);
    } finally {
      await t.close();
    }
    figures.extend_expiry_runs = rounds;
    figures.extend_expiry_extended = extended;
    figures.extend_expiry_wrongly_ended = wronglyEnded;
  });

  test('two extensions at once: the second one read a stale expiry and is refused, not silently lost', async () => {
    const t = await build();
    try {
      const { session } = await t.service.create({ visitor: 'address:192.0.2.200', durationMinutes: 30 });
      await t.service.idle();
      const before = (await t.service.get(session.id)).expiresAt;
      const results = await Promise.allSettled([t.service.extend(session.id, 10), t.service.extend(session.id, 10)]);
      const after = (await t.service.get(session.id)).expiresAt;
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      // Each fulfilled extension added its 10 minutes: none was overwritten by the other.
      assert.equal(after - before, ok * 10 * 60_000);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { status?: number }).status, 409);
    } finally {
      await t.close();
    }
  });

  test('a visitor claiming a pool member between the pool reading its old members and recycling them keeps it', async () => {
    const t = await build({ WINUX_POOL_SIZE: '1', WINUX_POOL_MAX_AGE_MINUTES: '1' });
    const pool = new WarmPool({ service: t.service, store: t.store, clock: t.clock, logger: silentLogger, size: 1, maxAgeMs: 60_000, intervalMs: 1e9 });
    let wronglyEnded = 0;
    let claimed = 0;
    try {
      for (let i = 0; i < rounds; i++) {
        await pool.runOnce();
        await t.service.idle();
        const [member] = await t.store.list({ pooled: true, statuses: ['ready'] });
        assert.ok(member, 'a ready pool member');
        t.clock.advance(61_000);
        let visitorSession: string | undefined;
        t.arm(async () => {
          const { session } = await t.service.create({ visitor: `address:203.0.113.${i}` });
          visitorSession = session.id;
          if (session.id === member.id) claimed++;
        });
        await pool.runOnce();
        await t.service.idle();
        assert.equal(visitorSession, member.id, 'the visitor got the member the pool was about to recycle');
        const after = await t.service.get(member.id);
        if (after.status !== 'ready') wronglyEnded++;
        assert.equal(after.status, 'ready', "the visitor's desktop is not recycled");
        assert.equal(after.pooled, false);
        await t.service.destroy(member.id, 'round over', { wait: true });
      }
      // An old member nobody claims is still recycled.
      await pool.runOnce();
      await t.service.idle();
      const [old] = await t.store.list({ pooled: true, statuses: ['ready'] });
      t.clock.advance(61_000);
      const stats = await pool.runOnce();
      assert.equal(stats.recycled, 1);
      assert.notEqual((await t.service.get(old!.id)).status, 'ready');
    } finally {
      pool.stop();
      await t.close();
    }
    figures.claim_recycle_runs = rounds;
    figures.claim_recycle_claimed = claimed;
    figures.claim_recycle_wrongly_ended = wronglyEnded;
    recordFigures('races', figures);
  });
});
