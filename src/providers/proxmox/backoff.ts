import { ProviderError } from '../../core/errors.ts';

// Sleeping and retrying that respect an AbortSignal, with jittered exponential
// backoff (as JupyterHub's `exponential_backoff`), so many sessions polling at
// once do not move in lockstep.
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface Backoff {
  /** Waits the next interval (grows ×1.6 up to `maxMs`, ±25 % jitter). */
  wait(signal?: AbortSignal): Promise<void>;
  reset(): void;
}

export function backoff(startMs: number, maxMs: number): Backoff {
  let next = startMs;
  return {
    async wait(signal) {
      const ms = next * (0.75 + Math.random() * 0.5);
      next = Math.min(maxMs, next * 1.6);
      await sleep(ms, signal);
    },
    reset() {
      next = startMs;
    },
  };
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; startMs: number; maxMs: number; signal?: AbortSignal; what: string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const b = backoff(opts.startMs, opts.maxMs);
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new TimeoutError(`Timed out after ${Math.round(opts.timeoutMs / 1000)} s waiting for ${opts.what}`);
    await b.wait(opts.signal);
  }
}

export class TimeoutError extends ProviderError {
  constructor(message: string) {
    super(message, true);
    this.name = 'TimeoutError';
  }
}
