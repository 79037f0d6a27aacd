// Benchmark of the desktop a visitor gets, on real LXC sessions, judged by the
// screen: real Chromium on the Winux page and a real FreeRDP client under Xvfb.
// Prints figures; asserts nothing.
//
//   node --import tsx bench/browser-desktop.ts [--runs 3] [--desktop mate]   (root; takes the LXC lock itself)
//
// --desktop picks the desktop (xfce, mate, lxqt; WINUX_DESKTOPS is set to it
// alone, so the page's click launches it) and adds its template's figures:
// build time (recorded by the build), archive and root filesystem sizes.
//
// 1. click → first desktop frame in the browser: the launch button (once the page
//    has loaded; also, warm, clicked as soon as the button shows), until the canvas
//    shows a drawn desktop (many colours), cold and from the warm pool; twice: the
//    visitor having ticked "open the desktop in this browser as soon as it is ready"
//    on an earlier visit (one click; the page remembers the choice), and not (then
//    the second click, "Open in the browser", follows as soon as the button shows);
// 2. click → desktop on an RDP client's screen: POST /sessions (the click), then
//    xfreerdp3 (FreeRDP 3, the client of today's Linux desktops) at the returned
//    host:port until its screen shows the desktop (read from Xvfb's framebuffer
//    file every 20 ms); and the same with Debian 12's own two clients: xfreerdp
//    (FreeRDP 2.11, which spends 0.3 s benchmarking its colour converters at every
//    start and polls its connection every 100 ms, libfreerdp/core/connection.c and
//    activation.c: Sleep(100) until the connection is active, a floor of its own
//    above the 1 s target; FreeRDP 3 waits on its events instead) and rdesktop 1.9;
// 3. an RDP client connecting again to a live session (a first xfreerdp shown the
//    desktop and killed, as a dropped connection): the second one's start until
//    its screen shows the desktop;
// 4. keystroke → screen update on loopback (RFB through Winux's WebSocket, a
//    terminal focused), idle bytes per minute, memory of a session with its
//    desktop running and sessions per GiB.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { readFile, stat } from 'node:fs/promises';
import { desktopNames, isDesktopName, type DesktopName } from '../src/core/desktops.ts';
import { memoryUsage } from '../src/providers/lxc/container.ts';
import { rootfsBytes, templatePaths, templateState } from '../src/providers/lxc/template.ts';
import { createLxcProvider } from '../src/providers/lxc/index.ts';
import { run } from '../src/providers/lxc/exec.ts';
import { containerName } from '../src/providers/lxc/naming.ts';
import { type FreerdpClient, logger, startRdesktop, startXfreerdp } from '../test/providers/lxc/helpers.ts';
import { RfbClient } from '../test/support/rfb-client.ts';
import { createReadySession, startTestServer, type TestServer } from '../test/support/server.ts';
import { launchBrowser, openPage } from '../test/web/harness.ts';
import { desktopBenchRange, endAllSessions, desktopDrawn, prepareHost, startXvfb, underLxcLock, waitForFullPool } from './lxc-support.ts';

underLxcLock();

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, desktop: { type: 'string', default: 'xfce' } } });
const runs = Math.max(1, Number(args.runs));
if (!isDesktopName(args.desktop)) throw new Error(`--desktop: expected one of ${desktopNames.join(', ')}`);
const desktop: DesktopName = args.desktop;
/** A terminal of each desktop, for the keystroke figure. */
const terminal: Record<DesktopName, string> = { xfce: 'xfce4-terminal --disable-server', mate: 'mate-terminal --disable-factory', lxqt: 'qterminal' };
const api = '/api/winux';
const { env, config, cleanAll } = desktopBenchRange(30871, 34771, 10, { WINUX_DESKTOPS: desktop });
const outDir = path.resolve(import.meta.dirname, '..', 'test-output', 'bench');
mkdirSync(outDir, { recursive: true });
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Failed runs are counted and said, not hidden (and do not stop the other figures). */
const failures: string[] = [];
async function timed(what: string, fn: () => Promise<number>, into: number[]): Promise<void> {
  try {
    into.push(await fn());
  } catch (err) {
    failures.push(`${what}: ${(err as Error).message}`);
  }
}
const figure = (xs: number[], tries: number) =>
  xs.length
    ? `${s(p50(xs))} (runs: ${xs.map(s).join(', ')}${xs.length < tries ? `; ${tries - xs.length} of ${tries} failed` : ''})`
    : `all ${tries} runs failed`;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * Whether the canvas shows the drawn desktop, seen at 128×80 (about 10,000 pixels):
 * a drawn XFCE desktop has hundreds of colours and almost no black, a blank canvas
 * one colour, a frame still arriving black areas (the judge of the RDP screens,
 * desktopDrawn in lxc-support.ts). A copy that small costs the page well under a
 * millisecond; reading the whole canvas back (4 MB) every 20 ms took the page's
 * main thread from noVNC while it was decoding the very frame being timed.
 */
function canvasDrawn(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const c = document.querySelector('#desktop canvas') as HTMLCanvasElement | null;
    if (!c || !c.width || !c.height) return false;
    const small = Object.assign(document.createElement('canvas'), { width: 128, height: 80 });
    const ctx = small.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(c, 0, 0, small.width, small.height);
    const data = ctx.getImageData(0, 0, small.width, small.height).data;
    const seen = new Set<number>();
    let black = 0;
    for (let i = 0; i < data.length; i += 4) {
      const rgb = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
      seen.add(rgb);
      if (rgb === 0) black++;
    }
    return seen.size > 100 && black / (data.length / 4) < 0.02;
  });
}

/** Bytes the page received on the desktop's WebSocket until the canvas showed the desktop, per one-click run. */
const firstFrameBytes: number[] = [];

/**
 * One launch click, timed until the canvas shows the desktop. `whenLoaded`: the click
 * comes once the page has finished loading (Playwright's networkidle: no request for
 * 500 ms), as a visitor's does, who reads the page first; otherwise as soon as the
 * button shows, while the page still fetches and lays out its desktop choice.
 */
async function browserClick(server: TestServer, browser: Awaited<ReturnType<typeof launchBrowser>>, atOnce: boolean, whenLoaded = true): Promise<number> {
  const { context, page } = await openPage(browser, server.url);
  try {
    // The visitor's choice is the one the page remembers (localStorage), as for a
    // visitor who ticked the box on an earlier visit: ticking it 5 ms before the
    // click, as no hand can, put the page's preparation for that choice (see
    // prepareForTheClick in web/src/winux/main.ts) inside the timed click.
    await context.addInitScript((on: boolean) => (on ? localStorage.setItem('winux.atOnce', '1') : localStorage.removeItem('winux.atOnce')), atOnce);
    // The bytes of the desktop's stream (a real WebSocket: noVNC refuses a subclass).
    await context.addInitScript(() => {
      const w = window as unknown as { __wsBytes: number };
      w.__wsBytes = 0;
      window.WebSocket = new Proxy(window.WebSocket, {
        construct(Real, args: [string]) {
          const ws = new Real(...args);
          ws.addEventListener('message', (e: MessageEvent) => (w.__wsBytes += (e.data as ArrayBuffer).byteLength ?? 0));
          return ws;
        },
      });
    });
    await page.goto(`${server.url}/winux/`);
    const launch = page.getByRole('button', { name: /Lancer|Launch/ });
    await launch.waitFor();
    if (whenLoaded) await page.waitForLoadState('networkidle');
    if ((await page.locator('#open-at-once').isChecked()) !== atOnce) throw new Error('the page did not read the remembered choice');
    const t0 = performance.now();
    await launch.click();
    if (!atOnce) {
      const open = page.getByRole('button', { name: /Ouvrir dans le navigateur|Open in the browser/ });
      await open.waitFor({ timeout: 240_000 });
      await open.click();
    }
    // The desktop is drawn when the canvas holds many colours (the XFCE wallpaper, panel, icons) and no black.
    for (;;) {
      if (await canvasDrawn(page)) {
        const took = performance.now() - t0;
        if (atOnce) firstFrameBytes.push(await page.evaluate(() => (window as unknown as { __wsBytes: number }).__wsBytes));
        // What the judge saw (read back after the timing: a full canvas is 4 MB).
        const png = await page.evaluate(() => (document.querySelector('#desktop canvas') as HTMLCanvasElement).toDataURL('image/png'));
        writeFileSync(
          path.join(outDir, `browser-${atOnce ? 'one' : 'two'}-click${whenLoaded ? '' : '-loading'}.png`),
          Buffer.from(png.split(',')[1]!, 'base64'),
        );
        return took;
      }
      if (performance.now() - t0 > 120_000) throw new Error('no desktop on the canvas within 120 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await context.close();
  }
}

/** xfreerdp (FreeRDP 2) or xfreerdp3 on Xvfb's screen, at a session's RDP port, with its credentials. */
const xfreerdpOn = (session: { port: number; username: string; password: string }, display: string, program: FreerdpClient = 'xfreerdp') =>
  startXfreerdp(
    [`/v:127.0.0.1:${session.port}`, `/u:${session.username}`, '/cert:ignore', '/size:1280x800', '/bpp:24', '/log-level:ERROR'],
    session.password,
    { DISPLAY: display },
    120_000,
    program,
  );

async function rdpClick(server: TestServer, display: string, rdpClient: FreerdpClient | 'rdesktop'): Promise<number> {
  const t0 = performance.now();
  const ready = await createReadySession(server, 240_000);
  const client =
    rdpClient !== 'rdesktop'
      ? xfreerdpOn(ready, display, rdpClient)
      : startRdesktop(['-u', ready.username, '-g', '1280x800', '-a', '24', `127.0.0.1:${ready.port}`], ready.password, fbdir, { DISPLAY: display }, 120_000);
  try {
    // The screen is read from Xvfb's framebuffer file (lxc-support.ts: desktopDrawn).
    for (;;) {
      if (await desktopDrawn(screen.fbdir)) {
        const took = performance.now() - t0;
        await run('import', ['-display', display, '-window', 'root', path.join(outDir, `${rdpClient}-click.png`)]);
        return took;
      }
      if (performance.now() - t0 > 120_000) throw new Error('no desktop on the RDP screen within 120 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    client.stop();
  }
}

/** An RDP client on a live session until it shows the desktop, killed, then another: ms until the second one shows it. */
async function rdpReconnect(session: { port: number; username: string; password: string }, display: string): Promise<number> {
  const until = async (drawn: boolean, t0: number) => {
    while ((await desktopDrawn(screen.fbdir)) !== drawn) {
      if (performance.now() - t0 > 120_000) throw new Error(drawn ? 'no desktop on the RDP screen within 120 s' : 'the RDP window stayed');
      await new Promise((r) => setTimeout(r, 20));
    }
    return performance.now() - t0;
  };
  const first = xfreerdpOn(session, display);
  await until(true, performance.now()).finally(() => first.stop());
  await until(false, performance.now());
  const second = xfreerdpOn(session, display);
  try {
    return await until(true, performance.now());
  } finally {
    second.stop();
  }
}

await prepareHost(config);
await cleanAll();
const results: Record<string, string> = {};
const browser = await launchBrowser();
const fbdir = mkdtempSync(path.join(os.tmpdir(), 'winux-bench-fb-'));
const screen = { ...(await startXvfb('1280x800x24', fbdir)), fbdir };
try {
  // Cold: no pool, each click creates a container (and its desktop).
  let server = await startTestServer({ provider: createLxcProvider(config, logger), env });
  const coldBrowser: number[] = [];
  const coldBrowser2: number[] = [];
  const coldRdp: number[] = [];
  const coldFreerdp2: number[] = [];
  const coldRdesktop: number[] = [];
  for (let i = 0; i < runs; i++) {
    await timed('cold browser', () => browserClick(server, browser, true), coldBrowser);
    await endAllSessions(server);
    await timed('cold browser, two clicks', () => browserClick(server, browser, false), coldBrowser2);
    await endAllSessions(server);
    await timed('cold RDP', () => rdpClick(server, screen.display, 'xfreerdp3'), coldRdp);
    await endAllSessions(server);
    await timed('cold RDP, FreeRDP 2', () => rdpClick(server, screen.display, 'xfreerdp'), coldFreerdp2);
    await endAllSessions(server);
    await timed('cold RDP, rdesktop', () => rdpClick(server, screen.display, 'rdesktop'), coldRdesktop);
    await endAllSessions(server);
  }

  // Steady-state figures on one live session.
  const one = await createReadySession(server, 240_000);
  await new Promise((r) => setTimeout(r, 5000)); // let the desktop settle
  const memory = await memoryUsage(containerName(one.containerId));
  // A visitor's RDP client that drops and connects again (the same session, the same
  // desktop), before the keystroke figure opens a terminal: its black background
  // would read as an unpainted screen (desktopDrawn).
  const reconnects: number[] = [];
  for (let i = 0; i < runs; i++) await timed('RDP reconnect', () => rdpReconnect(one, screen.display), reconnects);
  const url = `${server.url.replace(/^http/, 'ws')}${api}/sessions/${one.id}/desktop`;
  const viewer = await RfbClient.connect({ url, headers: { authorization: `Bearer ${one.token}` } });
  await viewer.update(false);
  // Idle: keep asking for incremental updates, as noVNC does, and count the bytes.
  const idleStart = viewer.bytesReceived;
  const idleMs = 30_000;
  const idleEnd = Date.now() + idleMs;
  while (Date.now() < idleEnd) await viewer.update(true, 40_000).catch(() => {});
  const idleBytesPerMinute = ((viewer.bytesReceived - idleStart) * 60_000) / idleMs;
  // Keystroke → the screen update it causes (a focused terminal echoes the key).
  await run(
    'lxc-attach',
    [
      '-P',
      config.lxc.path,
      '-n',
      containerName(one.containerId),
      '--',
      'su',
      '-',
      one.username,
      '-c',
      `DISPLAY=:10 setsid ${terminal[desktop]} >/dev/null 2>&1 &`,
    ],
    { timeoutMs: 20_000 },
  );
  await new Promise((r) => setTimeout(r, 3000));
  await viewer.update(true, 5000).catch(() => {});
  const keys: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    viewer.type(String.fromCharCode(97 + (i % 26)));
    await viewer.update(true, 5000);
    keys.push(performance.now() - t);
  }
  viewer.close();
  await endAllSessions(server);
  await server.close();

  // Warm: a pool of 2 ready desktops; each click claims one (the pool refills behind it).
  server = await startTestServer({ provider: createLxcProvider(config, logger), env: { ...env, WINUX_POOL_SIZE: '2' } });
  const poolReady = () => waitForFullPool(server, 2);
  const warmBrowser: number[] = [];
  const warmBrowser2: number[] = [];
  const warmRdp: number[] = [];
  const warmFreerdp2: number[] = [];
  const warmBrowserAtOnce: number[] = [];
  const warmRdesktop: number[] = [];
  for (let i = 0; i < runs; i++) {
    await poolReady();
    await timed('warm browser', () => browserClick(server, browser, true), warmBrowser);
    await endAllSessions(server);
    await poolReady();
    await timed('warm browser, clicked while the page loads', () => browserClick(server, browser, true, false), warmBrowserAtOnce);
    await endAllSessions(server);
    await poolReady();
    await timed('warm browser, two clicks', () => browserClick(server, browser, false), warmBrowser2);
    await endAllSessions(server);
    await poolReady();
    await timed('warm RDP', () => rdpClick(server, screen.display, 'xfreerdp3'), warmRdp);
    await endAllSessions(server);
    await poolReady();
    await timed('warm RDP, FreeRDP 2', () => rdpClick(server, screen.display, 'xfreerdp'), warmFreerdp2);
    await endAllSessions(server);
    await poolReady();
    await timed('warm RDP, rdesktop', () => rdpClick(server, screen.display, 'rdesktop'), warmRdesktop);
    await endAllSessions(server);
  }
  await server.close();

  results['click → first desktop frame in the browser, warm pool p50'] = figure(warmBrowser, runs);
  results['  the same, clicked as soon as the button shows (the page still loading), warm p50'] = figure(warmBrowserAtOnce, runs);
  results['click → first desktop frame in the browser, cold p50'] = figure(coldBrowser, runs);
  results['  bytes on the WebSocket until the desktop showed (one click), p50'] = firstFrameBytes.length
    ? `${Math.round(p50(firstFrameBytes) / 1024)} KiB`
    : 'n/a';
  results['  the same with the second click ("Open in the browser"), warm p50'] = figure(warmBrowser2, runs);
  results['  the same with the second click ("Open in the browser"), cold p50'] = figure(coldBrowser2, runs);
  results['click → desktop on an RDP client (FreeRDP 3), warm pool p50'] = figure(warmRdp, runs);
  results['click → desktop on an RDP client (FreeRDP 3), cold p50'] = figure(coldRdp, runs);
  results['  the same with FreeRDP 2.11 (100 ms polling, start-up benchmark), warm p50'] = figure(warmFreerdp2, runs);
  results['  the same with FreeRDP 2.11, cold p50'] = figure(coldFreerdp2, runs);
  results['  the same with rdesktop 1.9 (no 100 ms polling, no start-up benchmark), warm p50'] = figure(warmRdesktop, runs);
  results['  the same with rdesktop 1.9, cold p50'] = figure(coldRdesktop, runs);
  results['an RDP client (FreeRDP 2.11) connecting again to a live session → its desktop p50'] = figure(reconnects, runs);
  results['keystroke → screen update over the WebSocket (loopback), p50 / max'] = `${p50(keys).toFixed(1)} ms / ${Math.max(...keys).toFixed(1)} ms`;
  results['idle desktop, bytes per minute to a viewer'] = `${Math.round(idleBytesPerMinute)} B`;
  const tpl = await templateState(config, desktop);
  const archive = templatePaths(config, tpl.hash, desktop).archive;
  const build = JSON.parse((await readFile(`${archive}.build.json`, 'utf8').catch(() => 'null')) ?? 'null') as { seconds: number } | null;
  results[`${desktop} template: build time (recorded at its build)`] = build ? `${build.seconds.toFixed(0)} s` : 'n/a (built before build times were recorded)';
  results[`${desktop} template: archive / root filesystem`] =
    `${((await stat(archive)).size / 1e6).toFixed(0)} MB / ${((await rootfsBytes(tpl.rootfs)) / 1e6).toFixed(0)} MB`;
  results['memory of a session with its desktop running'] =
    memory === null ? 'n/a' : `${(memory / 1048576).toFixed(0)} MiB → ${Math.floor(1024 / (memory / 1048576))} sessions per GiB`;
} finally {
  screen.stop();
  rmSync(fbdir, { recursive: true, force: true });
  await browser.close();
  await cleanAll();
}
console.log(`desktop: ${desktop}`);
for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(72)} ${v}`);
for (const f of failures) console.log(`failed run — ${f}`);
