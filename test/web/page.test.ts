// The Winux page in a real Chromium against the real server: launch, progress,
// credentials, copy, .rdp download, instructions, countdown, reload, end, warnings,
// extend, expiry. Tests assert behaviour; bounds in `until` are only safety nets.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { fakeFingerprint, launchBrowser, openPage, shot, startWinux, text, timerSeconds, until, type Winux, winuxPerSuite } from './harness.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const clipboard = (page: Page) => page.evaluate(() => navigator.clipboard.readText());
async function liveSessions(w: Winux) {
  return (await w.service.list({ statuses: ['creating', 'ready'] })).filter((s) => !s.pooled);
}
function jsErrors(page: Page): string[] {
  return (page as unknown as { jsErrors: string[] }).jsErrors;
}

describe('a visitor launches, uses and ends a session', () => {
  let w: Winux;
  let context: BrowserContext;
  let page: Page;
  before(async () => {
    w = await startWinux();
    ({ context, page } = await openPage(browser, w.url, { permissions: ['clipboard-read', 'clipboard-write'] }));
  });
  after(async () => {
    await context?.close();
    await w?.close();
  });

  test('the page offers one launch button and what /info says', async () => {
    await page.goto(`${w.url}/winux/`);
    const launch = page.locator('#launch');
    await launch.waitFor();
    assert.equal((await launch.textContent())?.trim(), '✨ Lancer une session Winux');
    assert.equal(await page.locator('button.primary:visible').count(), 1);
    await until(async () => (await text(page, '#facts')).includes('30 min'), 'the facts line from /info');
    assert.match(await text(page, '#facts'), /prolongeable jusqu'à 4 h/);
    assert.match(await text(page, '#facts'), /bureaux libres/);
    await shot(page, 'desktop-idle');
  });

  test('launching shows the steps the server reports and an estimate', async () => {
    w.stepper.holdAt('starting');
    await page.click('#launch');
    await page.locator('#view-creating').waitFor();
    await until(async () => (await text(page, '#steps li.current')) === 'Démarrage du conteneur', 'the "starting" step');
    assert.deepEqual(await page.locator('#steps li.done').allInnerTexts(), ["Réservation d'un conteneur", 'Copie du bureau modèle']);
    assert.equal(await page.locator('#steps li.current').getAttribute('aria-current'), 'step');
    assert.match(await text(page, '#estimate'), /Encore environ \d+ s|Presque prêt|plus long/);
    assert.ok(Number(await page.locator('#progress').getAttribute('aria-valuenow')) > 0);
    // The heading took the focus, so screen readers follow the change of view.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'creating-title');
    await shot(page, 'desktop-creating');
    w.stepper.release();
    w.stepper.holdAt('desktop');
    await until(async () => (await text(page, '#steps li.current')) === 'Démarrage du bureau XFCE et du serveur RDP', 'the "desktop" step');
    w.stepper.release();
  });

  test('when ready, it shows the credentials the server holds', async () => {
    await page.locator('#view-ready').waitFor();
    const [session] = await liveSessions(w);
    assert.equal(await text(page, '#v-host'), '127.0.0.1');
    assert.equal(await text(page, '#v-port'), String(session.port));
    assert.equal(await text(page, '#v-username'), session.username);
    assert.equal(await text(page, '#v-password'), session.password);
    assert.equal(
      await text(page, '#v-certificate_sha256'),
      fakeFingerprint(session.containerId),
      'the RDP certificate fingerprint is shown with the credentials',
    );
    assert.equal(await text(page, '#ready-title'), 'Votre bureau est prêt');
  });

  test('copy buttons put each value in the clipboard', async () => {
    const [session] = await liveSessions(w);
    await page.click('[data-copy="password"]');
    await until(async () => (await clipboard(page)) === session.password, 'the password in the clipboard');
    assert.match(await text(page, '[data-copy="password"]'), /Copié/);
    await until(async () => (await text(page, '#announcer')).includes('copié'), 'the copy announced');
    await page.click('[data-copy="port"]');
    await until(async () => (await clipboard(page)) === String(session.port), 'the port in the clipboard');
    await page.click('[data-copy="host"]');
    await until(async () => (await clipboard(page)) === '127.0.0.1', 'the host in the clipboard');
    await page.click('[data-copy="username"]');
    await until(async () => (await clipboard(page)) === session.username, 'the user name in the clipboard');
  });

  test('the copy fallback works where the Clipboard API is missing (plain HTTP)', async () => {
    const [session] = await liveSessions(w);
    await page.evaluate(() => navigator.clipboard.writeText(''));
    await page.evaluate(() => Object.defineProperty(navigator, 'clipboard', { value: undefined, configurable: true }));
    await page.click('[data-copy="password"]');
    // Read back through a fresh page: this one no longer has navigator.clipboard.
    const reader = await context.newPage();
    await reader.goto(`${w.url}/winux/favicon.svg`);
    await until(async () => (await reader.evaluate(() => navigator.clipboard.readText())) === session.password, 'the password copied by the fallback');
    await reader.close();
    await page.reload();
    await page.locator('#view-ready').waitFor();
  });

  test('the .rdp file downloads', async () => {
    const [session] = await liveSessions(w);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#rdp')]);
    const rdp = fs.readFileSync(await download.path(), 'utf8');
    assert.match(rdp, new RegExp(`full address:s:127\\.0\\.0\\.1:${session.port}`));
    assert.match(rdp, new RegExp(`username:s:${session.username}`));
    assert.match(download.suggestedFilename(), /\.rdp$/);
  });

  test('instructions for each system are keyboard-operable tabs', async () => {
    const [session] = await liveSessions(w);
    await page.click('#tab-windows');
    assert.match(await text(page, '#panel-windows'), /mstsc/);
    assert.match(await text(page, '#panel-windows'), new RegExp(`127\\.0\\.0\\.1:${session.port}`));
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'tab-mac');
    assert.equal(await page.locator('#tab-mac').getAttribute('aria-selected'), 'true');
    assert.match(await text(page, '#panel-mac'), /Windows App/);
    assert.equal(await page.locator('#panel-windows').isVisible(), false);
    await page.keyboard.press('ArrowRight');
    assert.match(await text(page, '#panel-linux'), /Remmina/);
    assert.match(await text(page, '#cmd-linux'), new RegExp(`xfreerdp /v:127\\.0\\.0\\.1:${session.port} /u:'${session.username}' /p:'${session.password}'`));
    await page.click('[data-copy="cmd"]');
    await until(async () => (await clipboard(page)).startsWith('xfreerdp /v:'), 'the command in the clipboard');
    await page.focus('#tab-linux');
    await page.keyboard.press('End');
    assert.match(await text(page, '#panel-mobile'), /Android|Google Play/);
    await page.keyboard.press('Home');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'tab-windows');
    await page.click('#tab-linux');
  });

  test('the countdown shows mm:ss and goes down', async () => {
    const first = await timerSeconds(page);
    assert.ok(first > 28 * 60 && first <= 30 * 60, `timer starts near 30:00, got ${first}`);
    assert.match(await text(page, '#timer'), /^\d{2}:\d{2}$/);
    await until(async () => (await timerSeconds(page)) < first, 'the countdown to go down');
    assert.equal(await page.locator('#timer').getAttribute('role'), 'timer');
    assert.equal(await page.locator('#timer').getAttribute('aria-live'), 'off');
    assert.match(await text(page, '#until'), /^Jusqu'à \d{2}:\d{2}$/);
    assert.equal(await page.locator('#warning').isVisible(), false);
    await shot(page, 'desktop-ready');
  });

  test('a reload finds the session again', async () => {
    const [session] = await liveSessions(w);
    await page.reload();
    await page.locator('#view-ready').waitFor();
    assert.equal(await text(page, '#v-password'), session.password);
    assert.ok((await timerSeconds(page)) > 28 * 60);
  });

  test('ending asks for confirmation in a modal dialog; Escape keeps the session', async () => {
    await page.click('#end');
    const dialog = page.locator('#confirm');
    await dialog.waitFor();
    assert.equal(await dialog.evaluate((d: HTMLDialogElement) => d.open && d.matches(':modal')), true);
    assert.equal(await page.evaluate(() => document.activeElement?.closest('dialog')?.id), 'confirm');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Garder ma session');
    await shot(page, 'desktop-confirm');
    await page.keyboard.press('Escape');
    await until(async () => !(await dialog.isVisible()), 'the dialog to close');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'end');
    assert.equal((await liveSessions(w)).length, 1);
    await page.click('#end');
    await page.click('#confirm button[value="cancel"]');
    assert.equal((await liveSessions(w)).length, 1);
    assert.equal(await page.locator('#view-ready').isVisible(), true);
  });

  test('confirming ends the session; the page says so and offers a new one', async () => {
    const [session] = await liveSessions(w);
    await page.click('#end');
    await page.click('#confirm button[value="end"]');
    await page.locator('#view-ended').waitFor();
    assert.equal(await text(page, '#ended-title'), 'Session terminée');
    const after = await w.service.get(session.id);
    assert.ok(['destroying', 'destroyed'].includes(after.status), after.status);
    await until(async () => !(await page.locator('#ended-cleanup').isVisible()), 'the cleanup to finish');
    assert.equal((await w.service.get(session.id)).status, 'destroyed');
    assert.equal(await page.locator('#again').textContent(), '✨ Lancer une nouvelle session');
    await shot(page, 'desktop-ended');
    // A reload after the end shows the start page, not the old session.
    await page.reload();
    await page.locator('#view-idle').waitFor();
  });

  test('a new session starts from there', async () => {
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
    assert.equal((await liveSessions(w)).length, 1);
    assert.deepEqual(jsErrors(page), []);
  });
});

describe('time running out: warnings, 30 s re-sync, extend, expiry', () => {
  let w: Winux;
  let context: BrowserContext;
  let page: Page;
  before(async () => {
    w = await startWinux();
    ({ context, page } = await openPage(browser, w.url, { permissions: ['notifications'] }));
    // The page's clock runs normally but can jump ahead, firing the 30 s re-sync.
    await page.clock.install();
    await page.goto(`${w.url}/winux/`);
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
  });
  after(async () => {
    await context?.close();
    await w?.close();
  });
  const notes = () => page.evaluate(() => (window as unknown as { __notes: Array<{ title: string }> }).__notes.map((n) => n.title));

  test('no warning with plenty of time left', async () => {
    assert.equal(await page.locator('#warning').isVisible(), false);
    assert.equal(await page.locator('#timer-card').getAttribute('class'), 'card timer-card');
    assert.deepEqual(await notes(), []);
  });

  test('the 30 s re-sync picks up the server time: a warning at 5 minutes (colour, text, notification)', async () => {
    w.clock.advance((30 - 4.5) * 60_000);
    await page.clock.fastForward(31_000);
    await until(() => page.locator('#timer-card.warn').isVisible(), 'the 5-minute warning');
    assert.ok((await timerSeconds(page)) <= 5 * 60);
    assert.match(await text(page, '#warning'), /Moins de 5 minutes/);
    assert.match(await text(page, '#ready-pill'), /Bientôt terminé/);
    assert.equal(await page.locator('#ready-pill.warn').count(), 1);
    await until(async () => (await notes()).includes('Winux : plus que 5 minutes'), 'the notification');
    await until(async () => (await text(page, '#alerter')).includes('Moins de 5 minutes'), 'the assertive announcement');
    const colour = await page.locator('#timer').evaluate((el) => getComputedStyle(el).color);
    const normal = await page.locator('#v-password').evaluate((el) => getComputedStyle(el).color);
    assert.notEqual(colour, normal);
    await shot(page, 'desktop-warning-5min');
  });

  test('minutes are announced, not seconds', async () => {
    const before = await timerSeconds(page);
    await page.clock.fastForward(((before % 60) + 1) * 1000);
    await until(async () => /\d+ minutes restantes\./.test(await text(page, '#announcer')), 'a minute announcement');
  });

  test('a warning at 1 minute', async () => {
    w.clock.advance(4 * 60_000);
    await page.clock.fastForward(31_000);
    await until(() => page.locator('#timer-card.danger').isVisible(), 'the 1-minute warning');
    assert.ok((await timerSeconds(page)) <= 60);
    assert.match(await text(page, '#warning'), /Moins d'une minute/);
    await until(async () => (await notes()).includes('Winux : moins d’une minute'), 'the second notification');
    assert.equal((await notes()).length, 2);
    await shot(page, 'desktop-warning-1min');
  });

  test('a reload does not notify again', async () => {
    await page.reload();
    await page.locator('#view-ready').waitFor();
    await until(() => page.locator('#timer-card.danger').isVisible(), 'the warning after reload');
    assert.deepEqual(await notes(), []);
  });

  test('extend gives more time and clears the warning', async () => {
    assert.match(await text(page, '#extend'), /Prolonger de 30 min/);
    await page.click('#extend');
    await until(async () => (await timerSeconds(page)) > 30 * 60, 'the extended time');
    assert.equal(await page.locator('#warning').isVisible(), false);
    assert.equal(await page.locator('#timer-card.warn, #timer-card.danger').count(), 0);
    assert.match(await text(page, '#extend-note'), /Session prolongée jusqu'à \d{2}:\d{2}/);
    const [session] = await liveSessions(w);
    assert.ok(session.expiresAt - w.clock.now() > 30 * 60_000);
  });

  test('when the time is up the page says the session expired', async () => {
    const left = await timerSeconds(page);
    w.clock.advance((left + 2) * 1000);
    await until(async () => (await liveSessions(w)).length === 0, 'the reaper to end the session');
    await page.clock.fastForward(31_000);
    await page.locator('#view-ended').waitFor();
    assert.equal(await text(page, '#ended-title'), 'Votre session a expiré');
    assert.equal(await page.locator('#again').isVisible(), true);
    await shot(page, 'desktop-expired');
  });
});

describe('the extension limit', () => {
  const w = winuxPerSuite({ WINUX_MAX_SESSION_MINUTES: '45' });

  test('extend offers only what is left, then disappears; a refused extension is explained', async () => {
    const { context, page } = await openPage(browser, w().url);
    await page.goto(`${w().url}/winux/`);
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
    assert.match(await text(page, '#extend'), /Prolonger de 15 min/);
    // Another tab of the same visitor takes the last extension: this page still offers one.
    const [session] = await liveSessions(w());
    const res = await context.request.post(`${w().url}/api/winux/sessions/${session.id}/extend`, { headers: { 'X-Requested-With': 'winux' }, data: {} });
    assert.equal(res.status(), 200);
    await page.click('#extend');
    await until(async () => (await text(page, '#extend-note')).includes('Durée maximale atteinte'), 'the limit explained');
    assert.equal(await page.locator('#extend').isVisible(), false);
    assert.ok((await timerSeconds(page)) > 40 * 60, 'the countdown follows the server');
    await context.close();
  });
});

describe('asking for notifications', () => {
  const w = winuxPerSuite();

  test('the page offers to notify, asks the browser, and then warns through it', async () => {
    const { context, page } = await openPage(browser, w().url);
    // Headless Chromium answers "denied" without asking: stand in for a browser that asks.
    await context.addInitScript({
      content: `(() => {
      const shown = window.__notes = [];
      let permission = 'default';
      window.__asked = 0;
      class AskingNotification { constructor(title, o) { shown.push({ title, body: o && o.body }); } }
      Object.defineProperty(AskingNotification, 'permission', { get: () => permission });
      AskingNotification.requestPermission = async () => { window.__asked++; permission = 'granted'; return permission; };
      Object.defineProperty(window, 'Notification', { value: AskingNotification, configurable: true, writable: true });
    })();`,
    });
    await page.clock.install();
    await page.goto(`${w().url}/winux/`);
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
    const ask = page.locator('#notify');
    await ask.waitFor();
    assert.match(await ask.innerText(), /M'avertir par une notification/);
    await ask.click();
    await until(async () => !(await ask.isVisible()), 'the offer to go once answered');
    assert.equal(await page.evaluate(() => (window as unknown as { __asked: number }).__asked), 1);
    assert.match(await text(page, '#extend-note'), /Notifications activées/);
    w().clock.advance((30 - 4) * 60_000);
    await page.clock.fastForward(31_000);
    await until(async () => (await page.evaluate(() => (window as unknown as { __notes: Array<{ title: string }> }).__notes.length)) === 1, 'the notification');
    await context.close();
  });
});

describe('the page follows a creation through the server event stream', () => {
  const w = winuxPerSuite();

  test('steps and "ready" arrive as they happen, without polling; the stream closes once ready', async () => {
    const { context, page } = await openPage(browser, w().url);
    // The app itself listens too (desktop streams close when their session ends): count the page's stream only.
    const appListeners = w().service.listenerCount('session');
    const polls: string[] = [];
    let streams = 0;
    page.on('request', (r) => {
      const url = new URL(r.url()).pathname;
      if (/\/api\/winux\/sessions\/[^/]+\/events$/.test(url)) streams++;
      else if (/\/api\/winux\/sessions\/[^/]+$/.test(url) && r.method() === 'GET') polls.push(url);
    });
    w().stepper.holdAt('network');
    await page.goto(`${w().url}/winux/`);
    await page.click('#launch');
    await until(async () => (await text(page, '#steps li.current')) === 'Connexion au réseau', 'the "network" step, pushed');
    assert.equal(streams, 1, 'the page opened the event stream');
    // Held here for 2 s: a polling page would have asked 4 times (every 0.5 s).
    const before = polls.length;
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(polls.length - before, 0, `the page polled while the stream was open: ${polls.join(', ')}`);
    w().stepper.release();
    await page.locator('#view-ready').waitFor();
    assert.match(await text(page, '#view-ready'), new RegExp((await liveSessions(w()))[0]!.password.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await until(() => w().service.listenerCount('session') === appListeners, 'the stream closed once ready');
    await context.close();
  });
});
