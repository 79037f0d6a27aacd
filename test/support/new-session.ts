// A NewSession for store tests: a creating session with harmless values, `over` last.
import type { NewSession } from '../../src/core/store-port.ts';

export function newSessionFields(id: string, createdAt: number, over: Partial<NewSession> = {}): NewSession {
  return {
    id,
    status: 'creating',
    step: 'allocating',
    pooled: false,
    node: null,
    ip: null,
    endpointHost: null,
    port: null,
    username: 'winux',
    password: 'pw',
    tokenHash: 'h',
    visitor: 'v',
    providerRef: null,
    createdAt,
    readyAt: null,
    expiresAt: createdAt + 60_000,
    endedAt: null,
    durationMinutes: 1,
    error: null,
    ...over,
  };
}
