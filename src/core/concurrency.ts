// Every call out to the provider is bounded twice: how many run at once, and how
// long one may take. A provider that hangs then costs a timeout, never a stuck loop.

/** Provider calls one pass makes at once (expiry, orphan removal). */
export const providerConcurrency = 8;

/** Runs `fn` over `items` with at most `limit` at a time; resolves when all have settled (errors are `fn`'s to handle). */
export async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item).catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Rejects with `message` when `promise` has not settled within `ms` (the work itself is not stopped). */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
