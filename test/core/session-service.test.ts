// SessionService on its own, as json-server tests its service: a real store
// (SQLite in memory), a behaviour fake, a clock moved by hand; no HTTP.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import type { ProviderRef } from '../../src/core/provider-port.ts';
import { SessionService } from '../../src/core/service.ts';
import { silentLogger } from '../../src/logger.ts';
import { Store } from '../../src/store/store.ts';
import { ManualClock } from '../support/clock.ts';
import { FakeProvider } from '../support/fake-provider.ts';

/** Counts how many removals run at once; each takes a moment. */
class CountingProvider extends FakeProvider {
  running = 0;
  most = 0;
  override async destroy(ref: ProviderRef): Promise<void> {
    this.running++;
    this.most = Math.max(this.most, this.running);
    await new Promise((r) => setTimeout(r, 20));
    this.running--;
    return super.destroy(ref);
  }
}

async function build(provider: FakeProvider) {
  const config = loadConfig({ WINUX_SESSIONS_PER_VISITOR: '0', WINUX_DATA_DIR: '/nonexistent-not-used' });
  const store = await Store.open('sqlite::memory:', { secretKey: randomBytes(32) });
  const clock = new ManualClock(Date.now());
  const service = new SessionService({ config, store, provider, logger: silentLogger, clock });
  return {
    service,
    store,
    clock,
    close: async () => {
      await service.shutdown(1000);
      await store.close();
    },
  };
}

describe('SessionService', () => {
  test('create → ready → destroy → destroyed, and the container is gone', async () => {
    const fake = new FakeProvider();
    const { service, close } = await build(fake);
    try {
      const { session, token } = await service.create({ visitor: '192.0.2.1' });
      assert.equal(session.status, 'creating');
      assert.ok(token.length > 20);
      await service.idle();
      assert.equal((await service.get(session.id)).status, 'ready');
      await service.destroy(session.id, 'test', { wait: true });
      assert.equal((await service.get(session.id)).status, 'destroyed');
      assert.equal(fake.machines().length, 0);
    } finally {
      await close();
    }
  });

  test('ending many expired sessions at once calls the provider a few at a time', async () => {
    const fake = new CountingProvider();
    const { service, clock, close } = await build(fake);
    try {
      for (let i = 0; i < 20; i++) await service.create({ visitor: `192.0.2.${i + 1}`, durationMinutes: 1 });
      await service.idle();
      clock.advance(61_000);
      const ended = await service.cleanupExpired({ wait: true });
      assert.equal(ended.length, 20);
      assert.ok(fake.most <= 8, `at most 8 removals at once (saw ${fake.most})`);
      assert.equal(fake.machines().length, 0);
    } finally {
      await close();
    }
  });
});
