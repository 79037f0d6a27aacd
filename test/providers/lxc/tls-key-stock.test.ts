// The stock of session TLS keys: real RSA keys, each handed out once, made only
// while no create runs, and an empty or broken stock just hands out nothing
// (the container then makes its own key).
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { test } from 'node:test';
import { createTlsKeyStock, newRsaKey } from '../../../src/providers/lxc/tls-key-stock.ts';

/** A key maker that counts its calls and can be held back or made to fail. */
function countingMaker() {
  const made: string[] = [];
  let failing = false;
  return {
    made,
    fail: () => {
      failing = true;
    },
    make: async () => {
      if (failing) throw new Error('no entropy today');
      const key = `key-${made.length + 1}`;
      made.push(key);
      return key;
    },
  };
}

test('a real stock key is a 2048-bit RSA private key in PKCS#8 PEM, a new one each time', async () => {
  const [a, b] = await Promise.all([newRsaKey(), newRsaKey()]);
  assert.match(a, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
  const key = createPrivateKey(a);
  assert.equal(key.asymmetricKeyType, 'rsa');
  assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
  assert.notEqual(a, b);
});

test('the stock fills to its size, hands each key out once, and is empty until it refills', async () => {
  const maker = countingMaker();
  const stock = createTlsKeyStock(2, maker.make, 0);
  await new Promise((r) => setTimeout(r, 10));
  await stock.idle();
  assert.deepEqual(maker.made, ['key-1', 'key-2']);
  assert.equal(stock.take(), 'key-1');
  assert.equal(stock.take(), 'key-2');
  assert.equal(stock.take(), undefined, 'an empty stock hands out nothing');
  for (let i = 0; i < 3; i++) stock.release();
  await stock.idle();
  assert.deepEqual(maker.made, ['key-1', 'key-2', 'key-3', 'key-4'], 'refilled to its size, no more');
});

test('no key is made while a create runs: the refill waits for the last one to end', async () => {
  const maker = countingMaker();
  const stock = createTlsKeyStock(1, maker.make, 0);
  await new Promise((r) => setTimeout(r, 10));
  await stock.idle();
  assert.equal(stock.take(), 'key-1');
  assert.equal(stock.take(), undefined);
  stock.release(); // one of the two creates ended; the other still runs
  await stock.idle();
  assert.deepEqual(maker.made, ['key-1'], 'a key was made during a create');
  stock.release();
  await stock.idle();
  assert.deepEqual(maker.made, ['key-1', 'key-2']);
});

test('a failing key maker leaves the stock empty, and takes still work', async () => {
  const maker = countingMaker();
  maker.fail();
  const stock = createTlsKeyStock(2, maker.make, 0);
  await new Promise((r) => setTimeout(r, 10));
  await stock.idle();
  assert.equal(stock.take(), undefined);
  stock.release();
  await stock.idle();
  assert.deepEqual(maker.made, []);
});
