// The admin console in a real Chromium against the real server (stepping fake
// provider): sign-in, a live list that updates when a session is created
// elsewhere, extend, end, end all, pool resize, blocks, at 1280 px and 390 px;
// a visitor's browser sees only the sign-in form and no data.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { fakeRecipe, type FakeRecipe } from '../support/fake-recipe.ts';
import { launchBrowser, openPage, shot, startWinux, SteppingProvider, text, until, type Winux } from './harness.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const api = '/api/winux';
const rowOf = (page: Page, id: string) => page.locator(`#sessions-body tr[data-session="${id}"]`);
const MiB = 1024 ** 2;
const shownIds = (page: Page) => page.locator('#sessions-body tr[data-session]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.session));
/** Script errors, without the browser's note of each refused request (the wrong-token try, the first "am I signed in?"). */
function jsErrors(page: Page): string[] {
  return (page as unknown as { jsErrors: string[] }).jsErrors.filter((e) => !/status of 401/.test(e));
}

async function signIn(page: Page, w: Winux): Promise<void> {
  await page.goto(`${w.url}/winux/admin/`);
  await page.locator('#token').waitFor({ state: 'visible' });
  await page.locator('#token').fill(w.adminToken);
  await page.keyboard.press('Enter');
  await page.locator('#view-console').waitFor({ state: 'visible' });
}

for (const width of [1280, 390]) {
  describe(`the admin console at ${width} px`, () => {
    let w: Winux;
    let context: BrowserContext;
    let page: Page;
    let recipe: FakeRecipe;
    before(async () => {
      // The real LXC template code over a tiny recipe, built once before the console opens.
      recipe = fakeRecipe();
      await recipe.control.rebuildTemplate(() => {}, new AbortController().signal);
      const stepper = Object.assign(new SteppingProvider(), recipe.control);
      w = await startWinux({ WINUX_SESSIONS_PER_VISITOR: '0', WINUX_MAX_SESSIONS: '6', WINUX_USAGE_SAMPLE_SECONDS: '1' }, { stepper });
      ({ context, page } = await openPage(browser, w.url, { width, height: 900, locale: width === 390 ? 'en-GB' : 'fr-FR', mobile: width === 390 }));
    });
    after(async () => {
      await context?.close();
      await w?.close();
    });

    test('a wrong token is refused; the right one signs in, and the token stays nowhere in the page', async () => {
      await page.goto(`${w.url}/winux/admin/`);
      await page.locator('#token').fill('definitely-not-the-token');
      await page.locator('#signin').click();
      await page.locator('#signin-error').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#view-console').isVisible(), false);
      await signIn(page, w);
      assert.ok(!page.url().includes(w.adminToken));
      const traces = await page.evaluate(() =>
        JSON.stringify({ l: { ...localStorage }, s: { ...sessionStorage }, c: document.cookie, h: document.documentElement.outerHTML }),
      );
      assert.ok(!traces.includes(w.adminToken), 'the token is not in storage, a readable cookie or the DOM');
      const cookie = (await context.cookies()).find((c) => c.name === 'winux_admin');
      assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict');
    });

    test('the list updates live when a session is created elsewhere, then extend and end from the row', async () => {
      const created = await w.request('POST', `${api}/sessions`, {});
      const id = created.body.session_id as string;
      // No reload: the server-sent events bring it.
      await rowOf(page, id).waitFor({ state: 'visible' });
      await until(async () => (await rowOf(page, id).innerText()).includes('ready'), 'the row to show ready');
      assert.match(await rowOf(page, id).innerText(), /127\.0\.0\.1/, 'the visitor address');
      const look = await rowOf(page, id)
        .locator('a[href*="view/?session="]')
        .evaluate((a) => (a as HTMLAnchorElement).href);
      assert.equal(new URL(look).pathname + new URL(look).search, `/winux/view/?session=${id}`, 'a look link to the viewer');

      const before = (await w.store.get(id))!.expiresAt;
      await rowOf(page, id).locator('button[data-act="extend"]').click();
      await until(async () => (await w.store.get(id))!.expiresAt > before, 'the session to be extended');
      await until(async () => (await page.locator('#notice').innerText()).includes(id), 'a notice about the extension');

      // Keyboard: the end button is reached and pressed without a mouse; the dialog confirms.
      // The live list redraws on every change: the focus stays on that button through one.
      await rowOf(page, id).locator('button[data-act="end"]').focus();
      const redrawn = (await w.store.get(id))!.expiresAt;
      await w.request('POST', `${api}/sessions/${id}/extend`, { token: created.body.token, body: { minutes: 5 } });
      await until(async () => (await w.store.get(id))!.expiresAt > redrawn, 'the extension');
      await page.waitForTimeout(1000); // its event reaches the page, which draws the list again
      assert.equal(
        await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.act),
        'end',
        'the focus left the End button when the list redrew',
      );
      await page.keyboard.press('Enter');
      await page.locator('#confirm').waitFor({ state: 'visible' });
      await page.locator('#confirm button[value="ok"]').click();
      await until(async () => (await rowOf(page, id).count()) === 0, 'the ended session to leave the list');
      const audit = (await w.request('GET', `${api}/audit?session_id=${id}`, { token: w.adminToken })).body.entries.map((e: any) => `${e.action}:${e.actor}`);
      assert.deepEqual(audit.reverse(), ['session.create:visitor', 'session.extend:admin', 'session.extend:visitor', 'session.end:admin']);
    });

    test('sort and filter work on the whole set; end all ends every visitor session', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await w.request('POST', `${api}/sessions`, {})).body.session_id);
      await until(async () => (await page.locator('#sessions-body tr[data-session]').count()) === 3, 'three rows');
      await page.locator('#filter').fill(ids[1]!.slice(-6));
      await until(async () => (await page.locator('#sessions-body tr[data-session]').count()) === 1, 'one row after filtering');
      await page.locator('#filter').fill('');
      await page.locator('button[data-sort="session_id"]').click();
      const shown = await page.locator('#sessions-body tr[data-session]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.session));
      assert.deepEqual(shown, [...ids].sort());
      await page.locator('button[data-sort="session_id"]').click();
      const reversed = await page.locator('#sessions-body tr[data-session]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.session));
      assert.deepEqual(reversed, [...ids].sort().reverse());
      await shot(page, `admin-${width}-sessions`);
      await page.locator('#end-all').click();
      await page.locator('#confirm button[value="ok"]').click();
      await until(async () => (await page.locator('#sessions-body tr[data-session]').count()) === 0, 'every row gone');
      for (const id of ids) assert.notEqual((await w.store.get(id))!.status, 'ready');
    });

    test('the pool size is changed from the console and its members appear', async () => {
      await page.locator('#pool-size').fill('1');
      await page.locator('#pool-save').click();
      await until(async () => (await page.locator('#pool-members li .mono').count()) === 1, 'a pool member listed');
      assert.equal((await w.request('GET', `${api}/admin/pool`, { token: w.adminToken })).body.size, 1);
      await page.locator('#pool-size').fill('0');
      await page.locator('#pool-save').click();
      await until(async () => (await page.locator('#pool-members li .mono').count()) === 0, 'the pool emptied');
    });

    test('CPU and memory now are shown per session, and the list sorts on them', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) ids.push((await w.request('POST', `${api}/sessions`, {})).body.session_id);
      await until(async () => (await page.locator('#sessions-body tr[data-session] .status.ready').count()) === 2, 'two ready rows');
      const [a, b] = await Promise.all(ids.map(async (id) => (await w.store.get(id))!.containerId));
      w.stepper.load.set(a!, { cpuPercent: 12.5, memoryBytes: 300 * MiB });
      w.stepper.load.set(b!, { cpuPercent: 87, memoryBytes: 100 * MiB });
      await until(async () => (await rowOf(page, ids[1]!).innerText()).includes('87.0 %'), 'the sampled CPU shown');
      assert.match(await rowOf(page, ids[0]!).innerText(), /12\.5 %[\s\S]*300 MiB/);
      await page.locator('button[data-sort="cpu_percent"]').click();
      assert.deepEqual(await shownIds(page), ids);
      await page.locator('button[data-sort="cpu_percent"]').press('Enter');
      assert.deepEqual(await shownIds(page), [ids[1], ids[0]]);
      await page.locator('button[data-sort="memory_bytes"]').click();
      assert.deepEqual(await shownIds(page), [ids[1], ids[0]]);
      assert.equal(await page.locator('button[data-sort="memory_bytes"]').evaluate((b) => b.closest('th')!.getAttribute('aria-sort')), 'ascending');
      await w.request('POST', `${api}/admin/sessions/end-all`, { token: w.adminToken, body: {} });
      await until(async () => (await page.locator('#sessions-body tr[data-session]').count()) === 0, 'the rows gone');
    });

    test('the template panel: Rebuild shows its progress live, refuses a second one, sessions carry on, then the new hash shows', async () => {
      const first = await recipe.hash();
      await until(async () => (await page.locator('#template [data-hash]').getAttribute('data-hash')) === first, 'the built hash');
      assert.equal(await page.locator('#template-recipe').innerText(), first);
      recipe.change(`v-${width}`);
      const second = await recipe.hash();
      assert.notEqual(second, first);
      await page.locator('#template-rebuild').click();
      await page.locator('#confirm button[value="ok"]').click();
      // Held at the recipe's gate: what is shown came live, not at the end.
      await page.locator('#template-lines li', { hasText: `writing a tiny root filesystem (v-${width})` }).waitFor();
      await page.locator('#template-lines li', { hasText: "waiting for the test's gate" }).waitFor();
      assert.match(await text(page, '#template-state'), /packages/);
      assert.equal(await page.locator('#template-rebuild').isDisabled(), true);
      const again = await w.request('POST', `${api}/admin/template/rebuild`, { token: w.adminToken, body: {} });
      assert.equal(again.status, 409, JSON.stringify(again.body));
      // Sessions keep working during the rebuild.
      const created = await w.request('POST', `${api}/sessions`, {});
      await until(async () => (await rowOf(page, created.body.session_id).innerText()).includes('ready'), 'a session ready during the rebuild');
      recipe.open();
      await until(async () => (await page.locator('#template [data-hash]').getAttribute('data-hash')) === second, 'the new hash in the panel');
      assert.match(await text(page, '#template-state'), /terminée|finished/);
      const lines = await text(page, '#template-lines');
      for (const step of ['configure', 'archive', 'install', 'done']) assert.match(lines, new RegExp(step));
      assert.match(await text(page, '#template'), /0:0\d|0:1\d/, 'an age of a few seconds');
      assert.equal(await page.locator('#template-rebuild').isDisabled(), false);
      const audit = (await w.request('GET', `${api}/audit?action=template.rebuild`, { token: w.adminToken })).body.entries;
      assert.deepEqual(
        audit.map((e: any) => `${e.actor}:${e.outcome}`),
        ['admin:ok'],
      );
      const done = (await w.request('GET', `${api}/audit?action=template.rebuilt`, { token: w.adminToken })).body.entries;
      assert.deepEqual(
        done.map((e: any) => `${e.actor}:${e.outcome}`),
        ['admin:ok'],
      );
      await shot(page, `admin-${width}-template`);
      await w.request('DELETE', `${api}/sessions/${created.body.session_id}`, { token: w.adminToken });
      await until(async () => (await page.locator('#sessions-body tr[data-session]').count()) === 0, 'the session gone');
    });

    test('a network is blocked and unblocked; the charts and panels are drawn; nothing overflows the width', async () => {
      await page.locator('#block-network').fill('2001:db8:42::/64');
      await page.locator('#block-add').click();
      await page.locator('#blocks li', { hasText: '2001:db8:42::/64' }).waitFor();
      await page.locator('#blocks button[data-unblock]').first().click();
      await until(async () => (await page.locator('#blocks li').count()) === 0, 'the block removed');
      assert.equal(await page.locator('#charts svg').count(), 4);
      assert.ok((await page.locator('#charts rect.bar').count()) > 0, 'bars for today');
      assert.ok((await page.locator('#audit tr').count()) > 0);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow} px wider than the window`);
      await shot(page, `admin-${width}-panels`);
      assert.deepEqual(jsErrors(page), []);
    });

    test('sign out: the console empties and the cookie no longer works', async () => {
      await page.locator('#signout').click();
      await page.locator('#view-signin').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#sessions-body tr').count(), 0);
      const status = await page.evaluate(async () => (await fetch('/api/winux/admin/overview')).status);
      assert.equal(status, 401);
    });
  });
}

describe('a provider that offers no rebuild (as on Proxmox)', () => {
  test('the template panel lists its copies per node, says why there is no rebuild, and the button stays disabled', async () => {
    const stepper = Object.assign(new SteppingProvider(), {
      templateStatus: async () => ({
        recipeHash: null,
        copies: [
          { node: 'pve1', name: '9000 (winux-template)', hash: '0123456789abcdef', builtAt: Date.now() - 3.5 * 86_400_000, archiveBytes: null },
          { node: 'pve2', name: '9001 (winux-template)', hash: null, builtAt: null, archiveBytes: null },
        ],
        rebuild: { offered: false as const, reason: 'templates are pushed with winux template push' },
      }),
    });
    const w = await startWinux({}, { stepper });
    const { context, page } = await openPage(browser, w.url, { width: 390, height: 900, locale: 'en-GB', mobile: true });
    try {
      await signIn(page, w);
      await page.locator('#template-note').waitFor({ state: 'visible' });
      assert.match(await text(page, '#template-note'), /No rebuild here: templates are pushed with winux template push/);
      assert.equal(await page.locator('#template-rebuild').isDisabled(), true);
      const panel = await text(page, '#template');
      assert.match(panel, /9000 \(winux-template\) on pve1/);
      assert.match(panel, /recipe 0123456789abcdef, built 3 days ago/);
      assert.match(panel, /9001 \(winux-template\) on pve2/);
    } finally {
      await context.close();
      await w.close();
    }
  });
});

describe("a visitor's browser", () => {
  test('sees only the sign-in form: the admin data is refused and nothing is shown', async () => {
    const w = await startWinux({ WINUX_SESSIONS_PER_VISITOR: '0' });
    const { context, page } = await openPage(browser, w.url);
    try {
      await w.request('POST', `${api}/sessions`, {});
      await page.goto(`${w.url}/winux/`);
      // The visitor starts a session: the page's token cookie is set.
      await page.locator('#launch').click();
      await until(async () => (await context.cookies()).some((c) => c.name === 'winux_token'), 'the visitor cookie');
      await page.goto(`${w.url}/winux/admin/`);
      await page.locator('#view-signin').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#view-console').isVisible(), false);
      assert.equal(await page.locator('#sessions-body tr').count(), 0);
      const statuses = await page.evaluate(async () => {
        const out: number[] = [];
        for (const path of ['admin/overview', 'admin/events', 'audit', 'metrics', 'admin/pool', 'admin/template'])
          out.push((await fetch(`/api/winux/${path}`)).status);
        return out;
      });
      assert.ok(
        statuses.every((s) => s === 401 || s === 403),
        String(statuses),
      );
    } finally {
      await context.close();
      await w.close();
    }
  });
});
