// Benchmark of the Winux page in Chromium against the real server (behaviour-fake
// provider from test/web). Prints figures; asserts nothing.
//
//   node --import tsx bench/web-page.ts [--runs 5]
//
// 1. First load: bytes transferred per asset (performance entries, headers
//    included), and the same bodies gzip- and brotli-compressed for comparison
//    (the server sends web/build.ts's brotli/gzip copies of web/dist).
// 2. Timings of a cold load: DOMContentLoaded, load, and the launch button
//    showing what /info says (p50 over the runs).
// 3. Launch request → desktop shown, with a provider that is ready at once: the
//    page's own overhead (request, event stream, rendering).
// 4. JS heap of the page with a ready session.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { launchBrowser, openPage, startWinux } from '../test/web/harness.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Math.max(1, Number(args.runs));
const webDir = path.resolve(import.meta.dirname, '..', 'web', 'dist'); // what the server sends (web/build.ts)

const w = await startWinux({ WINUX_SESSIONS_PER_VISITOR: '1000' });
w.stepper.stepMs = 0;
const browser = await launchBrowser();
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

try {
  // 1. Weight of the first load.
  const { context, page } = await openPage(browser, w.url);
  await page.goto(`${w.url}/winux/`);
  await page.waitForFunction(() => document.getElementById('facts')!.children.length > 0);
  const entries = await page.evaluate(() =>
    [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map((e) => ({
      url: e.name,
      transfer: (e as PerformanceResourceTiming).transferSize,
      body: (e as PerformanceResourceTiming).decodedBodySize,
    })),
  );
  await context.close();
  console.log('First load (cold cache)');
  let assets = 0;
  let api = 0;
  let gz = 0;
  let br = 0;
  for (const e of entries) {
    const p = new URL(e.url).pathname;
    if (p.startsWith('/api/')) {
      api += e.transfer;
      continue;
    }
    assets += e.transfer;
    const file = path.join(webDir, p.replace(/^\/winux\/?/, '') || 'index.html');
    const raw = fs.existsSync(file) && fs.statSync(file).isFile() ? fs.readFileSync(file) : Buffer.alloc(0);
    const g = gzipSync(raw, { level: 9 }).length;
    const b = brotliCompressSync(raw).length;
    gz += g;
    br += b;
    console.log(`  ${p.padEnd(22)} ${String(e.transfer).padStart(7)} B transferred  (${e.body} B body; gzip ${g} B, brotli ${b} B)`);
  }
  console.log(
    `  page assets: ${assets} B (${kb(assets)}) in ${entries.length - entries.filter((e) => e.url.includes('/api/')).length} requests; API calls: ${api} B`,
  );
  console.log(`  total: ${assets + api} B (${kb(assets + api)}); bodies gzip-compressed would be ${kb(gz)}, brotli ${kb(br)}`);

  // 2. Cold-load timings, 3. click → ready, 4. heap.
  const dcl: number[] = [];
  const load: number[] = [];
  const facts: number[] = [];
  const toReady: number[] = [];
  let heap = 0;
  for (let i = 0; i < runs; i++) {
    const { context: ctx, page: pg } = await openPage(browser, w.url);
    await pg.goto(`${w.url}/winux/`);
    await pg.waitForFunction(() => document.getElementById('facts')!.children.length > 0);
    const t = await pg.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return { dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, now: performance.now() };
    });
    dcl.push(t.dcl);
    load.push(t.load);
    facts.push(t.now);
    // Measured inside the page, from the launch request's start (resource timing)
    // to the moment the ready view is un-hidden (a MutationObserver): Playwright's
    // click and visibility polling add their own few hundred ms otherwise.
    w.stepper.stepMs = 0;
    await pg.evaluate(() => {
      const view = document.getElementById('view-ready')!;
      new MutationObserver((_, obs) => {
        if (!view.hidden) {
          (window as unknown as { readyAt: number }).readyAt = performance.now();
          obs.disconnect();
        }
      }).observe(view, { attributes: true, attributeFilter: ['hidden'] });
    });
    await pg.click('#launch');
    await pg.locator('#view-ready').waitFor();
    toReady.push(
      await pg.evaluate(() => {
        // The last request to /sessions is the launch (the page asked for the visitor's sessions when it loaded).
        const post = performance
          .getEntriesByType('resource')
          .filter((e) => e.name.endsWith('/api/winux/sessions'))
          .at(-1)!;
        return (window as unknown as { readyAt: number }).readyAt - post.startTime;
      }),
    );
    const cdp = await ctx.newCDPSession(pg);
    const { usedSize } = await cdp.send('Runtime.getHeapUsage');
    heap = Math.max(heap, usedSize);
    await ctx.close();
  }
  console.log(
    `Cold load over ${runs} runs (p50): DOMContentLoaded ${p50(dcl).toFixed(0)} ms, load ${p50(load).toFixed(0)} ms, facts from /info shown by ${p50(facts).toFixed(0)} ms`,
  );
  console.log(
    `Launch request sent → credentials shown, provider ready at once (p50): ${p50(toReady).toFixed(0)} ms (the page follows the creation through the session's event stream)`,
  );
  console.log(`JS heap of the page with a ready session: ${kb(heap)}`);
} finally {
  await browser.close();
  await w.close();
}
