// Browser-test harness: the real Winux server (createApp + SessionService + SQLite)
// with a behaviour-fake provider whose creation can be held at any step, and a
// server clock the test can move forward. Plus a Chromium launcher.
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Clock } from '../../src/core/clock.ts';
import type { CreationStep } from '../../src/core/session.ts';
import type { CreatedMachine, CreateContext, CreateSpec, MachineUsage, ManagedMachine, Provider, ProviderRef } from '../../src/core/provider-port.ts';
import type { Duplex } from 'node:stream';
import { startTestServer, type TestServer } from '../support/server.ts';
import { VncDesktop } from '../support/vnc-desktop.ts';

export const outDir = path.resolve(import.meta.dirname, '..', '..', 'test-output', 'web');
fs.mkdirSync(outDir, { recursive: true });

/** A clock that runs with real time but can be moved forward by hand. */
export function shiftedClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    setTimeout: (fn, ms) => {
      const t = setTimeout(fn, ms);
      t.unref?.();
      return t;
    },
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    advance: (ms) => {
      offset += ms;
    },
  };
}

const steps: CreationStep[] = ['allocating', 'cloning', 'starting', 'network', 'desktop'];

/**
 * A provider that walks through the real creation steps. `holdAt(step)` makes the
 * next creations stop once they have reported that step, until `release()`.
 */
/** A fingerprint in the form node's X509Certificate gives (32 hex pairs), distinct per container. */
export function fakeFingerprint(containerId: number): string {
  return Array.from({ length: 32 }, (_, i) => ((containerId + i * 7) % 256).toString(16).padStart(2, '0').toUpperCase()).join(':');
}

export class SteppingProvider implements Provider {
  readonly name = 'stepping';
  readonly machines = new Map<number, ManagedMachine>();
  stepMs = 30;
  failWith: string | null = null;
  private hold: CreationStep | null = null;
  private waiting: Array<() => void> = [];
  reached = new Set<CreationStep>();
  /** What `usage` reports per container id (a test sets it to play busy or idle desktops). */
  readonly load = new Map<number, MachineUsage>();
  /** With `desktops`, each machine gets a real Xtigervnc (VNC auth by the session's password), reached by `openDesktop`. */
  desktops: Map<number, VncDesktop> | null = null;

  withDesktops(): this {
    this.desktops ??= new Map();
    return this;
  }

  holdAt(step: CreationStep | null): void {
    this.hold = step;
  }
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
    if (this.desktops) this.desktops.set(spec.containerId, await new VncDesktop().start(spec.password));
    // A certificate fingerprint like the LXC provider's (the page shows it with the credentials).
    const ref: ProviderRef = { containerId: spec.containerId, name: spec.hostname, certSha256: fakeFingerprint(spec.containerId) };
    this.machines.set(spec.containerId, { containerId: spec.containerId, ref, state: 'running' });
    return { ref, node: 'local', ip: `10.217.0.${(spec.containerId % 250) + 2}`, endpoint: { host: null, port: 33890 + (spec.containerId % 1000) } };
  }
  async destroy(ref: ProviderRef): Promise<void> {
    this.machines.delete(ref.containerId);
    await this.desktops?.get(ref.containerId)?.stop();
    this.desktops?.delete(ref.containerId);
  }
  /** A connected stream to the session's VNC server (the provider port's openDesktop). */
  async openDesktop(ref: ProviderRef, signal?: AbortSignal): Promise<Duplex> {
    const d = this.desktops?.get(ref.containerId);
    if (!d) throw new Error(`no desktop for ${ref.containerId}`);
    return d.connect(signal);
  }
  /** The desktop of the one machine with one (tests run one session at a time). */
  desktopOf(containerId: number): VncDesktop {
    const d = this.desktops?.get(containerId);
    if (!d) throw new Error(`no desktop for ${containerId}`);
    return d;
  }
  async stopDesktops(): Promise<void> {
    for (const d of this.desktops?.values() ?? []) await d.stop();
    this.desktops?.clear();
  }
  async status(ref: ProviderRef) {
    return this.machines.has(ref.containerId) ? ('running' as const) : ('missing' as const);
  }
  async list() {
    return [...this.machines.values()];
  }
  async check() {
    return [{ name: 'fake', ok: true, detail: 'test provider' }];
  }
  async usage(refs: ProviderRef[]): Promise<Map<number, MachineUsage>> {
    const out = new Map<number, MachineUsage>();
    for (const r of refs) {
      const u = this.load.get(r.containerId);
      if (u && this.machines.has(r.containerId)) out.set(r.containerId, u);
    }
    return out;
  }
}

export interface Winux extends Omit<TestServer, 'close'> {
  stepper: SteppingProvider;
  clock: ReturnType<typeof shiftedClock>;
  close(options?: { keepData?: boolean }): Promise<void>;
}

/** The real Winux server from test/support, around the stepping provider and a movable clock. */
export async function startWinux(
  env: Record<string, string> = {},
  again?: { stepper?: SteppingProvider; dataDir?: string; keepData?: boolean },
): Promise<Winux> {
  const stepper = again?.stepper ?? new SteppingProvider();
  const clock = shiftedClock();
  const server = await startTestServer({
    provider: stepper,
    clock,
    dataDir: again?.dataDir,
    env: { WINUX_SWEEP_SECONDS: '1', ...env },
  });
  const close = server.close.bind(server);
  return Object.assign(server, {
    stepper,
    clock,
    async close(options: { keepData?: boolean } = {}) {
      stepper.release();
      await close();
      await stepper.stopDesktops();
      if (!options.keepData) fs.rmSync(server.dataDir, { recursive: true, force: true });
    },
  });
}

/**
 * One Winux for the enclosing describe: started before its tests, closed after them.
 * The getter returns it inside the tests (it does not exist yet when the describe body runs).
 */
export function winuxPerSuite(env: Record<string, string> = {}): () => Winux {
  let w: Winux | undefined;
  before(async () => {
    w = await startWinux(env);
  });
  after(async () => {
    await w?.close();
  });
  return () => {
    if (!w) throw new Error('winuxPerSuite: the server is only there inside the tests');
    return w;
  };
}

export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: chromiumArgs });
}

export interface PageOptions {
  locale?: string;
  width?: number;
  height?: number;
  permissions?: string[];
  colorScheme?: 'light' | 'dark';
  /** A phone: touch, mobile viewport rules. */
  mobile?: boolean;
}

export async function openPage(browser: Browser, _base: string, o: PageOptions = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: { width: o.width ?? 1280, height: o.height ?? 800 },
    locale: o.locale ?? 'fr-FR',
    permissions: o.permissions ?? [],
    colorScheme: o.colorScheme ?? 'light',
    deviceScaleFactor: 1,
    isMobile: o.mobile ?? false,
    hasTouch: o.mobile ?? false,
  });
  // Record notifications the page shows (the headless browser displays none).
  // A string, not a function: tsx would inject helpers the page does not have.
  await context.addInitScript({
    content: `(() => {
    const shown = [];
    window.__notes = shown;
    const Real = window.Notification;
    if (!Real) return;
    class Recorded extends Real {
      constructor(title, options) { shown.push({ title, body: options && options.body }); super(title, options); }
    }
    Object.defineProperty(window, 'Notification', { value: Recorded, configurable: true, writable: true });
  })();`,
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
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
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The text an element shows. */
export const text = (page: Page, selector: string) => page.locator(selector).innerText();

export function shot(page: Page, name: string) {
  return page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
}

/** The countdown as seconds (mm:ss or h:mm:ss). */
export async function timerSeconds(page: Page): Promise<number> {
  const parts = (await page.locator('#timer').innerText()).trim().split(':').map(Number);
  return parts.reduce((acc, n) => acc * 60 + n, 0);
}

/** Dispatches the event the page uses to re-synchronise at once (as when a visitor comes back to the tab). */
export function resyncNow(page: Page) {
  return page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
}
