// The desktop in the browser (issue 13), in a real Chromium against the real server:
// the "Open in the browser" button, noVNC's canvas showing a real TigerVNC desktop
// (Xtigervnc, VNC auth by the session's password, through Winux's WebSocket), keys
// reaching the X server (xev watches it), the keys menu, the desktop following the
// window, view-only share links and their revocation, the session's end, a phone.
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import path from 'node:path';
import { launchBrowser, openPage, outDir, startWinux, text, until, type Winux, winuxPerSuite } from './harness.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** The window as the visitor sees it (the desktop view is fixed to it). */
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(outDir, `${name}.png`) });

async function liveSession(w: Winux) {
  const [s] = (await w.service.list({ statuses: ['creating', 'ready'] })).filter((x) => !x.pooled);
  return s;
}

async function endAll(w: Winux) {
  for (const s of await w.service.list({ statuses: ['creating', 'ready'] })) await w.service.destroy(s.id, 'test', { wait: true });
}

async function launchToReady(page: Page, w: Winux) {
  await page.goto(`${w.url}/winux/`);
  await page.click('#launch');
  await page.locator('#view-ready').waitFor();
}

/** Distinct colours among a grid of the canvas's pixels (1 means blank). */
async function canvasColours(page: Page, selector = '#desktop canvas'): Promise<{ width: number; height: number; colours: number }> {
  return page.locator(selector).evaluate((c: HTMLCanvasElement) => {
    const ctx = c.getContext('2d');
    if (!ctx || !c.width || !c.height) return { width: c.width, height: c.height, colours: 0 };
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let y = 0; y < c.height; y += 7)
      for (let x = 0; x < c.width; x += 7)
        seen.add(data[(y * c.width + x) * 4] * 65536 + data[(y * c.width + x) * 4 + 1] * 256 + data[(y * c.width + x) * 4 + 2]);
    return { width: c.width, height: c.height, colours: seen.size };
  });
}

/** Key events the X server delivers, as xev prints them ("keysym 0x77, w"). */
function watchKeys(w: Winux, containerId: number): { proc: ChildProcess; keysyms(): string[] } {
  const proc = w.stepper.desktopOf(containerId).client('xev', ['-root', '-event', 'keyboard']);
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  return { proc, keysyms: () => [...out.matchAll(/KeyPress event[\s\S]*?keysym 0x[0-9a-f]+, (\w+)\)/g)].map((m) => m[1]) };
}

/** The X screen's size as the server sees it. */
function xScreenSize(w: Winux, containerId: number): string {
  const r = spawnSync('xdpyinfo', [], { env: { ...process.env, DISPLAY: `:${w.stepper.desktopOf(containerId).display}` }, encoding: 'utf8' });
  return /dimensions:\s+(\d+x\d+)/.exec(r.stdout)?.[1] ?? '';
}

describe('the ready page leads to the browser desktop', () => {
  const w = winuxPerSuite();

  for (const [locale, name, other] of [
    ['fr-FR', 'Ouvrir dans le navigateur', 'Open in the browser'],
    ['en-US', 'Open in the browser', 'Ouvrir dans le navigateur'],
  ] as const) {
    test(`"${name}" is the main action once ready (${locale}), RDP below it`, async () => {
      await endAll(w());
      const { context, page } = await openPage(browser, w().url, { locale });
      await launchToReady(page, w());
      const open = page.getByRole('button', { name, exact: true });
      assert.equal(await open.count(), 1);
      assert.ok(await open.isVisible());
      assert.equal(await page.getByRole('button', { name: other, exact: true }).count(), 0);
      // The one primary button of the view; the .rdp download and credentials stay, after it.
      assert.deepEqual(await page.locator('#view-ready .primary:visible').evaluateAll((els) => els.map((e) => e.id)), ['open-desktop']);
      assert.ok(await page.locator('#rdp').isVisible());
      assert.ok(await page.locator('#v-password').isVisible());
      const order = await page.evaluate(() => {
        const open = document.getElementById('open-desktop')!;
        return Boolean(open.compareDocumentPosition(document.getElementById('rdp')!) & Node.DOCUMENT_POSITION_FOLLOWING);
      });
      assert.ok(order, 'the browser button comes before the RDP section');
      await context.close();
    });
  }

  test('the desktop view fills a 390 px phone without scrolling away; closing it goes back to the page', async () => {
    await endAll(w());
    const { context, page } = await openPage(browser, w().url, { width: 390, height: 844, mobile: true });
    await launchToReady(page, w());
    await page.getByRole('button', { name: 'Ouvrir dans le navigateur', exact: true }).click();
    await page.locator('#desktop .dt-bar').waitFor();
    // No helper functions inside: tsx would name them with a helper the page does not have.
    const box = await page.evaluate(() => {
      const screen = document.querySelector('#desktop .dt-screen')!.getBoundingClientRect();
      return {
        view: document.getElementById('desktop')!.getBoundingClientRect(),
        screen,
        bar: document.querySelector('#desktop .dt-bar')!.getBoundingClientRect(),
        scrollW: document.documentElement.scrollWidth,
        bodyOverflow: getComputedStyle(document.body).overflow,
        touchAction: getComputedStyle(document.querySelector('#desktop .dt-screen')!).touchAction,
      };
    });
    assert.equal(Math.round(box.view.width), 390);
    assert.equal(Math.round(box.view.height), 844);
    // Two rows at most on a phone, every control in sight (none scrolled off the side).
    await shot(page, 'desktop-phone-390');
    assert.ok(box.bar.height <= 100, `toolbar ${box.bar.height}px high`);
    assert.ok(box.screen.height >= 844 - 100, `desktop area ${box.screen.height}px high`);
    const offside = await page
      .locator('#desktop .dt-bar button:visible')
      .evaluateAll((els) => els.filter((e) => e.getBoundingClientRect().right > 390).map((e) => e.id));
    assert.deepEqual(offside, []);
    assert.ok(box.scrollW <= 390, `page ${box.scrollW}px wide`);
    assert.equal(box.bodyOverflow, 'hidden');
    assert.equal(box.touchAction, 'none');
    // The countdown and the phone keyboard button are in the toolbar.
    assert.match(await text(page, '#dt-timer'), /^\d+:\d\d$/);
    assert.ok(await page.locator('#dt-osk').count());
    // No desktop behind this session: the view says it is trying again, with a countdown and a button to retry now.
    await page.locator('#dt-msg').waitFor();
    assert.match(await text(page, '#dt-msg'), /nouvel essai dans \d+ s|Reconnexion/);
    assert.ok(await page.getByRole('button', { name: 'Réessayer maintenant' }).isVisible());
    await shot(page, 'desktop-phone');
    await page.click('#dt-close');
    await page.locator('#desktop').waitFor({ state: 'hidden' });
    assert.ok(await page.locator('#view-ready').isVisible());
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'open-desktop');
    await context.close();
  });
});

describe('view-only pages without a usable link', () => {
  const w = winuxPerSuite();

  test('a share page with a damaged link says so, in French and English', async () => {
    for (const [locale, pattern] of [
      ['fr-FR', /lien est incomplet/],
      ['en-US', /link is incomplete/],
    ] as const) {
      const { context, page } = await openPage(browser, w().url, { locale });
      await page.goto(`${w().url}/winux/share/#broken`);
      await page.locator('#viewer-msg').waitFor();
      assert.match(await text(page, '#msg-body'), pattern);
      assert.equal(await page.locator('#desktop canvas').count(), 0);
      await context.close();
    }
  });

  test('a share link nobody made is refused, and the page says why', async () => {
    const { context, page } = await openPage(browser, w().url, { locale: 'en-US' });
    await page.goto(`${w().url}/winux/share/#aaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbb`);
    await page.locator('#viewer-msg').waitFor({ timeout: 20_000 });
    assert.match(await text(page, '#msg-body'), /does not work/);
    // noVNC's chunk loaded and ran (its top-level await included): only the refused sockets were complained about.
    const errors = (page as unknown as { jsErrors: string[] }).jsErrors.filter(
      (e) => !/WebSocket connection to .* failed|Failed when connecting: Connection closed/.test(e),
    );
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('the admin viewer without a session says where to open it from; /winux/view redirects to /winux/view/', async () => {
    const { context, page } = await openPage(browser, w().url, { locale: 'fr-FR' });
    await page.goto(`${w().url}/winux/view`);
    assert.equal(new URL(page.url()).pathname, '/winux/view/');
    await page.locator('#viewer-msg').waitFor();
    assert.match(await text(page, '#msg-body'), /console d’administration/);
    await context.close();
  });
});

describe('the desktop through Winux (real Xtigervnc behind the fake provider)', () => {
  let w: Winux;
  let context: BrowserContext;
  let page: Page;
  before(async () => {
    w = await startWinux();
    w.stepper.withDesktops();
    ({ context, page } = await openPage(browser, w.url, { permissions: ['clipboard-read', 'clipboard-write'] }));
  });
  after(async () => {
    await context?.close();
    await w?.close();
  });

  test('clicking the button shows the desktop on a canvas, not a blank one', async () => {
    await launchToReady(page, w);
    await page.getByRole('button', { name: 'Ouvrir dans le navigateur', exact: true }).click();
    await page.locator('#desktop[data-state="connected"]').waitFor({ timeout: 20_000 });
    const pixels = await until(async () => {
      const c = await canvasColours(page);
      return c.colours > 1 ? c : null;
    }, 'a desktop frame on the canvas');
    assert.ok(pixels!.width > 0 && pixels!.height > 0);
    assert.match(await text(page, '#dt-state'), /Connecté/);
    await shot(page, 'desktop-browser');
  });

  test('typing on the canvas reaches the X server', async () => {
    const s = await liveSession(w);
    const keys = watchKeys(w, s.containerId);
    try {
      await new Promise((r) => setTimeout(r, 300)); // xev selects its events
      await page.locator('#desktop canvas').click();
      await page.keyboard.type('winux');
      await until(() => keys.keysyms().join('').includes('winux'), 'w i n u x on the X server');
      // The keys menu sends what the browser would keep for itself.
      await page.click('#dt-keys');
      await page.getByRole('menuitem', { name: 'Ctrl+Alt+T' }).click();
      await until(() => {
        const k = keys.keysyms().join(' ');
        return k.includes('Control_L Alt_L t');
      }, 'Ctrl+Alt+T on the X server');
    } finally {
      keys.proc.kill();
    }
  });

  test('the desktop follows the window size', async () => {
    const s = await liveSession(w);
    await page.setViewportSize({ width: 1000, height: 700 });
    const want = await page.locator('#desktop .dt-screen').evaluate((e) => `${Math.floor(e.clientWidth)}x${Math.floor(e.clientHeight)}`);
    await until(() => xScreenSize(w, s.containerId) === want, `the X screen resized to ${want} (is ${xScreenSize(w, s.containerId)})`);
  });

  test('a view-only share link shows the desktop live; revoking it closes the viewer', async () => {
    await page.click('#dt-share');
    await page.click('#share-create');
    const url = await until(() => page.locator('#dt-share-panel input').first().inputValue(), 'a share link');
    assert.match(url, new RegExp(`^${w.url}/winux/share/#[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);
    const viewer = await openPage(browser, w.url, { locale: 'en-US' });
    await viewer.page.goto(url);
    await viewer.page.locator('#desktop[data-state="connected"]').waitFor({ timeout: 20_000 });
    assert.equal(await text(viewer.page, '#dt-viewonly'), 'View only');
    await until(async () => (await canvasColours(viewer.page)).colours > 1, 'the shared desktop on the canvas');
    // View-only in the page too: no keys, clipboard or keyboard buttons.
    assert.equal(await viewer.page.locator('#dt-keys, #dt-clip, #dt-osk').count(), 0);
    await until(async () => /1 /.test(await text(page, '#dt-share-panel li')), 'one viewer counted');
    await shot(viewer.page, 'share-viewer');
    await page.locator('#dt-share-panel [data-act="revoke"]').click();
    await viewer.page.locator('#viewer-msg').waitFor();
    assert.match(await text(viewer.page, '#msg-body'), /revoked/);
    assert.equal(await viewer.page.locator('#desktop canvas').count(), 0);
    await shot(viewer.page, 'share-revoked');
    await viewer.context.close();
  });

  test('when the session ends the canvas closes and the page says why', async () => {
    if ((await page.locator('#dt-share-panel').isVisible()) === true) await page.click('#dt-share');
    const s = await liveSession(w);
    await w.service.destroy(s.id, 'expired', { wait: true });
    await page.locator('#desktop').waitFor({ state: 'hidden' });
    await page.locator('#view-ended').waitFor();
    assert.match(await text(page, '#ended-title'), /expiré|terminée|introuvable/);
    assert.equal(await page.locator('#desktop canvas').count(), 0);
  });
});

describe('"open the desktop in this browser as soon as it is ready" (one click to the desktop)', () => {
  let w: Winux;
  before(async () => {
    w = await startWinux();
    w.stepper.withDesktops();
  });
  after(async () => {
    await w?.close();
  });

  test('ticked before launching, the desktop opens by itself once ready; the choice is remembered, and unticked it is not', async () => {
    const { context, page } = await openPage(browser, w.url);
    await page.goto(`${w.url}/winux/`);
    assert.equal(await page.getByRole('checkbox', { name: /Ouvrir le bureau dans ce navigateur/ }).isChecked(), false);
    await page.getByRole('checkbox', { name: /Ouvrir le bureau dans ce navigateur/ }).check();
    w.stepper.holdAt('network');
    await page.click('#launch');
    await page.locator('#view-creating').waitFor();
    assert.ok(await page.locator('#desktop').isHidden(), 'nothing opens before the session is ready');
    w.stepper.release();
    // No second click: the view opens and shows the desktop.
    await page.locator('#desktop[data-state="connected"]').waitFor({ timeout: 20_000 });
    await until(async () => (await canvasColours(page)).colours > 1, 'a desktop frame on the canvas');
    // The ready page is there behind it, with its button and the RDP credentials.
    await page.click('#dt-close');
    await page.locator('#desktop').waitFor({ state: 'hidden' });
    assert.ok(await page.getByRole('button', { name: 'Ouvrir dans le navigateur', exact: true }).isVisible());
    assert.ok(await page.locator('#v-password').isVisible());
    await endAll(w);
    // A reload remembers the choice (the page forgets the ended session, to show the launch view again);
    // unticked, the next launch stops at the ready page.
    await page.evaluate(() => localStorage.removeItem('winux.last'));
    await page.reload();
    const box = page.getByRole('checkbox', { name: /Ouvrir le bureau dans ce navigateur/ });
    await box.waitFor();
    assert.equal(await box.isChecked(), true);
    await box.uncheck();
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(await page.locator('#desktop').isHidden());
    await endAll(w);
    await page.evaluate(() => localStorage.removeItem('winux.last'));
    await page.reload();
    await page.locator('#open-at-once').waitFor();
    assert.equal(await page.locator('#open-at-once').isChecked(), false);
    await context.close();
  });

  test('noVNC comes while the page loads (modulepreload), once: opening the desktop fetches no more of it', async () => {
    const { context, page } = await openPage(browser, w.url);
    const fetched: string[] = [];
    page.on('request', (r) => fetched.push(r.url()));
    await page.goto(`${w.url}/winux/`, { waitUntil: 'load' });
    const preload = await page.evaluate(() => (document.querySelector('link[rel="modulepreload"]') as HTMLLinkElement | null)?.href);
    assert.ok(preload, 'the visitor page names a module to preload');
    assert.equal(fetched.filter((u) => u === preload).length, 1, 'fetched before any click');
    // It is noVNC's chunk: the RFB client, with the protocol versions it speaks.
    assert.match(await (await fetch(preload!)).text(), /"003\.008"/);
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
    await page.getByRole('button', { name: 'Ouvrir dans le navigateur', exact: true }).click();
    await page.locator('#desktop[data-state="connected"]').waitFor({ timeout: 20_000 });
    assert.equal(fetched.filter((u) => u === preload).length, 1, 'the import() at the click reused the preloaded module');
    const scripts = fetched.filter((u) => /\.js(\?|$)/.test(u));
    assert.equal(new Set(scripts).size, scripts.length, `no script fetched twice: ${scripts.join(', ')}`);
    await context.close();
  });
});
