// A few typed domain errors, each with a machine `code`, an HTTP status and a
// message written for a person. The HTTP layer translates them; nothing else does.

export class WinuxError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'WinuxError';
  }
}

export const errors = {
  badRequest: (message: string, details?: Record<string, unknown>) => new WinuxError('bad_request', 400, message, details),
  unauthorized: (message = 'This action needs a session token or the admin token (Authorization: Bearer …).') => new WinuxError('unauthorized', 401, message),
  forbidden: (message = 'This token does not give access to that.') => new WinuxError('forbidden', 403, message),
  notFound: (message = 'No such session.') => new WinuxError('not_found', 404, message),
  conflict: (message: string, details?: Record<string, unknown>) => new WinuxError('conflict', 409, message, details),
  visitorLimit: (limit: number) =>
    new WinuxError(
      'visitor_limit',
      429,
      `You already have ${limit === 1 ? 'a session' : `${limit} sessions`} running. End it or wait until it expires before starting another.`,
      { limit },
    ),
  addressLimit: (limit: number) =>
    new WinuxError(
      'address_limit',
      429,
      `${limit} desktops are already running for your network address, the most one address may have. Please wait until one of them ends.`,
      { limit },
    ),
  rateLimited: (retryAfterSeconds: number) =>
    new WinuxError('rate_limited', 429, `Too many new sessions from your address. Try again in ${retryAfterSeconds} s.`, {
      retry_after_seconds: retryAfterSeconds,
    }),
  capacityExhausted: (nextFreeAt?: string) =>
    new WinuxError(
      'capacity_exhausted',
      503,
      nextFreeAt
        ? `All desktops are in use right now. One frees up at ${nextFreeAt}; please try again then.`
        : 'All desktops are in use right now. Please try again in a few minutes.',
      nextFreeAt ? { next_free_at: nextFreeAt } : {},
    ),
  unavailable: (message: string) => new WinuxError('unavailable', 503, message),
};

/**
 * The store cannot be used right now (down, locked, full, read-only): an outage, not a
 * bug, so 503 and clients retry later. The store raises it; the driver's own error is
 * its `cause` (its `code` may be shown, e.g. by /health; its message goes to the log only).
 */
export class StoreUnavailableError extends WinuxError {
  constructor(options?: { cause?: unknown }) {
    super('store_unavailable', 503, 'The session database cannot be used right now. Nothing was changed; please try again in a moment.');
    this.name = 'StoreUnavailableError';
    if (options && 'cause' in options) this.cause = options.cause;
  }
}

/** A provider error: `retryable` marks failures worth another try (timeouts, 5xx, locks). */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProviderError';
  }
}

/**
 * The container id the core chose is occupied by a machine Winux did not create.
 * The core then sets that id aside for a while and retries with another one.
 */
export class ContainerIdTakenError extends ProviderError {
  readonly code = 'container_id_taken';
  constructor(
    readonly containerId: number,
    readonly node: string,
  ) {
    super(`Container id ${containerId} is already used on node ${node} by a container Winux did not create`, true);
    this.name = 'ContainerIdTakenError';
  }
}
