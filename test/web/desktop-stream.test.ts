// The pages' side of the desktop stream, at the protocol boundary: Chromium's
// WebSocket is routed (Playwright's routeWebSocket) to a real Xtigervnc with
// security type None, which is what Winux's proxy hands the page. The test plays
// the server's closes: a blip (reconnect with a visible state), 4001 share_revoked
// and 4000 session_ended (no reconnection). The server's own proxy, auth and
// view-only enforcement are tested on the server side.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page, WebSocketRoute } from 'playwright-core';
import { VncDesktop } from '../support/vnc-desktop.ts';
import { launchBrowser, openPage, outDir, startWinux, text, until, type Winux } from './harness.ts';

const execFileAsync = promisify(execFile);

let browser: Browser;
let w: Winux;
let vnc: VncDesktop;
before(async () => {
  browser = await launchBrowser();
  w = await startWinux();
  vnc = await new VncDesktop().start('unused', '1024x768', 'None');
});
after(async () => {
  await browser?.close();
  await w?.close();
  await vnc?.stop();
});

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(outDir, `${name}.png`) });

/** Runs `body` while xev prints the X server's `kind` events (root window); `out()` is what it printed so far. */
async function withXEvents<T>(kind: 'keyboard' | 'button', body: (out: () => string) => Promise<T>): Promise<T> {
  const xev = vnc.client('xev', ['-root', '-event', kind]);
  let out = '';
  xev.stdout?.on('data', (d) => {
    out += d;
  });
  try {
    // xev needs a moment to select the events before anything is sent.
    await new Promise((r) => setTimeout(r, 300));
    return await body(() => out);
  } finally {
    xev.kill();
  }
}

/** Routes the page's desktop sockets to the VNC server; records each connection. */
async function bridge(context: BrowserContext, pattern: RegExp): Promise<{ sockets: WebSocketRoute[]; urls: string[]; protocols: string[] }> {
  const seen = { sockets: [] as WebSocketRoute[], urls: [] as string[], protocols: [] as string[] };
  await context.routeWebSocket(pattern, (ws) => {
    seen.sockets.push(ws);
    seen.urls.push(ws.url());
    const vncSocket = net.connect(vnc.socketPath);
    vncSocket.on('data', (d) => ws.send(d));
    vncSocket.on('close', () => ws.close({ code: 1011, reason: 'desktop unavailable' }).catch(() => {}));
    ws.onMessage((m) => vncSocket.write(typeof m === 'string' ? Buffer.from(m) : m));
    ws.onClose(() => vncSocket.destroy());
  });
  // Playwright's stand-in WebSocket keeps its methods one prototype further up than the
  // browser's; noVNC checks the socket it is given has them on its own prototype.
  await context.addInitScript({
    content: `(() => { const W = window.WebSocket; let p = Object.getPrototypeOf(W.prototype);
      while (p && p !== EventTarget.prototype) {
        for (const k of Object.getOwnPropertyNames(p)) if (!Object.prototype.hasOwnProperty.call(W.prototype, k)) Object.defineProperty(W.prototype, k, Object.getOwnPropertyDescriptor(p, k));
        p = Object.getPrototypeOf(p);
      } })();`,
  });
  return seen;
}

async function canvasColours(page: Page): Promise<number> {
  return page.locator('#desktop canvas').evaluate((c: HTMLCanvasElement) => {
    const ctx = c.getContext('2d');
    if (!ctx || !c.width || !c.height) return 0;
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 4 * 97) seen.add(data[i] * 65536 + data[i + 1] * 256 + data[i + 2]);
    return seen.size;
  });
}

describe('the visitor page on a desktop stream', () => {
  let context: BrowserContext;
  let page: Page;
  let seen: Awaited<ReturnType<typeof bridge>>;
  before(async () => {
    ({ context, page } = await openPage(browser, w.url, { permissions: ['clipboard-read', 'clipboard-write'] }));
    seen = await bridge(context, /\/api\/winux\/sessions\/[^/]+\/desktop$/);
  });
  after(async () => {
    await context?.close();
  });

  test('the canvas shows the desktop; keys reach the X server', async () => {
    await page.goto(`${w.url}/winux/`);
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
    await page.getByRole('button', { name: 'Ouvrir dans le navigateur', exact: true }).click();
    await page.locator('#desktop[data-state="connected"]').waitFor();
    const [session] = await w.service.list({ statuses: ['ready'] });
    assert.equal(new URL(seen.urls[0]).pathname, `/api/winux/sessions/${session.id}/desktop`);
    assert.equal(new URL(seen.urls[0]).protocol, 'ws:');
    await until(async () => (await canvasColours(page)) > 1, 'a desktop frame on the canvas');
    await shot(page, 'stream-desktop');
    // The desktop took the window's size (noVNC's resizeSession; Xtigervnc accepts SetDesktopSize).
    const want = await page.locator('#desktop .dt-screen').evaluate((e) => `${e.clientWidth}x${e.clientHeight}`);
    const xSize = () =>
      /dimensions:\s+(\d+x\d+)/.exec(spawnSync('xdpyinfo', [], { env: { ...process.env, DISPLAY: `:${vnc.display}` }, encoding: 'utf8' }).stdout)?.[1];
    await until(() => xSize() === want, `the X screen at ${want} (is ${xSize()})`);
    await page.setViewportSize({ width: 1000, height: 700 });
    const smaller = await page.locator('#desktop .dt-screen').evaluate((e) => `${e.clientWidth}x${e.clientHeight}`);
    await until(() => xSize() === smaller, `the X screen following the window to ${smaller} (is ${xSize()})`);
    await withXEvents('keyboard', async (out) => {
      await page.locator('#desktop canvas').click();
      await page.keyboard.type('abc');
      await until(() => /keysym 0x61, a[\s\S]*keysym 0x62, b[\s\S]*keysym 0x63, c/.test(out()), 'a b c on the X server');
      await page.click('#dt-keys');
      await page.getByRole('menuitem', { name: 'Esc' }).click();
      await until(() => /keysym 0xff1b, Escape/.test(out()), 'Escape from the keys menu');
      // The phone keyboard's hidden field forwards what is typed into it.
      await page.click('#dt-osk');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'dt-osk-input');
      await page.keyboard.type('é');
      await until(() => /keysym 0xe9, eacute/.test(out()), 'é from the on-screen keyboard field');
    });
  });

  test('characters typed with a French AZERTY layout arrive as typed, AltGr ones included', async () => {
    // What Chromium reports on an AZERTY keyboard: the key pressed is where US has 0, 2 or 3, the character is @, € or #.
    const cdp = await context.newCDPSession(page);
    const key = (type: 'keyDown' | 'keyUp', k: string, code: string, vk: number, text?: string) =>
      cdp.send('Input.dispatchKeyEvent', { type, key: k, code, windowsVirtualKeyCode: vk, nativeVirtualKeyCode: vk, ...(text ? { text } : {}) });
    try {
      await withXEvents('keyboard', async (out) => {
        await page.locator('#desktop canvas').click();
        for (const [ch, code, vk] of [
          ['@', 'Digit0', 48],
          ['€', 'KeyE', 69],
          ['#', 'Digit3', 51],
        ] as const) {
          await key('keyDown', 'AltGraph', 'AltRight', 225);
          await key('keyDown', ch, code, vk, ch);
          await key('keyUp', ch, code, vk);
          await key('keyUp', 'AltGraph', 'AltRight', 225);
        }
        const typed = () =>
          [...out().matchAll(/KeyPress event[\s\S]*?keysym 0x[0-9a-f]+, (\w+)\)/g)]
            .map((m) => m[1])
            .filter((k) => !/^(ISO_Level3_Shift|Alt_R|Mode_switch|Shift_L|Shift_R)$/.test(k));
        await until(() => typed().join(' ') === 'at EuroSign numbersign', `@ € # on the X server (got ${typed().join(' ')})`);
      });
    } finally {
      await cdp.detach();
    }
  });

  test('the clipboard goes both ways: the panel, and the browser clipboard where allowed', async () => {
    const env = { ...process.env, DISPLAY: `:${vnc.display}` };
    // Copied on the desktop (xclip owns the X clipboard): it shows in the panel and the browser's clipboard.
    const owner = spawn('xclip', ['-quiet', '-selection', 'clipboard', '-i'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
    owner.stdin.end('copié sur le bureau');
    try {
      await until(async () => (await page.locator('#dt-clip-text').inputValue()) === 'copié sur le bureau', 'the desktop clipboard in the panel');
      await until(async () => (await page.evaluate(() => navigator.clipboard.readText())) === 'copié sur le bureau', 'the desktop clipboard in the browser');
    } finally {
      owner.kill();
    }
    // The old owner gone before the page's text arrives (Xvnc then owns the clipboard alone).
    if (owner.exitCode === null && owner.signalCode === null) await new Promise((r) => owner.once('exit', r));
    // Written in the panel and sent: the desktop's clipboard holds it (AltGr-style characters included).
    await page.click('#dt-clip');
    await page.fill('#dt-clip-text', 'du navigateur : @ € #');
    await page.click('#dt-clip-send');
    let seen = '';
    const xClipboard = async () => {
      // Xvnc asks the viewer for the text when xclip asks Xvnc (extended clipboard): a round trip through the page.
      // Asynchronously: this process relays the page's WebSocket (routeWebSocket), and a blocking spawnSync held
      // the page's answer back until xclip timed out (three 15 s looks per run).
      const r = await execFileAsync('xclip', ['-selection', 'clipboard', '-o'], { env, encoding: 'utf8', timeout: 15_000 }).catch((e) => e);
      seen = String(r.stdout ?? '') + (r.stderr ? ` [${String(r.stderr).trim()}]` : '');
      return seen;
    };
    // Generous: on a loaded host each look can take seconds.
    await until(async () => (await xClipboard()) === 'du navigateur : @ € #', 'the text in the X clipboard', 60_000).catch((e) => {
      throw new Error(`${(e as Error).message} (is ${JSON.stringify(seen)})`);
    });
    assert.ok(await page.locator('#dt-clip-panel').isHidden());
  });

  test('the share panel speaks the documented shares API: create, copy, count viewers, revoke', async () => {
    // The API as documented (issue 13), played at the HTTP boundary until the server has it.
    const calls: string[] = [];
    const shares: Array<{ share_id: string; url?: string; expires_at: string; viewers: number }> = [];
    const expires = new Date(Date.now() + 30 * 60_000).toISOString();
    await page.route(/\/api\/winux\/sessions\/[^/]+\/shares(\/[^/]+)?$/, async (route) => {
      const r = route.request();
      calls.push(`${r.method()} ${new URL(r.url()).pathname.replace(/sessions\/[^/]+/, 'sessions/ID')} ${r.headers()['x-requested-with'] ?? '-'}`);
      if (r.method() === 'POST') {
        const share = { share_id: 'shr_one', url: `${w.url}/winux/share/#shr_one.secretsecretsecretsecret`, expires_at: expires, viewers: 0 };
        shares.push(share);
        return route.fulfill({ status: 201, json: { share_id: share.share_id, url: share.url, expires_at: share.expires_at } });
      }
      if (r.method() === 'DELETE') {
        shares.splice(0);
        return route.fulfill({ status: 204, body: '' });
      }
      return route.fulfill({ json: { shares: shares.map(({ url: _url, ...rest }) => rest) } });
    });
    try {
      await page.click('#dt-share');
      await page.locator('#dt-share-panel').waitFor();
      assert.match(await text(page, '#dt-share-panel'), /Aucun lien actif/);
      await page.click('#share-create');
      const input = page.locator('#dt-share-panel input');
      await until(async () => (await input.count()) === 1, 'the new link in the list');
      assert.equal(await input.inputValue(), `${w.url}/winux/share/#shr_one.secretsecretsecretsecret`);
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `${w.url}/winux/share/#shr_one.secretsecretsecretsecret`);
      // The list does not repeat the secret; the page keeps the link it made. Viewers are counted as they come.
      shares[0].viewers = 2;
      await until(async () => /2 personnes regardent/.test(await text(page, '#dt-share-panel')), 'two viewers', 8000);
      assert.equal(await input.inputValue(), `${w.url}/winux/share/#shr_one.secretsecretsecretsecret`);
      await page.getByRole('button', { name: 'Révoquer' }).click();
      await until(async () => /Aucun lien actif/.test(await text(page, '#dt-share-panel')), 'the link gone');
      assert.ok(calls.includes('POST /api/winux/sessions/ID/shares winux'), calls.join('; '));
      assert.ok(calls.includes('DELETE /api/winux/sessions/ID/shares/shr_one winux'), calls.join('; '));
      await page.click('#dt-share');
      assert.ok(await page.locator('#dt-share-panel').isHidden());
    } finally {
      await page.unroute(/\/api\/winux\/sessions\/[^/]+\/shares(\/[^/]+)?$/);
    }
  });

  test('after a network blip it says so and reconnects by itself', async () => {
    const before = seen.sockets.length;
    await seen.sockets.at(-1)!.close({ code: 4999, reason: 'blip' });
    await page.locator('#desktop[data-state="reconnecting"]').waitFor();
    assert.match(await text(page, '#dt-msg'), /Connexion perdue|Reconnexion/);
    await page.locator('#desktop[data-state="connected"]').waitFor();
    assert.equal(seen.sockets.length, before + 1);
    await until(async () => (await canvasColours(page)) > 1, 'the desktop back on the canvas');
  });

  test('4000 session_ended: the canvas closes, no reconnection, and the page says why', async () => {
    const [session] = await w.service.list({ statuses: ['ready'] });
    const before = seen.sockets.length;
    await w.service.destroy(session.id, 'expired', { wait: true });
    await seen.sockets.at(-1)!.close({ code: 4000, reason: 'session_ended' });
    await page.locator('#desktop').waitFor({ state: 'hidden' });
    await page.locator('#view-ended').waitFor();
    assert.equal(await page.locator('#desktop canvas').count(), 0);
    assert.match(await text(page, '#ended-title'), /expiré|introuvable|terminée/);
    // The first retry would come within ~1.2 s: none comes.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(seen.sockets.length, before);
  });
});

describe('the desktop on a phone', () => {
  test('a tap clicks on the desktop, the page does not scroll away, full screen works', async () => {
    for (const s of await w.service.list({ statuses: ['creating', 'ready'] })) await w.service.destroy(s.id, 'test', { wait: true });
    const { context, page } = await openPage(browser, w.url, { width: 390, height: 844, mobile: true });
    await bridge(context, /\/api\/winux\/sessions\/[^/]+\/desktop$/);
    await page.goto(`${w.url}/winux/`);
    await page.click('#launch');
    await page.locator('#view-ready').waitFor();
    await page.getByRole('button', { name: 'Ouvrir dans le navigateur', exact: true }).tap();
    await page.locator('#desktop[data-state="connected"]').waitFor();
    await until(async () => (await canvasColours(page)) > 1, 'the desktop on the phone');
    await withXEvents('button', async (out) => {
      const scrolled = await page.evaluate(() => window.scrollY);
      const box = (await page.locator('#desktop canvas').boundingBox())!;
      await page.touchscreen.tap(box.x + box.width / 2, box.y + box.height / 2);
      await until(() => /ButtonPress event/.test(out()), 'the tap as a click on the X server');
      // The view is fixed to the window and the page under it does not move.
      assert.equal(await page.evaluate(() => window.scrollY), scrolled);
      const view = (await page.locator('#desktop').boundingBox())!;
      assert.deepEqual([view.x, view.y, view.width, view.height], [0, 0, 390, 844]);
    });
    await shot(page, 'stream-phone');
    await page.click('#dt-full');
    await until(() => page.evaluate(() => document.fullscreenElement?.id === 'desktop'), 'the desktop in full screen');
    assert.equal(await page.locator('#dt-full').innerText(), 'Quitter le plein écran');
    await page.click('#dt-full');
    await until(() => page.evaluate(() => document.fullscreenElement === null), 'full screen left');
    await context.close();
  });
});

describe('a share link viewer on a desktop stream', () => {
  test('view-only, the secret as a subprotocol; 4001 share_revoked ends it without reconnecting', async () => {
    const { context, page } = await openPage(browser, w.url, { locale: 'en-US' });
    const seen = await bridge(context, /\/api\/winux\/shares\/[^/]+\/desktop$/);
    await page.goto(`${w.url}/winux/share/#shr_abcdef123.s3cretS3cretS3cretS3cret`);
    await page.locator('#desktop[data-state="connected"]').waitFor();
    assert.deepEqual(seen.sockets[0].protocols(), ['binary', 'winux-share.s3cretS3cretS3cretS3cret']);
    assert.equal(new URL(seen.urls[0]).pathname, '/api/winux/shares/shr_abcdef123/desktop');
    assert.ok(!seen.urls[0].includes('s3cret'), 'the secret is not in the URL');
    assert.equal(await text(page, '#dt-viewonly'), 'View only');
    assert.equal(await page.locator('#dt-keys, #dt-clip, #dt-osk').count(), 0);
    await until(async () => (await canvasColours(page)) > 1, 'the shared desktop');
    await shot(page, 'stream-share-viewer');
    // noVNC's viewOnly: a click and keys send nothing (the server enforces it anyway).
    const keys = await withXEvents('keyboard', async (out) => {
      await page.locator('#desktop canvas').click();
      await page.keyboard.type('zz');
      await new Promise((r) => setTimeout(r, 500));
      return out();
    });
    assert.doesNotMatch(keys, /KeyPress/);
    await seen.sockets[0].close({ code: 4001, reason: 'share_revoked' });
    await page.locator('#viewer-msg').waitFor();
    assert.match(await text(page, '#msg-body'), /revoked/);
    assert.equal(await page.locator('#desktop canvas').count(), 0);
    await shot(page, 'stream-share-revoked');
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(seen.sockets.length, 1);
    await context.close();
  });
});

describe('the admin viewer on a desktop stream', () => {
  test('opens the session view-only (?view_only=1) and says so; a session that ended is explained', async () => {
    const { context, page } = await openPage(browser, w.url, { locale: 'fr-FR' });
    const seen = await bridge(context, /\/api\/winux\/sessions\/[^/]+\/desktop\?view_only=1$/);
    const id = 'winux-abcdefgh2345'; // the stream is the bridge's: no session needed
    await page.goto(`${w.url}/winux/view/?session=${encodeURIComponent(id)}`);
    await page.locator('#desktop[data-state="connected"]').waitFor();
    assert.equal(new URL(seen.urls[0]).pathname, `/api/winux/sessions/${id}/desktop`);
    assert.equal(new URL(seen.urls[0]).search, '?view_only=1');
    assert.equal(await text(page, '#dt-viewonly'), 'Lecture seule');
    assert.match(await text(page, '#viewer-title'), /Vue administrateur/);
    assert.equal(await page.locator('#dt-keys, #dt-clip, #dt-osk').count(), 0);
    await until(async () => (await canvasColours(page)) > 1, 'the desktop on the admin viewer');
    await shot(page, 'stream-admin-viewer');
    await seen.sockets[0].close({ code: 4000, reason: 'session_ended' });
    await page.locator('#viewer-msg').waitFor();
    assert.match(await text(page, '#msg-body'), /session est terminée/);
    await context.close();
  });
});
