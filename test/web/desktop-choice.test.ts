// The page's choice of desktops in a real Chromium: shown only when WINUX_DESKTOPS
// offers more than one, each with its build-time picture, in French and English;
// the chosen one is what the session runs, and the page says so.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { encodePng } from '../../src/desktop/png.ts';
import { tempDir } from '../support/server.ts';
import { launchBrowser, openPage, shot, startWinux, text, until } from './harness.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe('the choice of desktops on the page', () => {
  test('one desktop offered: no choice shown, the session runs XFCE', async () => {
    const w = await startWinux();
    const { context, page } = await openPage(browser, w.url);
    try {
      await page.goto(`${w.url}/winux/`);
      await until(async () => (await text(page, '#facts')).includes('30 min'), '/info read');
      assert.equal(await page.locator('#choice').isVisible(), false);
      await page.click('#launch');
      await page.locator('#view-ready').waitFor({ timeout: 30_000 });
      assert.equal(await text(page, '#ready-desktop'), 'Bureau XFCE');
    } finally {
      await context.close();
      await w.close();
    }
  });

  test('three offered: a card each (with its picture when there is one), the pick is what the session runs', async () => {
    const cache = tempDir('winux-choice-cache-');
    mkdirSync(path.join(cache, 'screenshots'));
    // A 2 × 2 picture stands in for a real screenshot (the LXC test takes real ones).
    writeFileSync(path.join(cache, 'screenshots', 'mate.png'), encodePng(2, 2, Buffer.alloc(12, 90)));
    const w = await startWinux({ WINUX_DESKTOPS: 'xfce,mate,lxqt', WINUX_CACHE_DIR: cache });
    const { context, page } = await openPage(browser, w.url);
    try {
      await page.goto(`${w.url}/winux/`);
      const choice = page.locator('#choice');
      await choice.waitFor();
      assert.equal(await text(page, '#choice legend'), 'Choisissez votre bureau');
      const radios = page.getByRole('radio');
      assert.equal(await radios.count(), 3);
      assert.equal(await page.getByRole('radio', { name: 'XFCE' }).isChecked(), true, 'XFCE is the default');
      const img = page.getByRole('img', { name: 'Capture d’écran du bureau MATE' });
      await img.waitFor();
      assert.ok(await img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth === 2), 'the picture loaded from the server');
      assert.equal(await page.locator('#choice img').count(), 1, 'no picture where the build took none');
      await page.click('#lang');
      assert.equal(await text(page, '#choice legend'), 'Choose your desktop');
      assert.ok(await page.getByRole('img', { name: 'Screenshot of the MATE desktop' }).isVisible());
      await page.getByRole('radio', { name: 'MATE' }).check({ force: true });
      await shot(page, 'desktop-choice');
      await page.click('#launch');
      await page.locator('#view-ready').waitFor({ timeout: 30_000 });
      assert.equal(await text(page, '#ready-desktop'), 'MATE desktop');
      const [session] = (await w.service.list({ statuses: ['ready'] })).filter((s) => !s.pooled);
      assert.equal(session?.desktop, 'mate');
    } finally {
      await context.close();
      await w.close();
    }
  });
});
