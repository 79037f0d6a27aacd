// The bench re-uses the LXC test helpers (host preparation, Xvfb, judged RDP logins),
// and shares what the desktop benches need around a test server.
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type TestServer, waitFor } from '../test/support/server.ts';

import { lxcRange } from '../test/providers/lxc/helpers.ts';

export { lxcConfig, lxcRange, prepareHost, rdpLogin, startXvfb } from '../test/providers/lxc/helpers.ts';
export { tempDir } from '../test/support/server.ts';

const api = '/api/winux';

/** Re-runs this script under the shared LXC lock (other suites use the same bridge and template); returns when it holds it. */
export function underLxcLock(): void {
  if (process.env.WINUX_BENCH_LOCKED) return;
  const r = spawnSync('flock', ['/tmp/winux-lxc.lock', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, WINUX_BENCH_LOCKED: '1' },
  });
  process.exit(r.status ?? 1);
}

/** A server's environment for `count` LXC sessions from container id `firstId` and RDP port `firstPort`, no per-visitor limits. */
/** A desktop bench's own ids and ports (env, config, cleanAll), with the visitor limits off: the bench is one visitor clicking many times. */
export function desktopBenchRange(firstId: number, firstPort: number, count: number, extra: Record<string, string> = {}) {
  return lxcRange(firstId, firstPort, count, { WINUX_SESSIONS_PER_VISITOR: '0', WINUX_SESSIONS_PER_ADDRESS: '0', WINUX_CREATE_RATE_PER_MINUTE: '0', ...extra });
}

/** Ends every visitor session (the admin's DELETE) and waits until none is left. */
export async function endAllSessions(server: TestServer): Promise<void> {
  const admin = { authorization: `Bearer ${server.adminToken}` };
  const list = await server.request('GET', `${api}/sessions?pool=false`, { headers: admin });
  for (const sess of list.body.sessions ?? []) await server.request('DELETE', `${api}/sessions/${sess.session_id}`, { headers: admin });
  await waitFor(
    async () => ((await server.request('GET', `${api}/sessions`, { headers: admin })).body.sessions.length === 0 ? true : undefined),
    120_000,
    'all sessions ended',
  );
}

/** Waits for `size` ready pool members, then 3 s more: refills done, the host quiet again. */
export async function waitForFullPool(server: TestServer, size: number): Promise<void> {
  const admin = { authorization: `Bearer ${server.adminToken}` };
  await waitFor(
    async () => {
      const pool = await server.request('GET', `${api}/sessions?pool=true`, { headers: admin });
      return (pool.body.sessions ?? []).filter((x: { status: string; pooled: boolean }) => x.pooled && x.status === 'ready').length >= size ? true : undefined;
    },
    300_000,
    'the pool to be full',
  );
  await new Promise((r) => setTimeout(r, 3000));
}

/**
 * What an Xvfb screen started with `fbdir` shows, from a grid of its pixels: its
 * distinct colours, and the share of pure black (what an RDP client's window is
 * until the server's bitmaps are painted over it). Read from the XWD file Xvfb
 * keeps its screen in: a few ms, where ImageMagick's `import` + `convert` took
 * 0.3–1.2 s per look on a loaded 2-core host, and a judge that slow adds up to
 * two looks to every RDP figure.
 */
export async function screenLook(fbdir: string): Promise<{ colours: number; black: number }> {
  const xwd = await readFile(path.join(fbdir, 'Xvfb_screen0'));
  const headerSize = xwd.readUInt32BE(0);
  const [width, height, bitsPerPixel, bytesPerLine, ncolors] = [16, 20, 44, 48, 76].map((at) => xwd.readUInt32BE(at));
  if (bitsPerPixel !== 32) throw new Error(`Xvfb screen at ${bitsPerPixel} bits per pixel; expected 32 (depth 24)`);
  const start = headerSize + ncolors! * 12;
  const seen = new Set<number>();
  let black = 0;
  let looked = 0;
  for (let y = 0; y < height!; y += 4)
    for (let x = 0; x < width!; x += 4) {
      const pixel = xwd.readUInt32LE(start + y * bytesPerLine! + x * 4) & 0xffffff;
      seen.add(pixel);
      if (pixel === 0) black++;
      looked++;
    }
  return { colours: seen.size, black: black / looked };
}

/**
 * The RDP client's screen shows the whole desktop: many colours (wallpaper, panel,
 * icons) and no unpainted area left. Clients paint the first frame in tiles over
 * 0.1–0.5 s; colours alone were seen with a third of the screen still black.
 * A drawn XFCE desktop is under 1 % black (the mouse picture, text).
 */
export async function desktopDrawn(fbdir: string): Promise<boolean> {
  return looksDrawn(await screenLook(fbdir));
}
export const looksDrawn = ({ colours, black }: { colours: number; black: number }) => colours > 200 && black < 0.02;
