// What /health says about the provider: a check that never answers fails, it does not hang.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { providerHealth } from '../../src/http/health.ts';
import { FakeProvider } from '../support/fake-provider.ts';

test('a provider check that never answers is reported failing after the timeout', async () => {
  const silent = new FakeProvider();
  silent.check = () => new Promise(() => {});
  // The timeout's timer does not hold the process open (unref): this one does, for the test.
  const alive = setTimeout(() => {}, 5_000);
  const check = await providerHealth(silent, 50)();
  clearTimeout(alive);
  assert.deepEqual(check, { ok: false, detail: 'check failed: no answer within 0.05 s' });
});
