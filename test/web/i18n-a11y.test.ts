// Languages, accessibility, phone width, dark mode and the weight of the first load.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, openPage, outDir, shot, startWinux, text, until, type Winux } from './harness.ts';

let browser: Browser;
let w: Winux;
before(async () => {
  browser = await launchBrowser();
  w = await startWinux();
});
after(async () => {
  await browser?.close();
  await w?.close();
});

// The files the server sends: web/ built into web/dist (web/build.ts), without their .br/.gz copies.
const webDir = path.resolve(import.meta.dirname, '..', '..', 'web', 'dist');

/** Ends every live session: all browser contexts share the visitor address 127.0.0.1. */
async function endAll() {
  for (const s of await w.service.list({ statuses: ['creating', 'ready'] })) await w.service.destroy(s.id, 'test', { wait: true });
}

async function launchToReady(page: Page) {
  await page.goto(`${w.url}/winux/`);
  await page.click('#launch');
  await page.locator('#view-ready').waitFor();
}

/** Nothing wider than the viewport: no sideways scrolling. */
async function assertNoSideScroll(page: Page, where: string) {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(scroll <= client, `${where}: page is ${scroll}px wide in a ${client}px viewport`);
}

describe('languages', () => {
  test('French by default, and for languages the page does not speak', async () => {
    for (const locale of ['fr-FR', 'de-DE']) {
      const { context, page } = await openPage(browser, w.url, { locale });
      await page.goto(`${w.url}/winux/`);
      await page.locator('#launch').waitFor();
      assert.equal(await page.getAttribute('html', 'lang'), 'fr');
      assert.equal(await page.locator('#launch').textContent(), '✨ Lancer une session Winux');
      assert.equal(await text(page, '#lang'), 'EN');
      await context.close();
    }
  });

  test('English from the browser languages, throughout a session', async () => {
    await endAll();
    const { context, page } = await openPage(browser, w.url, { locale: 'en-GB' });
    await page.goto(`${w.url}/winux/`);
    await page.locator('#launch').waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal(await page.locator('#launch').textContent(), '✨ Launch a Winux session');
    await until(async () => (await text(page, '#facts')).includes('30 min session, extendable up to 4 h'), 'English facts');
    assert.equal(await page.title(), 'Winux — a Linux desktop in one click');
    await shot(page, 'desktop-idle-en');
    w.stepper.holdAt('cloning');
    await page.click('#launch');
    await until(async () => (await text(page, '#steps li.current')) === 'Copying the desktop image', 'English steps');
    w.stepper.release();
    await page.locator('#view-ready').waitFor();
    assert.equal(await text(page, '#ready-title'), 'Your desktop is ready');
    assert.equal(await text(page, '#k-password'), 'Password');
    assert.match(await text(page, '#until'), /^Until /);
    assert.match(await text(page, '#extend'), /Extend by 30 min/);
    assert.equal(await page.locator('#end').innerText(), 'End my session');
    await shot(page, 'desktop-ready-en');
    await context.close();
  });

  test('the toggle switches language in place and is remembered', async () => {
    await endAll();
    const { context, page } = await openPage(browser, w.url, { locale: 'en-US' });
    await launchToReady(page);
    await page.click('#lang');
    assert.equal(await page.getAttribute('html', 'lang'), 'fr');
    assert.equal(await text(page, '#ready-title'), 'Votre bureau est prêt');
    assert.equal(await text(page, '#k-password'), 'Mot de passe');
    assert.equal(await text(page, '#lang'), 'EN');
    assert.equal(await page.getAttribute('#lang', 'aria-label'), 'Switch to English');
    await page.reload();
    await page.locator('#view-ready').waitFor();
    assert.equal(await text(page, '#ready-title'), 'Votre bureau est prêt');
    await page.click('#lang');
    assert.equal(await text(page, '#ready-title'), 'Your desktop is ready');
    assert.equal(await page.evaluate(() => localStorage.getItem('winux.lang')), 'en');
    await context.close();
  });
});

describe('accessibility', () => {
  test('keyboard only: visible focus everywhere, launch, copy, end with a dialog', async () => {
    await endAll();
    const { context, page } = await openPage(browser, w.url, { permissions: ['clipboard-read', 'clipboard-write'] });
    await page.goto(`${w.url}/winux/`);
    await page.locator('#launch').waitFor();
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        const style = getComputedStyle(el);
        return { id: el.id, cls: el.className, outline: style.outlineStyle, width: parseFloat(style.outlineWidth), visible: el.matches(':focus-visible') };
      });
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      const f = await focused();
      assert.ok(f.visible && f.outline !== 'none' && f.width >= 2, `focus ring on ${f.id || f.cls}: ${JSON.stringify(f)}`);
      seen.push(f.id || f.cls);
    }
    assert.deepEqual(seen, ['skip', 'brand', 'lang', 'launch']);
    await shot(page, 'desktop-focus');
    await page.keyboard.press('Enter');
    await page.locator('#view-ready').waitFor();
    // The main action comes first: the desktop in the browser; then the RDP details.
    await page.keyboard.press('Tab');
    const open = await focused();
    assert.equal(open.id, 'open-desktop');
    assert.ok(open.visible && open.outline !== 'none' && open.width >= 2);
    await page.keyboard.press('Tab');
    const copy = await focused();
    assert.equal(copy.cls, 'copy');
    assert.ok(copy.visible && copy.outline !== 'none' && copy.width >= 2);
    await page.keyboard.press('Enter');
    const [session] = await w.service.list({ statuses: ['ready'] });
    await until(
      async () =>
        (await page.evaluate(() => navigator.clipboard.readText())) === session.endpointHost ||
        (await page.evaluate(() => navigator.clipboard.readText())) === '127.0.0.1',
      'host copied by keyboard',
    );
    await page.focus('#end');
    await page.keyboard.press('Enter');
    await page.locator('#confirm').waitFor();
    const inDialog = await focused();
    assert.equal(await page.evaluate(() => document.activeElement?.closest('dialog')?.id), 'confirm');
    assert.ok(inDialog.visible && inDialog.outline !== 'none', 'focus ring in the dialog');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLButtonElement).value), 'end');
    await page.keyboard.press('Enter');
    await page.locator('#view-ended').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'ended-title');
    await context.close();
  });

  test('live regions: views and warnings are announced, the countdown only once a minute', async () => {
    await endAll();
    const { context, page } = await openPage(browser, w.url);
    await page.clock.install();
    await launchToReady(page);
    assert.equal(await page.getAttribute('#announcer', 'aria-live'), 'polite');
    assert.equal(await page.getAttribute('#alerter', 'aria-live'), 'assertive');
    assert.equal(await page.getAttribute('#timer', 'aria-live'), 'off');
    await page.evaluate(() => {
      const counts = { timer: 0, announcer: 0 };
      (window as unknown as { __counts: typeof counts }).__counts = counts;
      new MutationObserver(() => counts.timer++).observe(document.getElementById('timer')!, { childList: true, characterData: true, subtree: true });
      new MutationObserver(() => {
        if (document.getElementById('announcer')!.textContent) counts.announcer++;
      }).observe(document.getElementById('announcer')!, { childList: true, characterData: true, subtree: true });
    });
    for (let i = 0; i < 20; i++) await page.clock.runFor(1000);
    const counts = await page.evaluate(() => (window as unknown as { __counts: { timer: number; announcer: number } }).__counts);
    assert.ok(counts.timer >= 18, `the timer ticks every second (${counts.timer} updates in 20 s)`);
    assert.ok(counts.announcer <= 1, `at most one announcement in 20 s (${counts.announcer})`);
    await context.close();
  });

  test('text contrast is at least 4.5:1 in light and dark schemes', async () => {
    await endAll();
    for (const colorScheme of ['light', 'dark'] as const) {
      const { context, page } = await openPage(browser, w.url, { colorScheme });
      await launchToReady(page);
      if (colorScheme === 'dark') await shot(page, 'desktop-ready-dark');
      // A string, not a function: tsx would wrap the helpers with names the page does not define.
      const pairs: Record<string, number> = await page.evaluate(String.raw`(() => {
        const rgb = (s) => (s.match(/[\d.]+/g) ?? []).map(Number);
        const lum = ([r, g, b]) => {
          const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
          return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
        };
        const bg = (el) => {
          for (; el; el = el.parentElement) {
            const c = getComputedStyle(el).backgroundColor;
            if (rgb(c).length === 3 || (rgb(c)[3] ?? 0) > 0.9) return c;
          }
          return getComputedStyle(document.body).backgroundColor;
        };
        const ratio = (el) => {
          const a = lum(rgb(getComputedStyle(el).color)) + 0.05;
          const b = lum(rgb(bg(el))) + 0.05;
          return Math.max(a, b) / Math.min(a, b);
        };
        const card = document.getElementById('timer-card');
        const out = {};
        for (const sel of ['#ready-title', '.row dt', '.row dd', '.copy', '#rdp', '#until', '#end', '#extend', '#ready-pill', '.foot span', '.foot a', '[role="tab"][aria-selected="false"]', '#lang']) {
          out[sel] = ratio(document.querySelector(sel));
        }
        for (const level of ['warn', 'danger']) {
          card.classList.add(level);
          const warning = document.getElementById('warning');
          warning.hidden = false;
          warning.textContent = 'x';
          out[level + " warning"] = ratio(warning);
          out[level + " timer"] = ratio(document.getElementById('timer'));
          card.classList.remove(level);
        }
        return out;
      })()`);
      for (const [what, r] of Object.entries(pairs)) assert.ok(r >= 4.5, `${colorScheme}: ${what} has contrast ${r.toFixed(2)}`);
      await context.close();
      await endAll();
    }
  });
});

describe('a 390 px phone', () => {
  test('every view fits without sideways scrolling', async () => {
    await endAll();
    const { context, page } = await openPage(browser, w.url, { width: 390, height: 844, mobile: true });
    await page.goto(`${w.url}/winux/`);
    await page.locator('#launch').waitFor();
    await until(async () => (await text(page, '#facts')).length > 0, 'facts');
    await assertNoSideScroll(page, 'idle');
    await shot(page, 'phone-idle');
    w.stepper.holdAt('network');
    await page.click('#launch');
    await until(async () => (await text(page, '#steps li.current')) === 'Connexion au réseau', 'a step');
    await assertNoSideScroll(page, 'creating');
    await shot(page, 'phone-creating');
    w.stepper.release();
    await page.locator('#view-ready').waitFor();
    for (const os of ['windows', 'mac', 'linux', 'mobile']) {
      await page.click(`#tab-${os}`);
      await assertNoSideScroll(page, `ready, ${os} instructions`);
    }
    await page.click('#tab-linux');
    await shot(page, 'phone-ready');
    await page.click('#end');
    await page.locator('#confirm').waitFor();
    await assertNoSideScroll(page, 'confirm dialog');
    await shot(page, 'phone-confirm');
    await page.click('#confirm button[value="end"]');
    await page.locator('#view-ended').waitFor();
    await assertNoSideScroll(page, 'ended');
    await shot(page, 'phone-ended');
    await context.close();
  });

  test('the dark scheme on a phone', async () => {
    await endAll();
    const { context, page } = await openPage(browser, w.url, { width: 390, height: 844, mobile: true, colorScheme: 'dark', locale: 'en-US' });
    await launchToReady(page);
    await assertNoSideScroll(page, 'ready, dark');
    await shot(page, 'phone-ready-dark-en');
    await context.close();
  });
});

describe('weight and origin of the page', () => {
  test('every asset comes from Winux itself; the first load is small', async () => {
    await endAll();
    for (const file of fs
      .readdirSync(webDir, { recursive: true, encoding: 'utf8' })
      .filter((f) => !/\.(br|gz)$/.test(f) && !f.startsWith('.') && fs.statSync(path.join(webDir, f)).isFile())) {
      const body = fs.readFileSync(path.join(webDir, file), 'utf8');
      assert.doesNotMatch(body, /(src|href)=["']?(https?:)?\/\//i, `${file} links to another site`);
      assert.doesNotMatch(body, /url\(\s*["']?(https?:)?\/\//i, `${file} loads a remote resource from CSS`);
      assert.doesNotMatch(body, /@import|@font-face/i, `${file} imports styles or fonts`);
    }
    const { context, page } = await openPage(browser, w.url);
    const origins = new Set<string>();
    page.on('request', (r) => origins.add(new URL(r.url()).origin));
    await page.goto(`${w.url}/winux/`);
    await until(async () => (await text(page, '#facts')).length > 0, 'facts');
    await page.waitForLoadState('load');
    const entries = await page.evaluate(() =>
      [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map((e) => {
        const r = e as PerformanceResourceTiming;
        return { url: r.name, kind: r.initiatorType, transfer: r.transferSize, encoded: r.encodedBodySize, decoded: r.decodedBodySize };
      }),
    );
    assert.deepEqual([...origins], [w.url]);
    const assets = entries.filter((e) => !e.url.includes('/api/'));
    const api = entries.filter((e) => e.url.includes('/api/'));
    const sum = (list: typeof entries, k: 'transfer' | 'decoded') => list.reduce((n, e) => n + e[k], 0);
    const report = {
      page_assets: assets.map((e) => ({ path: new URL(e.url).pathname, transfer_bytes: e.transfer, body_bytes: e.decoded })),
      assets_transfer_bytes: sum(assets, 'transfer'),
      assets_body_bytes: sum(assets, 'decoded'),
      api_transfer_bytes: sum(api, 'transfer'),
      total_transfer_bytes: sum(entries, 'transfer'),
    };
    fs.writeFileSync(path.join(outDir, 'first-load.json'), `${JSON.stringify(report, null, 2)}\n`);
    console.log(
      `first load: ${report.total_transfer_bytes} bytes transferred (${report.assets_transfer_bytes} page assets in ${assets.length} requests, ${report.api_transfer_bytes} API)`,
    );
    assert.ok(report.assets_transfer_bytes > 0);
    assert.ok(report.total_transfer_bytes < 80 * 1024, `first load ${report.total_transfer_bytes} bytes`);
    await context.close();
  });
});
