// A small stock of fresh RSA keys for the sessions' RDP certificates, made in
// the host's idle time so that a visitor's click does not wait for one.
//
// Generating a 2048-bit RSA key is a search for primes: 0.1 to 0.7 s of CPU,
// at random, which a cold session used to spend inside its container on the
// click's path (on 2 cores shared with the desktop starting). Here the key is
// made by Node on its thread pool (the event loop goes on) and only when no
// create is running, so the stock never competes with a desktop coming up.
// Each key is handed to one session and forgotten: taken out of the stock, sent
// on winux-session-init's stdin, never written to the host's disk or a log.
// An empty stock is not an error: the container then makes its own key. The
// first fill waits a moment (unref'd), so a short command that builds a provider
// (cleanup, doctor) exits without making keys nobody will use.
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';

const generateRsa = promisify(generateKeyPair);

/** What the provider asks of the stock. */
export interface TlsKeyStock {
  /** A fresh PEM (PKCS#8) private key for one session, or undefined when none is ready. Marks a create as running. */
  take(): string | undefined;
  /** The create that took (or tried to take) a key has ended: the stock may refill once nothing else runs. */
  release(): void;
  /** Settles when the stock has stopped working (tests, shutdown). */
  idle(): Promise<void>;
}

export function createTlsKeyStock(size = 2, makeKey: () => Promise<string> = newRsaKey, firstFillAfterMs = 2000): TlsKeyStock {
  const keys: string[] = [];
  let creating = 0;
  let filling: Promise<void> | undefined;

  function fill(): void {
    if (filling || creating > 0 || keys.length >= size) return;
    filling = (async () => {
      // Re-checked before each key: a create that starts meanwhile stops the refill.
      while (creating === 0 && keys.length < size) keys.push(await makeKey());
    })()
      .catch(() => {
        // A failed generation leaves the stock as it is: the containers make their own keys.
      })
      .finally(() => {
        filling = undefined;
      });
  }

  setTimeout(fill, firstFillAfterMs).unref();
  return {
    take() {
      creating += 1;
      return keys.shift();
    },
    release() {
      creating = Math.max(0, creating - 1);
      fill();
    },
    async idle() {
      while (filling) await filling;
    },
  };
}

/** A new 2048-bit RSA private key, PEM (PKCS#8): what xrdp and openssl read. */
export async function newRsaKey(): Promise<string> {
  const { privateKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return privateKey;
}
