// Where the time of "click → first desktop frame" goes, phase by phase, on real
// LXC sessions with real Chromium (the page as browser-desktop.ts drives it, with
// "open the desktop in this browser as soon as it is ready" ticked).
// Prints each run's timeline and the medians; asserts nothing.
//
//   node --import tsx bench/desktop-phases.ts [--runs 3]      (root; takes the LXC lock itself)
//
// Marks, all on one clock (ms after the launch click):
//   page:    the ready view shown, the WebSocket made, open, its first message
//            (RFB version), ServerInit, the desktop's first bytes after it,
//            the canvas showing the drawn desktop (> 100 colours, checked every 10 ms),
//            each request sent and answered after the click (resource timing), the
//            page's long tasks (50 ms or more on its main thread);
//   server:  pushes into the machine (provider.setSessionInfo: a claim's end time,
//            after the answer), openDesktop (socket reached), the event loop stalled
//            (the server runs in this process: child process spawns block it);
//   inside:  cold only, when each process of the desktop started (from /proc: 10 ms steps);
//   rdp:     POST answered, ready, xfreerdp started, its first paint, the drawn desktop
//            (Xvfb's screen read from its framebuffer file every 20 ms).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Provider } from '../src/core/provider-port.ts';
import { createLxcProvider } from '../src/providers/lxc/index.ts';
import { containerName } from '../src/providers/lxc/naming.ts';
import { logger, startXfreerdp } from '../test/providers/lxc/helpers.ts';
import { startTestServer, waitForReady, type TestServer } from '../test/support/server.ts';
import { launchBrowser, openPage } from '../test/web/harness.ts';
import { desktopBenchRange, endAllSessions, looksDrawn, prepareHost, screenLook, startXvfb, underLxcLock, waitForFullPool } from './lxc-support.ts';

underLxcLock();

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Math.max(1, Number(args.runs));
const api = '/api/winux';
const { env, config, cleanAll } = desktopBenchRange(30881, 34781, 8);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Host times (performance.now() of this process) of the server-side marks of the current run. */
let serverMarks: Array<[string, number]> = [];
// The server runs in this process: its event loop stalled for 20 ms or more is a mark too.
{
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 25) serverMarks.push([`server: event loop stalled ${Math.round(now - last - 5)} ms, until`, now]);
    last = now;
  }, 5).unref();
}
function timedProvider(inner: Provider): Provider {
  const mark = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      serverMarks.push([`${what} start`, t], [`${what} end`, performance.now()]);
    }
  };
  return Object.assign(Object.create(inner) as Provider, {
    setSessionInfo: (ref: never, u: string, i: never) => mark('server: session info', () => inner.setSessionInfo!(ref, u, i)),
    openDesktop: (ref: never, signal?: AbortSignal) => mark('server: openDesktop', () => inner.openDesktop!(ref, signal)),
    create: (spec: never, ctx: never) => mark('server: create', () => inner.create(spec, ctx)),
  });
}

// In the page: the launch click, the ready view, every WebSocket message of the desktop stream, the drawn canvas.
const pageProbe = `(() => {
  const m = (window.__marks = []);
  const now = () => performance.now();
  document.addEventListener('click', (e) => { const id = e.target.closest && e.target.closest('button') && e.target.closest('button').id; if (id) m.push(['click #' + id, now()]); }, true);
  // A real WebSocket each time (noVNC refuses a subclass), with listeners of ours added.
  window.WebSocket = new Proxy(window.WebSocket, {
    construct(Real, args) {
      const ws = new Real(...args);
      m.push(['ws: made', now()]);
      ws.addEventListener('open', () => m.push(['ws: open', now()]));
      // Winux sends the handshake as 4 messages (version, security types, result, ServerInit); then the desktop's bytes.
      let n = 0;
      ws.addEventListener('message', () => {
        n++;
        if (n === 1) m.push(['ws: first message (RFB version)', now()]);
        if (n === 4) m.push(['ws: ServerInit', now()]);
        if (n === 5) m.push(['ws: first bytes from the desktop after ServerInit', now()]);
      });
      return ws;
    },
  });
  // The page's main thread busy for 50 ms or more (script compile, layout, noVNC's decoding).
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) m.push(['long task of ' + Math.round(e.duration) + ' ms starts', e.startTime]);
    }).observe({ type: 'longtask' });
  } catch (e) {}
  const seen = { ready: false, drawn: false };
  const small = Object.assign(document.createElement('canvas'), { width: 128, height: 80 });
  const poll = () => {
    // Never let one failed look (a canvas of height 0 makes getImageData throw) stop the loop.
    try {
      const v = document.getElementById('view-ready');
      if (!seen.ready && v && !v.hidden) { seen.ready = true; m.push(['page: ready view', now()]); }
      // The canvas seen at 128×80 (as browser-desktop.ts judges it): a copy that small
      // leaves the page's main thread to noVNC, where reading all 4 MB back did not.
      const c = document.querySelector('#desktop canvas');
      if (c && c.width && c.height && !seen.drawn) {
        const ctx = small.getContext('2d', { willReadFrequently: true });
        ctx.drawImage(c, 0, 0, small.width, small.height);
        const data = ctx.getImageData(0, 0, small.width, small.height).data;
        const s = new Set();
        for (let i = 0; i < data.length; i += 4) s.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        if (s.size > 100) { seen.drawn = true; m.push(['page: canvas drawn', now()]); }
      }
    } catch (e) {}
    if (!seen.drawn) setTimeout(poll, 10);
  };
  poll();
})();`;

/** Start times of the container's processes, as host performance.now() values (from /proc, 10 ms steps). */
function containerProcesses(name: string): Array<[string, number]> {
  const hz = 100;
  const uptimeMs = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
  const nowMs = performance.now();
  const out: Array<[string, number]> = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/${name}`)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) * (1000 / hz);
      out.push([`inside: ${comm}`, nowMs - (uptimeMs - start)]);
    } catch {
      /* gone meanwhile */
    }
  }
  return out.sort((a, b) => a[1] - b[1]);
}

async function oneRun(server: TestServer, browser: Awaited<ReturnType<typeof launchBrowser>>, cold: boolean): Promise<Array<[string, number]>> {
  const { context, page } = await openPage(browser, server.url);
  await context.addInitScript({ content: pageProbe });
  // The visitor chose the browser before launching (one click), on an earlier visit: the page remembers it (as browser-desktop.ts).
  await context.addInitScript(() => localStorage.setItem('winux.atOnce', '1'));
  try {
    await page.goto(`${server.url}/winux/`);
    const launch = page.getByRole('button', { name: /Lancer|Launch/ });
    await launch.waitFor();
    // The click comes once the page has finished loading, as browser-desktop.ts's headline figures.
    await page.waitForLoadState('networkidle');
    serverMarks = [];
    // One clock: the page's performance.now() at the click ↔ this process's.
    const [pageAt, hostAt] = [await page.evaluate(() => performance.now()), performance.now()];
    await launch.click();
    const open = page.getByRole('button', { name: /Ouvrir dans le navigateur|Open in the browser/ });
    await open.waitFor({ timeout: 240_000 });
    if (!(await page.locator('#desktop').isVisible())) await open.click();
    await page.waitForFunction(() => (window as unknown as { __marks: [string, number][] }).__marks.some(([k]) => k === 'page: canvas drawn'), null, {
      timeout: 120_000,
      polling: 50,
    });
    const marks = (await page.evaluate(() => (window as unknown as { __marks: [string, number][] }).__marks)) as Array<[string, number]>;
    const t0 = marks.find(([k]) => k === 'click #launch')![1];
    const hostT0 = hostAt + (t0 - pageAt);
    const all: Array<[string, number]> = marks.map(([k, t]) => [`page: ${k.replace(/^page: /, '')}`, t - t0]);
    // The requests made after the click (the launch POST, the noVNC chunk): when each was sent and answered in full.
    const fetched = (await page.evaluate(() =>
      (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).map((e) => [e.name, e.requestStart || e.startTime, e.responseEnd]),
    )) as Array<[string, number, number]>;
    for (const [name, sent, done] of fetched) {
      if (sent < t0) continue;
      const what = new URL(name).pathname.replace(/^.*\//, '');
      all.push([`page: fetch ${what} sent`, sent - t0], [`page: fetch ${what} answered`, done - t0]);
    }
    for (const [k, t] of serverMarks) all.push([k, t - hostT0]);
    if (cold) {
      const [s] = (await server.request('GET', `${api}/sessions?pool=false`, { headers: { authorization: `Bearer ${server.adminToken}` } })).body.sessions;
      for (const [k, t] of containerProcesses(containerName(s.container_id))) all.push([k, t - hostT0]);
    }
    return all.sort((a, b) => a[1] - b[1]);
  } finally {
    await page.close();
    await context.close();
  }
}

/** Click → the desktop on FreeRDP's screen (the POST is the click), with its steps. */
async function rdpRun(server: TestServer, screen: { display: string; fbdir: string }): Promise<Array<[string, number]>> {
  const marks: Array<[string, number]> = [];
  serverMarks = [];
  const t0 = performance.now();
  const at = (what: string) => marks.push([what, performance.now() - t0]);
  const created = await server.request('POST', `${api}/sessions`, {});
  at('rdp: POST answered');
  const ready = await waitForReady(server, created.body.session_id, created.body.token, 240_000);
  at('rdp: ready (polled every 25 ms)');
  const client = startXfreerdp(
    [`/v:127.0.0.1:${ready.port}`, `/u:${ready.username}`, '/cert:ignore', '/size:1280x800', '/bpp:24', '/log-level:ERROR'],
    ready.password,
    { DISPLAY: screen.display },
    120_000,
  );
  at('rdp: xfreerdp started');
  try {
    let painted = false;
    for (;;) {
      const look = await screenLook(screen.fbdir);
      if (!painted && look.colours > 1) {
        painted = true;
        at('rdp: first paint on the screen');
      }
      if (looksDrawn(look)) break;
      if (performance.now() - t0 > 120_000) throw new Error('no desktop on the RDP screen within 120 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    at('rdp: desktop drawn (> 200 colours, < 2 % black)');
  } finally {
    client.stop();
  }
  for (const [k, t] of serverMarks) marks.push([k, t - t0]);
  return marks.sort((a, b) => a[1] - b[1]);
}

function report(title: string, timelines: Array<Array<[string, number]>>): void {
  console.log(`\n${title}`);
  for (const [i, tl] of timelines.entries()) {
    console.log(`  run ${i + 1}:`);
    for (const [k, t] of tl) console.log(`    ${(t / 1000).toFixed(3).padStart(7)} s  ${k}`);
  }
  const keys = [...new Set(timelines.flatMap((tl) => tl.map(([k]) => k)))].filter((k) => !k.startsWith('inside:'));
  console.log('  medians:');
  for (const k of keys) {
    const v = timelines.map((tl) => tl.find(([x]) => x === k)?.[1]).filter((x): x is number => x !== undefined);
    console.log(`    ${(median(v) / 1000).toFixed(3).padStart(7)} s  ${k}`);
  }
}

await prepareHost(config);
await cleanAll();
const browser = await launchBrowser();
const fbdir = mkdtempSync(path.join(os.tmpdir(), 'winux-bench-fb-'));
const screen = { ...(await startXvfb('1280x800x24', fbdir)), fbdir };
try {
  let server = await startTestServer({ provider: timedProvider(createLxcProvider(config, logger)), env });
  const cold: Array<Array<[string, number]>> = [];
  const coldRdp: Array<Array<[string, number]>> = [];
  for (let i = 0; i < runs; i++) {
    cold.push(await oneRun(server, browser, true));
    await endAllSessions(server);
    coldRdp.push(await rdpRun(server, screen));
    await endAllSessions(server);
  }
  await server.close();
  server = await startTestServer({ provider: timedProvider(createLxcProvider(config, logger)), env: { ...env, WINUX_POOL_SIZE: '2' } });
  const warm: Array<Array<[string, number]>> = [];
  const warmRdp: Array<Array<[string, number]>> = [];
  for (let i = 0; i < runs; i++) {
    await waitForFullPool(server, 2);
    warm.push(await oneRun(server, browser, false));
    await endAllSessions(server);
    await waitForFullPool(server, 2);
    warmRdp.push(await rdpRun(server, screen));
    await endAllSessions(server);
  }
  await server.close();
  report('cold (no pool)', cold);
  report('warm pool', warm);
  report('RDP, cold', coldRdp);
  report('RDP, warm pool', warmRdp);
} finally {
  screen.stop();
  rmSync(screen.fbdir, { recursive: true, force: true });
  await browser.close();
  await cleanAll();
}
