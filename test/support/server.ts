// Starts a real Winux server (real store, real HTTP on 127.0.0.1, port 0) around
// any provider: the fake for core tests, a real one for provider tests.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import type { Clock } from '../../src/core/clock.ts';
import { createLogger, silentLogger, type Logger } from '../../src/logger.ts';
import type { Provider } from '../../src/core/provider-port.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { FakeProvider } from './fake-provider.ts';

export interface TestServerOptions {
  provider?: Provider;
  /** Environment variables as a deployment would set them. */
  env?: Record<string, string>;
  config?: Partial<Config>;
  clock?: Clock;
  reaper?: boolean;
  logger?: Logger;
  /** Reuse a data dir (restart tests). */
  dataDir?: string;
}

export interface TestServer extends RunningServer {
  config: Config;
  provider: Provider;
  dataDir: string;
  /** fetch() against the server with JSON defaults; `token` becomes a bearer header. */
  request(
    method: string,
    urlPath: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
}

const tempDirs: string[] = [];
// Test data directories hold an admin token and an encryption key: they go
// when the test file's process ends, whatever the tests did.
process.once('exit', () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = 'winux-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? tempDir();
  const config = loadConfig(
    {
      WINUX_DATA_DIR: dataDir,
      WINUX_HOST: '127.0.0.1',
      WINUX_PORT: '0',
      WINUX_CREATE_RATE_PER_MINUTE: '0',
      // Every test client is 127.0.0.1: the per-address cap is tested where a test sets it.
      WINUX_SESSIONS_PER_ADDRESS: '0',
      ...options.env,
    },
    options.config,
  );
  const provider = options.provider ?? new FakeProvider();
  const logger = options.logger ?? (process.env.WINUX_TEST_LOGS ? createLogger('debug') : silentLogger);
  const server = await startServer({ config, provider, logger, clock: options.clock, reaper: options.reaper });
  const request: TestServer['request'] = async (method, urlPath, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(server.url + urlPath, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return { ...server, config, provider, dataDir, request };
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Polls a session through the API (as its owner) until it is `ready`; fails fast if it fails. */
export async function waitForReady(server: TestServer, id: string, token: string, timeoutMs = 30_000): Promise<any> {
  return waitFor(
    async () => {
      const r = await server.request('GET', `/api/winux/sessions/${id}`, { token });
      if (r.body.status === 'failed') throw new Error(`creation failed: ${r.body.error}`);
      return r.body.status === 'ready' ? r.body : null;
    },
    timeoutMs,
    `session ${id} to be ready`,
  );
}

/**
 * A session created through the API (as a visitor would) and polled until `ready`:
 * what the tests connect with.
 */
export async function createReadySession(server: TestServer, timeoutMs = 30_000) {
  const created = await server.request('POST', '/api/winux/sessions', {});
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const ready = await waitForReady(server, created.body.session_id, created.body.token, timeoutMs);
  return {
    id: ready.session_id as string,
    token: created.body.token as string,
    containerId: ready.container_id as number,
    ip: ready.ip as string,
    port: ready.port as number,
    username: ready.username as string,
    password: ready.password as string,
  };
}

/**
 * The environment that gives a test file (or bench) its own `count` container ids
 * from `firstId` (and RDP ports from `firstPort`), so that files never share a
 * container, and lifts the per-visitor and creation-rate limits its sessions would hit.
 */
export function ownRange(firstId: number, count: number, firstPort?: number): { env: Record<string, string>; ids: number[] } {
  const env: Record<string, string> = {
    WINUX_CONTAINER_ID_MIN: String(firstId),
    WINUX_CONTAINER_ID_MAX: String(firstId + count - 1),
    WINUX_SESSIONS_PER_VISITOR: '0',
    WINUX_CREATE_RATE_PER_MINUTE: '0',
  };
  if (firstPort !== undefined) Object.assign(env, { WINUX_RDP_PORT_MIN: String(firstPort), WINUX_RDP_PORT_MAX: String(firstPort + count - 1) });
  return { env, ids: Array.from({ length: count }, (_, i) => firstId + i) };
}
