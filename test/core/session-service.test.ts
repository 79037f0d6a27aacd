// SessionService on its own (test/support/standalone-service.ts): a real store,
// a behaviour fake, a clock moved by hand; no HTTP.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProviderRef } from '../../src/core/provider-port.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { standaloneService } from '../support/standalone-service.ts';

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

describe('SessionService', () => {
  test('create → ready → destroy → destroyed, and the container is gone', async () => {
    const fake = new FakeProvider();
    const { service, close } = await standaloneService({ provider: fake });
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
    const { service, clock, close } = await standaloneService({ provider: fake });
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
