// Errors a visitor can meet, each against the real server: all desktops in use,
// one session per visitor, too many requests, a failed creation, and the server
// unreachable (the browser's requests fail) with automatic retry and recovery.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page, Route } from 'playwright-core';
import { launchBrowser, openPage, resyncNow, shot, startWinux, text, timerSeconds, until, type Winux, winuxPerSuite } from './harness.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const bannerText = (page: Page) => page.locator('#banner').innerText();

describe('all desktops in use', () => {
  const w = winuxPerSuite({ WINUX_MAX_SESSIONS: '1', WINUX_SESSIONS_PER_VISITOR: '5' });

  test('says so with the time one frees up, and launching works again once it has', async () => {
    const other = await w().request('POST', '/api/winux/sessions', { body: {} });
    assert.equal(other.status, 202);
    const { context, page } = await openPage(browser, w().url);
    await page.goto(`${w().url}/winux/`);
    await until(async () => /Tous occupés · un bureau se libère vers \d{2}:\d{2}/.test(await text(page, '#facts')), 'capacity in the facts');
    await page.click('#launch');
    await until(() => page.locator('#banner.warn').isVisible(), 'the capacity banner');
    assert.match(await bannerText(page), /Tous les bureaux sont occupés\./);
    assert.match(await bannerText(page), /Un bureau devrait se libérer vers \d{2}:\d{2} \(dans (29|30) min\)/);
    assert.equal(await page.locator('#banner').getAttribute('role'), 'status');
    await shot(page, 'desktop-capacity');

    const ended = await w().request('DELETE', `/api/winux/sessions/${other.body.session_id}`, { token: other.body.token });
    assert.equal(ended.status, 202);
    await until(async () => (await w().service.get(other.body.session_id)).status === 'destroyed', 'the other session to end');
    await page.click('#banner-action');
    await page.locator('#view-creating, #view-ready').first().waitFor();
    assert.equal(await page.locator('#banner').isVisible(), false);
    await context.close();
  });
});

describe('one session per visitor', () => {
  const w = winuxPerSuite();

  test('a session of this visitor that the page does not hold (its token cookie lost) is explained', async () => {
    const { context, page } = await openPage(browser, w().url);
    await page.goto(`${w().url}/winux/`);
    // The page load gave this browser its visitor cookie; a session started with it
    // elsewhere (a script, a cleared token cookie) counts against this visitor.
    const visitor = (await context.cookies()).find((c) => c.name === 'winux_visitor');
    assert.ok(visitor, 'the page load sets the visitor cookie');
    const other = await w().request('POST', '/api/winux/sessions', { body: {}, headers: { cookie: `winux_visitor=${visitor.value}` } });
    assert.equal(other.status, 202);
    await page.click('#launch');
    await until(() => page.locator('#banner').isVisible(), 'the visitor-limit banner');
    assert.match(await bannerText(page), /Vous avez déjà une session en cours\./);
    assert.match(await bannerText(page), /terminez l’autre/);
    assert.equal(await page.locator('#view-idle').isVisible(), true);
    await shot(page, 'desktop-visitor-limit');
    await context.close();
    await w().request('DELETE', `/api/winux/sessions/${other.body.session_id}`, { token: other.body.token });
  });

  test('a session started in another tab of the same browser is taken up instead', async () => {
    const { context, page } = await openPage(browser, w().url);
    await page.goto(`${w().url}/winux/`);
    const second = await context.newPage();
    await second.goto(`${w().url}/winux/`);
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
    await second.click('#launch');
    await second.locator('#view-ready').waitFor();
    assert.equal(await text(second, '#v-password'), await text(page, '#v-password'));
    assert.equal(await second.locator('#banner').isVisible(), false);
    await context.close();
  });
});

describe('too many requests', () => {
  const w = winuxPerSuite({ WINUX_CREATE_RATE_PER_MINUTE: '1', WINUX_CREATE_BURST: '1', WINUX_SESSIONS_PER_VISITOR: '5' });

  test('the launch button waits for the time the server gives', async () => {
    const first = await w().request('POST', '/api/winux/sessions', { body: {} });
    assert.equal(first.status, 202);
    const { context, page } = await openPage(browser, w().url);
    await page.goto(`${w().url}/winux/`);
    await page.click('#launch');
    await until(() => page.locator('#banner').isVisible(), 'the rate-limit banner');
    assert.match(await bannerText(page), /Trop de demandes depuis votre adresse\. Réessayez dans \d+ s\./);
    assert.equal(await page.locator('#launch').isDisabled(), true);
    await context.close();
  });
});

describe('a creation that fails', () => {
  const w = winuxPerSuite();

  test('says the desktop could not start, with the reason, and offers to try again', async () => {
    w().stepper.failWith = 'no space left on device';
    const { context, page } = await openPage(browser, w().url);
    await page.goto(`${w().url}/winux/`);
    await page.click('#launch');
    await page.locator('#view-ended').waitFor();
    assert.equal(await text(page, '#ended-title'), "Le bureau n'a pas pu démarrer");
    assert.match(await text(page, '#ended-body'), /no space left on device/);
    await shot(page, 'desktop-failed');
    w().stepper.failWith = null;
    await until(async () => (await w().service.list({ statuses: ['creating', 'ready', 'destroying'] })).length === 0, 'the failed machine cleaned up');
    await page.click('#again');
    await page.locator('#view-ready').waitFor();
    await context.close();
  });
});

describe('the server unreachable', () => {
  let w: Winux;
  before(async () => {
    w = await startWinux();
  });
  after(async () => {
    await w?.close();
  });

  /** Makes every API request fail as a dead server would; counts the attempts. */
  async function cutOff(page: Page) {
    const state = { attempts: 0 };
    const handler = (route: Route) => {
      state.attempts++;
      return route.abort('connectionrefused');
    };
    await page.route('**/api/winux/**', handler);
    return { state, restore: () => page.unroute('**/api/winux/**', handler) };
  }

  test('on first load: says so, retries by itself with growing delays, and recovers', async () => {
    const { context, page } = await openPage(browser, w.url);
    const cut = await cutOff(page);
    await page.goto(`${w.url}/winux/`);
    await until(() => page.locator('#banner.error').isVisible(), 'the unreachable banner');
    assert.match(await bannerText(page), /Serveur injoignable\./);
    assert.match(await bannerText(page), /Nouvel essai automatique dans \d+ s…|Nouvel essai…/);
    assert.equal(await page.locator('#banner').getAttribute('role'), 'alert');
    await until(() => cut.state.attempts >= 6, 'a few automatic retries'); // 2 requests per attempt
    await shot(page, 'desktop-unreachable');
    await cut.restore();
    await until(async () => !(await page.locator('#banner').isVisible()), 'recovery without a click', 30_000);
    await until(async () => (await text(page, '#facts')).includes('30 min'), 'the facts once back');
    await until(async () => /Connexion au serveur rétablie/.test(await text(page, '#announcer')), 'recovery announced');
    await context.close();
  });

  test('during a session: the countdown keeps going, the page re-syncs when the server is back', async () => {
    const { context, page } = await openPage(browser, w.url);
    await page.goto(`${w.url}/winux/`);
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
    const cut = await cutOff(page);
    await resyncNow(page);
    await until(() => page.locator('#banner.error').isVisible(), 'the unreachable banner');
    const during = await timerSeconds(page);
    await until(async () => (await timerSeconds(page)) < during, 'the countdown while offline');
    assert.equal(await page.locator('#view-ready').isVisible(), true);
    await cut.restore();
    await until(async () => !(await page.locator('#banner').isVisible()), 'recovery', 30_000);
    assert.equal(await page.locator('#view-ready').isVisible(), true);
    await context.close();
  });

  test('a launch while unreachable is retried by itself once the server is back', async () => {
    // The previous test's session has the same visitor address: end it first.
    for (const s of await w.service.list({ statuses: ['creating', 'ready'] })) await w.service.destroy(s.id, 'test', { wait: true });
    const { context, page } = await openPage(browser, w.url);
    await page.goto(`${w.url}/winux/`);
    await page.locator('#view-idle').waitFor();
    const cut = await cutOff(page);
    await page.click('#launch');
    await until(() => page.locator('#banner.error').isVisible(), 'the unreachable banner');
    await cut.restore();
    await page.locator('#view-ready').waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#banner').isVisible(), false);
    await context.close();
  });

  test('a real restart of the server: the page waits, then finds its session again', async () => {
    for (const s of await w.service.list({ statuses: ['creating', 'ready'] })) await w.service.destroy(s.id, 'test', { wait: true });
    const { context, page } = await openPage(browser, w.url);
    await page.goto(`${w.url}/winux/`);
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
    const password = await text(page, '#v-password');
    const port = new URL(w.url).port;
    const { stepper, dataDir } = w;
    await w.close({ keepData: true });
    await resyncNow(page);
    await until(() => page.locator('#banner.error').isVisible(), 'the unreachable banner');
    assert.match(await bannerText(page), /Serveur injoignable/);
    w = await startWinux({ WINUX_PORT: port }, { stepper, dataDir });
    await until(async () => !(await page.locator('#banner').isVisible()), 'recovery once the server is back', 40_000);
    assert.equal(await page.locator('#view-ready').isVisible(), true);
    await page.reload();
    await page.locator('#view-ready').waitFor();
    assert.equal(await text(page, '#v-password'), password);
    await context.close();
  });
});
