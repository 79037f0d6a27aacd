// Each desktop (WINUX_DESKTOPS) on real LXC sessions: a session asked for MATE
// runs MATE — its panel and window manager, not another desktop's — and both
// doors show it: Winux's browser stream (RFB over the WebSocket) and an RDP
// client (FreeRDP under Xvfb) give the same screen, which resembles the picture
// taken from that desktop's template at build time and not the other desktops'.
// Screenshots per desktop land in test-output/desktop-<name>-{browser,rdp}.png.
// WINUX_TEST_DESKTOPS narrows the list (default: all three; each template is
// built once, minutes, then cached).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { desktopNames, screenshotFile, type DesktopName } from '../../../src/core/desktops.ts';
import { createLxcProvider } from '../../../src/providers/lxc/index.ts';
import { run } from '../../../src/providers/lxc/exec.ts';
import { containerName } from '../../../src/providers/lxc/naming.ts';
import { RfbClient } from '../../support/rfb-client.ts';
import { startTestServer, waitFor, waitForReady, type TestServer } from '../../support/server.ts';
import { desktopUser, logger, lxcRange, prepareHost, saveFramePng, startXfreerdp, startXvfb } from './helpers.ts';

const api = '/api/winux';
const desktops = (process.env.WINUX_TEST_DESKTOPS ?? desktopNames.join(',')).split(',') as DesktopName[];
// Ids and ports of their own (30981–30986, 34861–34866).
const { env, config, cleanAll } = lxcRange(30981, 34861, 6, { WINUX_DESKTOPS: desktops.join(',') });
const outDir = path.resolve(import.meta.dirname, '../../../test-output');

/** What runs when a desktop is up (its panel and window manager), as the desktop user. */
const signature: Record<DesktopName, string[]> = {
  xfce: ['xfce4-panel', 'xfwm4', 'xfdesktop'],
  mate: ['mate-panel', 'marco', 'caja'],
  lxqt: ['lxqt-panel', 'openbox', 'pcmanfm-qt'],
};

/**
 * The panel item showing the session's time left is loaded, as the desktop user's processes
 * show it: XFCE's genmon plugin (in the panel or its plugin wrapper), MATE's Command applet
 * (a D-Bus-started process), LXQt's customcommand plugin (in the panel).
 */
const timeLeftItem: Record<DesktopName, string> = {
  xfce: `cat $(for p in $(pgrep -u ${desktopUser} -x xfce4-panel; pgrep -u ${desktopUser} -f wrapper-2.0); do echo /proc/$p/maps; done) | grep -q libgenmon`,
  mate: `pgrep -u ${desktopUser} -x command-applet`,
  lxqt: `grep -q libcustomcommand /proc/$(pgrep -u ${desktopUser} -x lxqt-panel)/maps`,
};

let server: TestServer;

before(
  async () => {
    // Builds (or extracts) each desktop's template and takes its picture when missing.
    await prepareHost(config);
    await cleanAll();
    server = await startTestServer({ provider: createLxcProvider(config, logger), env });
  },
  { timeout: 90 * 60_000 },
);

after(async () => {
  await server?.close();
  await cleanAll();
});

/** Pixels that differ by more than 10 % between two PNG files of the same size, as a share of all pixels. */
async function differing(a: string, b: string): Promise<number> {
  const { stdout, stderr } = await run('compare', ['-metric', 'AE', '-fuzz', '10%', a, b, 'null:'], { okCodes: [0, 1, 2] });
  const size = (await run('identify', ['-format', '%w %h', a])).stdout.trim().split(' ').map(Number);
  return Number((stdout || stderr).trim().split(/\s/)[0]) / (size[0]! * size[1]!);
}

for (const desktop of desktops) {
  test(`a ${desktop} session shows ${desktop} in the browser and over RDP`, { timeout: 300_000 }, async () => {
    const created = await server.request('POST', `${api}/sessions`, { body: { desktop } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal(created.body.desktop, desktop);
    const ready = await waitForReady(server, created.body.session_id, created.body.token, 240_000);
    assert.equal(ready.desktop, desktop);
    const name = containerName(ready.container_id);

    // The desktop's own programs run, and no other desktop's panel does.
    const ps = (await run('lxc-attach', ['-P', config.lxc.path, '-n', name, '--clear-env', '--', 'ps', '-u', desktopUser, '-o', 'comm='])).stdout;
    const running = new Set(ps.split('\n').map((l) => l.trim()));
    for (const p of signature[desktop]) assert.ok(running.has(p), `${p} is not running in the ${desktop} session (${[...running].join(' ')})`);
    for (const other of desktopNames.filter((d) => d !== desktop)) {
      assert.ok(!running.has(signature[other][0]!), `${signature[other][0]} runs in the ${desktop} session`);
    }

    // Its panel shows the time left (the end time pushed in at launch).
    await waitFor(
      async () =>
        (await run('lxc-attach', ['-P', config.lxc.path, '-n', name, '--clear-env', '--', 'sh', '-c', timeLeftItem[desktop]], { okCodes: [0, 1, 2] })).code ===
        0,
      30_000,
      `the ${desktop} panel's time-left item`,
    );
    const ends = (await run('lxc-attach', ['-P', config.lxc.path, '-n', name, '--clear-env', '--', 'cat', '/etc/winux/ends-at'])).stdout.trim();
    assert.ok(Math.abs(Number(ends) * 1000 - Date.parse(ready.expires_at)) < 2000, `ends-at ${ends} for a session ending ${ready.expires_at}`);

    mkdirSync(outDir, { recursive: true });
    const viewer = await RfbClient.connect({
      url: `${server.url.replace(/^http/, 'ws')}${api}/sessions/${ready.session_id}/desktop`,
      headers: { authorization: `Bearer ${created.body.token}` },
    });
    const screen = await startXvfb('1280x800x24');
    const rdp = startXfreerdp(
      [`/v:127.0.0.1:${ready.port}`, `/u:${desktopUser}`, '/cert:ignore', '/size:1280x800', '/bpp:24', '/log-level:ERROR'],
      ready.password,
      { DISPLAY: screen.display },
      120_000,
    );
    try {
      const browserPng = path.join(outDir, `desktop-${desktop}-browser.png`);
      const rdpPng = path.join(outDir, `desktop-${desktop}-rdp.png`);
      // The same screen through both doors (the RDP login takes a few seconds).
      const share = await waitFor(
        async () => {
          await viewer.update(false);
          await saveFramePng(viewer, browserPng);
          await run('import', ['-display', screen.display, '-window', 'root', rdpPng]);
          // Drawn (a blank screen has a handful of colours), and the same through both doors.
          if (viewer.distinctColours() <= 200) return undefined;
          const d = await differing(rdpPng, browserPng);
          return d < 0.02 ? { d } : undefined;
        },
        90_000,
        `the RDP screen to match the browser's ${desktop} desktop`,
      );
      assert.ok(share.d < 0.02);
      assert.ok(viewer.distinctColours() > 200, `only ${viewer.distinctColours()} colours: no desktop drawn (see ${browserPng})`);

      // It looks like this desktop's picture from its template build, more than like any other desktop's.
      const small = path.join(outDir, `desktop-${desktop}-browser-half.png`);
      await run('convert', [browserPng, '-resize', '50%', small]);
      const own = await differing(small, screenshotFile(config.lxc.cacheDir, desktop));
      assert.ok(own < 0.1, `${(own * 100).toFixed(1)} % of the screen differs from the ${desktop} template's picture`);
      for (const other of desktopNames.filter((d) => d !== desktop)) {
        const picture = screenshotFile(config.lxc.cacheDir, other);
        if (!existsSync(picture)) continue;
        const theirs = await differing(small, picture);
        assert.ok(theirs > own, `the ${desktop} screen looks as much like ${other} (${theirs}) as like itself (${own})`);
      }
    } finally {
      viewer.close();
      rdp.stop();
      screen.stop();
      await server.request('DELETE', `${api}/sessions/${ready.session_id}`, { token: created.body.token });
    }
  });
}
