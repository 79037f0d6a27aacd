// Browser-test harness: the real Winux server (createApp + SessionService + SQLite)
// with a behaviour-fake provider whose creation can be held at any step, and a
// server clock the test can move forward. Plus a Chromium launcher.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { loadConfig, type Config } from '../../src/config.ts';
import type { Clock } from '../../src/core/clock.ts';
import { SessionService } from '../../src/core/service.ts';
import type { CreationStep } from '../../src/core/session.ts';
import { createApp } from '../../src/http/app.ts';
import { silentLogger } from '../../src/logger.ts';
import type { CreatedMachine, CreateContext, CreateSpec, ManagedMachine, Provider, ProviderRef } from '../../src/providers/provider.ts';
import { Store } from '../../src/store/store.ts';

export const outDir = path.resolve(import.meta.dirname, '..', '..', 'test-output', 'web');
fs.mkdirSync(outDir, { recursive: true });

/** A clock that runs with real time but can be moved forward by hand. */
export function shiftedClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref?.(); return t; },
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    advance: (ms) => { offset += ms; },
  };
}

const steps: CreationStep[] = ['allocating', 'cloning', 'starting', 'network', 'desktop'];

/**
 * A provider that walks through the real creation steps. `holdAt(step)` makes the
 * next creations stop once they have reported that step, until `release()`.
 */
export class SteppingProvider implements Provider {
  readonly name = 'lxc' as const;
  readonly machines = new Map<number, ManagedMachine>();
  stepMs = 30;
  failWith: string | null = null;
  private hold: CreationStep | null = null;
  private waiting: Array<() => void> = [];
  reached = new Set<CreationStep>();

  holdAt(step: CreationStep | null): void { this.hold = step; }
  release(): void {
    this.hold = null;
    for (const go of this.waiting.splice(0)) go();
  }

  async create(spec: CreateSpec, ctx: CreateContext): Promise<CreatedMachine> {
    for (const step of steps) {
      ctx.progress(step);
      this.reached.add(step);
      await new Promise((r) => setTimeout(r, this.stepMs));
      if (this.hold === step) await new Promise<void>((r) => this.waiting.push(r));
      if (ctx.signal.aborted) throw new Error('aborted');
    }
    if (this.failWith) throw new Error(this.failWith);
    const ref: ProviderRef = { containerId: spec.containerId, name: spec.hostname };
    this.machines.set(spec.containerId, { containerId: spec.containerId, ref, state: 'running' });
    return { ref, node: 'local', ip: `10.217.0.${spec.containerId % 250 + 2}`, endpoint: { host: null, port: 33890 + (spec.containerId % 1000) } };
  }
  async destroy(ref: ProviderRef): Promise<void> { this.machines.delete(ref.containerId); }
  async status(ref: ProviderRef) { return this.machines.has(ref.containerId) ? 'running' as const : 'missing' as const; }
  async list() { return [...this.machines.values()]; }
  async check() { return [{ name: 'fake', ok: true, detail: 'test provider' }]; }
}

export interface Winux {
  url: string;
  service: SessionService;
  provider: SteppingProvider;
  clock: ReturnType<typeof shiftedClock>;
  config: Config;
  close(): Promise<void>;
}

export async function startWinux(env: Record<string, string> = {}): Promise<Winux> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'winux-web-'));
  const config = loadConfig({
    WINUX_DATA_DIR: dataDir,
    WINUX_CREATE_RATE_PER_MINUTE: '0',
    WINUX_PUBLIC_HOST: 'winux.example.test',
    WINUX_LOG_LEVEL: 'silent',
    ...env,
  });
  const store = await Store.open(`sqlite:${path.join(dataDir, 'winux.db')}`);
  const clock = shiftedClock();
  const provider = new SteppingProvider();
  const service = new SessionService({ config, store, provider, logger: silentLogger, clock });
  const app = await createApp({ config, service, store, provider, clock, logger: silentLogger, adminToken: 'admin-token-for-web-tests-0123456789' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    service, provider, clock, config,
    async close() {
      provider.release();
      await app.close();
      await service.shutdown?.(2000).catch(() => {});
      await store.close?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: chromiumArgs });
}

export interface PageOptions {
  locale?: string;
  width?: number;
  height?: number;
  permissions?: string[];
}

export async function openPage(browser: Browser, base: string, o: PageOptions = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: { width: o.width ?? 1280, height: o.height ?? 800 },
    locale: o.locale ?? 'fr-FR',
    permissions: o.permissions ?? [],
    deviceScaleFactor: 1,
  });
  // Record notifications the page shows (the headless browser displays none).
  // A string, not a function: tsx would inject helpers the page does not have.
  await context.addInitScript({ content: `(() => {
    const shown = [];
    window.__notes = shown;
    const Real = window.Notification;
    if (!Real) return;
    class Recorded extends Real {
      constructor(title, options) { super(title, options); shown.push({ title, body: options && options.body }); }
    }
    Object.defineProperty(window, 'Notification', { value: Recorded, configurable: true, writable: true });
  })();` });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  (page as unknown as { jsErrors: string[] }).jsErrors = errors;
  return { context, page };
}

/** Polls `fn` until it returns a truthy value (behaviour, not timing: the bound is only a safety net). */
export async function until<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function shot(page: Page, name: string) {
  return page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
}
