// The browser desktop on real LXC sessions, judged by what a viewer sees:
// Winux's WebSocket gives the session's XFCE desktop (pixels), the owner's keys
// land in a terminal inside the container (AltGr characters too), a view-only
// viewer (a raw RFB client that sends input anyway) changes nothing, an RDP
// client shows the same windows, the clipboard carries Unicode both ways over
// RDP (also for a client that reconnects), foreign credentials and other sites get no
// stream, and the stream closes when the session ends. The VNC server has no
// port another session or a host namespace could reach.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createLxcProvider } from '../../../src/providers/lxc/index.ts';
import { desktopSocketPath } from '../../../src/providers/lxc/container.ts';
import { run } from '../../../src/providers/lxc/exec.ts';
import { sessionIdMap } from '../../../src/providers/lxc/idmap.ts';
import { containerIp, containerName } from '../../../src/providers/lxc/naming.ts';
import { probeRdp } from '../../../src/providers/lxc/rdp-probe.ts';
import { RfbClient } from '../../support/rfb-client.ts';
import { createReadySession, startTestServer, waitFor, type TestServer } from '../../support/server.ts';
import { desktopUser, imageColours, logger, lxcRange, prepareHost, saveFramePng, screenshotColours, startXfreerdp, startXvfb } from './helpers.ts';

const api = '/api/winux';
const { env, config, cleanAll } = lxcRange(30851, 34751, 6);
const outDir = path.resolve(import.meta.dirname, '../../../test-output');
let server: TestServer;
let a: Awaited<ReturnType<typeof createReadySession>>;
let b: Awaited<ReturnType<typeof createReadySession>>;

const wsUrl = (p: string) => `${server.url.replace(/^http/, 'ws')}${api}${p}`;
const inside = (containerId: number, script: string) =>
  run('lxc-attach', ['-P', config.lxc.path, '-n', containerName(containerId), '--clear-env', '--', 'sh', '-c', script], { timeoutMs: 30_000 });
const asUser = (containerId: number, script: string) => inside(containerId, `su - ${desktopUser} -c 'DISPLAY=:10 ${script}'`);

const savePng = (client: RfbClient, name: string) => saveFramePng(client, path.join(outDir, name));

/** A terminal whose input goes to ~/typed.txt, focused, so keys typed on the desktop can be read back inside. */
async function openTypingTerminal(containerId: number): Promise<void> {
  await inside(containerId, `rm -f /home/${desktopUser}/typed.txt`);
  await asUser(
    containerId,
    `setsid xfce4-terminal --disable-server --title=winux-typing --command "sh -c \\"stty -echo; cat > /home/${desktopUser}/typed.txt\\"" >/dev/null 2>&1 &`,
  );
  await waitFor(
    async () => (await inside(containerId, `test -e /home/${desktopUser}/typed.txt && echo yes || true`)).stdout.includes('yes'),
    30_000,
    'the terminal',
  );
  await new Promise((r) => setTimeout(r, 1500)); // mapped and focused
}
/** Puts `text` on the desktop's X clipboard, as a program inside would (the host's xclip, copied into the session). */
async function copyOnDesktop(containerId: number, text: string): Promise<void> {
  // Through lxc-attach's stdin: the host's root cannot create files in the session's shifted filesystem.
  const copied = spawnSync(
    'lxc-attach',
    [
      '-P',
      config.lxc.path,
      '-n',
      containerName(containerId),
      '--clear-env',
      '--',
      'sh',
      '-c',
      'cat > /tmp/winux-test-xclip && chmod 755 /tmp/winux-test-xclip',
    ],
    { input: readFileSync('/usr/bin/xclip'), timeout: 30_000 },
  );
  assert.equal(copied.status, 0, String(copied.stderr));
  await asUser(containerId, `printf %s "${text}" | setsid /tmp/winux-test-xclip -display :10 -selection clipboard >/dev/null 2>&1`);
}
const typed = async (containerId: number) => (await inside(containerId, `cat /home/${desktopUser}/typed.txt`)).stdout;

before(
  async () => {
    await prepareHost(config);
    await cleanAll();
    server = await startTestServer({ provider: createLxcProvider(config, logger), env });
    a = await createReadySession(server, 240_000);
    b = await createReadySession(server, 240_000);
  },
  { timeout: 45 * 60_000 },
);

after(async () => {
  await server?.close();
  await cleanAll();
});

test("the owner's WebSocket shows the session's XFCE desktop, and typed keys (AltGr ones too) reach a terminal inside", { timeout: 180_000 }, async () => {
  const viewer = await RfbClient.connect({ url: wsUrl(`/sessions/${a.id}/desktop`), headers: { authorization: `Bearer ${a.token}` } });
  try {
    assert.equal(viewer.width, 1280);
    assert.equal(viewer.height, 800);
    await viewer.update(false);
    const png = await savePng(viewer, 'browser-desktop-lxc.png');
    assert.ok(viewer.distinctColours() > 200, `only ${viewer.distinctColours()} colours: no desktop drawn (see ${png})`);

    await openTypingTerminal(a.containerId);
    viewer.type('winux @€# é\n');
    const text = await waitFor(
      async () => {
        const t = await typed(a.containerId);
        return t.includes('\n') ? t : undefined;
      },
      15_000,
      'the typed line',
    );
    assert.equal(text, 'winux @€# é\n');
  } finally {
    viewer.close();
  }
});

test('a view-only viewer that sends keys, clicks, a paste and a resize anyway changes nothing', { timeout: 120_000 }, async () => {
  const owner = await RfbClient.connect({ url: wsUrl(`/sessions/${a.id}/desktop`), headers: { authorization: `Bearer ${a.token}` } });
  const watcher = await RfbClient.connect({ url: wsUrl(`/sessions/${a.id}/desktop?view_only=1`), headers: { authorization: `Bearer ${a.token}` } });
  try {
    await openTypingTerminal(a.containerId);
    const sizeBefore = `${watcher.width}x${watcher.height}`;
    watcher.type('typed by a viewer\n');
    watcher.pointer(640, 400, 1);
    watcher.pointer(640, 400, 0);
    watcher.clipboard('pasted by a viewer');
    watcher.resize(800, 600);
    await watcher.update(false);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await typed(a.containerId), '', 'a view-only viewer typed into the desktop');
    const geometry = (await asUser(a.containerId, 'xrandr --current')).stdout.split('\n')[0];
    assert.match(geometry, /current 1280 x 800/, `a view-only viewer resized the desktop (${geometry})`);
    assert.equal(`${watcher.width}x${watcher.height}`, sizeBefore);
    // The owner's keys, sent the same way, do arrive: the check above can fail.
    owner.type('owner\n');
    await waitFor(async () => (await typed(a.containerId)).includes('owner\n'), 15_000, 'the owner typing');
    assert.equal(await typed(a.containerId), 'owner\n');

    // Something copied on the desktop reaches the owner's clipboard, never the viewer's
    // (Winux opens the viewer's stream with the view-only VNC password: Xvnc sends it none).
    await copyOnDesktop(a.containerId, 'copied on the desktop');
    await waitFor(
      async () => {
        await owner.update(false);
        return owner.cutTexts.includes('copied on the desktop');
      },
      15_000,
      "the desktop's clipboard at the owner",
    );
    await watcher.update(false);
    assert.deepEqual(watcher.cutTexts, [], "the desktop's clipboard reached a view-only viewer");
  } finally {
    owner.close();
    watcher.close();
  }
});

// FreeRDP 2.11 is Debian 12's client; FreeRDP 3 is the one of today's Linux desktops (Remmina).
for (const [program, name] of [
  ['xfreerdp', 'FreeRDP 2'],
  ['xfreerdp3', 'FreeRDP 3'],
] as const) {
  test(`an RDP client (${name}) shows the same desktop as the browser, with the same windows`, { timeout: 180_000 }, async () => {
    const screen = await startXvfb('1280x800x24');
    const client = startXfreerdp(
      [`/v:127.0.0.1:${a.port}`, `/u:${desktopUser}`, '/cert:ignore', '/size:1280x800', '/bpp:24', '/log-level:ERROR'],
      a.password,
      { DISPLAY: screen.display },
      120_000,
      program,
    );
    const viewer = await RfbClient.connect({ url: wsUrl(`/sessions/${a.id}/desktop`), headers: { authorization: `Bearer ${a.token}` } });
    try {
      mkdirSync(outDir, { recursive: true });
      const rdpPng = path.join(outDir, `rdp-same-desktop-${program}.png`);
      // Same pixels on both doors: compare the RDP client's screen with the viewer's framebuffer.
      const diff = await waitFor(
        async () => {
          await run('import', ['-display', screen.display, '-window', 'root', rdpPng]);
          await viewer.update(false);
          const vncPng = await savePng(viewer, `browser-same-desktop-${program}.png`);
          const { stdout, stderr } = await run('compare', ['-metric', 'AE', '-fuzz', '10%', rdpPng, vncPng, 'null:'], { okCodes: [0, 1, 2] });
          const differing = Number((stdout || stderr).trim().split(/\s/)[0]);
          return differing < 1280 * 800 * 0.02 ? { differing } : undefined; // an object: 0 differing pixels is a match, not "not yet"
        },
        60_000,
        'the RDP screen to match the browser desktop',
      );
      assert.ok(diff.differing < 1280 * 800 * 0.02);
      const colours = await imageColours(rdpPng);
      assert.ok(colours > 200, `the RDP screen has only ${colours} colours (see ${rdpPng})`);
    } finally {
      viewer.close();
      client.stop();
      screen.stop();
    }
  });
}

test('the clipboard carries Unicode both ways between the desktop and an RDP client, also for a client that reconnects', { timeout: 240_000 }, async () => {
  const screen = await startXvfb('1280x800x24');
  const clientEnv = { ...process.env, DISPLAY: screen.display };
  const connect = () =>
    startXfreerdp(
      [`/v:127.0.0.1:${a.port}`, `/u:${desktopUser}`, '/cert:ignore', '/size:1280x800', '/bpp:24', '+clipboard', '/log-level:ERROR'],
      a.password,
      { DISPLAY: screen.display },
      120_000,
    );
  const shot = path.join(outDir, 'rdp-clipboard.png');
  const drawn = async () => (await screenshotColours(screen.display, shot)) > 200;
  const clientClipboard = async () => (await run('xclip', ['-o', '-selection', 'clipboard'], { env: clientEnv, okCodes: [0, 1], timeoutMs: 10_000 })).stdout;
  const desktopClipboard = async () =>
    (await inside(a.containerId, `su - ${desktopUser} -c 'DISPLAY=:10 timeout 5 /tmp/winux-test-xclip -o -selection clipboard' || true`)).stdout;
  mkdirSync(outDir, { recursive: true });
  let client = connect();
  let hostOwner: ReturnType<typeof spawn> | undefined;
  try {
    // A first client comes and goes (a visitor's network blip, or the browser door's RDP twin closing).
    await waitFor(drawn, 60_000, 'the first RDP client to show the desktop');
    client.stop();
    await client.done;
    await waitFor(async () => !(await drawn()), 10_000, 'the first RDP window to close');
    client = connect();
    await waitFor(drawn, 60_000, 'the second RDP client to show the desktop');

    // Copied on the desktop: the RDP client's own clipboard gets it.
    await copyOnDesktop(a.containerId, 'copié sur le bureau, 10 € à payer');
    await waitFor(async () => (await clientClipboard()) === 'copié sur le bureau, 10 € à payer', 30_000, "the desktop's text on the RDP client's clipboard");

    // Copied on the client's machine: a program on the desktop can paste it.
    hostOwner = spawn('xclip', ['-quiet', '-selection', 'clipboard', '-i'], { env: clientEnv, stdio: ['pipe', 'ignore', 'ignore'] });
    hostOwner.stdin!.end('collé depuis le client RDP : ½ ✓');
    await waitFor(async () => (await desktopClipboard()) === 'collé depuis le client RDP : ½ ✓', 30_000, "the client's text on the desktop's clipboard");
  } finally {
    hostOwner?.kill();
    client.stop();
    screen.stop();
  }
});

test('an RDP login with a wrong password gets no desktop (PAM checks the whole password)', { timeout: 120_000 }, async () => {
  const screen = await startXvfb('1280x800x24');
  const logLines = async () => Number((await inside(a.containerId, 'wc -l < /var/log/xrdp.log')).stdout.trim());
  const since = (await logLines()) + 1;
  // Same first 8 characters as the real password: VNC authentication alone would accept it.
  const wrong = `${a.password.slice(0, 8)}${'x'.repeat(12)}`;
  const client = startXfreerdp([`/v:127.0.0.1:${a.port}`, `/u:${desktopUser}`, '/cert:ignore', '/log-level:ERROR'], wrong, { DISPLAY: screen.display }, 60_000);
  try {
    const log = await waitFor(
      async () => {
        const { stdout } = await inside(a.containerId, `tail -n +${since} /var/log/xrdp.log`);
        return /Reply from access control/.test(stdout) ? stdout : undefined;
      },
      45_000,
      'xrdp to answer the login',
    );
    assert.match(log, /Reply from access control: Authentication failure/);
    assert.doesNotMatch(log, /VNC password ok/, 'xrdp reached the desktop with a wrong password');
  } finally {
    client.stop();
    screen.stop();
  }
});

test('an RDP client that offers only the old RDP security layer is refused before any login; no keys for that layer exist', { timeout: 120_000 }, async () => {
  const screen = await startXvfb('1280x800x24');
  const logLines = async () => Number((await inside(a.containerId, 'wc -l < /var/log/xrdp.log')).stdout.trim());
  const since = (await logLines()) + 1;
  try {
    // The right password: only the security layer differs from a login that works.
    const { code, output } = await startXfreerdp(
      [`/v:127.0.0.1:${a.port}`, `/u:${desktopUser}`, '/sec:rdp', '/cert:ignore', '/log-level:ERROR'],
      a.password,
      { DISPLAY: screen.display },
      60_000,
    ).done;
    assert.notEqual(code, 0, `xfreerdp connected with RDP security: ${output}`);
    const { stdout: log } = await inside(a.containerId, `tail -n +${since} /var/log/xrdp.log`);
    assert.doesNotMatch(log, /access control|VNC password ok/, 'xrdp went on to a login');
    // xrdp only checks that rsakeys.ini exists; the template's holds no key (configure.sh).
    const { stdout: keys } = await inside(a.containerId, 'cat /etc/xrdp/rsakeys.ini');
    assert.doesNotMatch(keys, /pri_exp|pub_mod/);
  } finally {
    screen.stop();
  }
});

test("the API shows the SHA-256 fingerprint of the certificate the session's RDP port presents", async () => {
  const shown = await server.request('GET', `${api}/sessions/${a.id}`, { token: a.token });
  const presented = await probeRdp('127.0.0.1', a.port);
  assert.match(String(shown.body.certificate_sha256), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(shown.body.certificate_sha256, presented);
});

test("no stream for another session's token, an unknown id, another site's Origin, or nobody", async () => {
  const refusals: [string, Record<string, string>][] = [
    [`/sessions/${a.id}/desktop`, { authorization: `Bearer ${b.token}` }],
    ['/sessions/winux-aaaaaaaaaaaa/desktop', { authorization: `Bearer ${b.token}` }],
    [`/sessions/${a.id}/desktop`, { authorization: `Bearer ${a.token}`, origin: 'https://evil.example' }],
    [`/sessions/${a.id}/desktop`, {}],
  ];
  const statuses: number[] = [];
  for (const [p, headers] of refusals) {
    const err = await RfbClient.connect({ url: wsUrl(p), headers }).then(
      (c) => {
        c.close();
        return { statusCode: 101 };
      },
      (e: { statusCode?: number }) => e,
    );
    statuses.push(err.statusCode ?? 0);
  }
  // Foreign token and unknown id: the same answer, so ids cannot be probed.
  assert.deepEqual(statuses, [403, 403, 403, 401]);
});

test("the VNC server is not reachable from another session or the host's network", async () => {
  // No TCP port on the session's address (from the host and from session B), only loopback inside.
  const ip = containerIp(config, a.containerId);
  const fromB = await inside(b.containerId, `timeout 3 bash -c 'echo > /dev/tcp/${ip}/5900' && echo open || echo closed`);
  assert.equal(fromB.stdout.trim(), 'closed');
  const fromHost = await run('bash', ['-c', `timeout 3 bash -c 'echo > /dev/tcp/${ip}/5900' && echo open || echo closed`]);
  assert.equal(fromHost.stdout.trim(), 'closed');
  const listening = (await inside(a.containerId, 'ss -Hltn')).stdout;
  for (const line of listening.split('\n').filter((l) => /:5900\b/.test(l))) assert.match(line, /127\.0\.0\.1:5900|\[::1\]:5900/);
});

test("each desktop runs in its session's own uid range: Xvnc and its socket, which Winux still reaches through /proc/PID/root", async () => {
  const inRange = (uid: number, containerId: number) => {
    const map = sessionIdMap(config, containerId);
    return uid >= map.uid && uid < map.uid + map.count;
  };
  const user = Number((await inside(a.containerId, `id -u ${desktopUser}`)).stdout.trim());
  for (const session of [a, b]) {
    const other = session === a ? b : a;
    const socket = await desktopSocketPath(config, containerName(session.containerId));
    const owner = statSync(socket).uid;
    assert.equal(owner, sessionIdMap(config, session.containerId).uid + user, `${socket} is owned by host uid ${owner}`);
    assert.ok(!inRange(owner, other.containerId), "the socket is in the other session's range");
    // The X servers on the host: one in each session's range, none shared.
    const xvnc = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map((p) => {
        try {
          const status = readFileSync(`/proc/${p}/status`, 'utf8');
          return { name: /^Name:\s*(\S+)/m.exec(status)?.[1], uid: Number(/^Uid:\s*(\d+)/m.exec(status)?.[1]) };
        } catch {
          return null;
        }
      })
      .filter((x) => x && /^X(tiger)?vnc$/i.test(x.name ?? '') && inRange(x.uid, session.containerId));
    assert.equal(xvnc.length, 1, `Xvnc processes in ${containerName(session.containerId)}'s range: ${JSON.stringify(xvnc)}`);
    assert.equal(xvnc[0]!.uid, owner);
  }
  // Winux (host root) speaks VNC on that socket: the RFB greeting comes back.
  const greeting = await new Promise<string>((resolve, reject) => {
    desktopSocketPath(config, containerName(a.containerId)).then((socket) => {
      const c = net.createConnection(socket);
      c.once('data', (d) => {
        resolve(d.toString('latin1'));
        c.destroy();
      });
      c.once('error', reject);
    }, reject);
  });
  assert.match(greeting, /^RFB 003\.00\d\n/);
});

test('the stream closes with 4000 session_ended when the session ends', { timeout: 120_000 }, async () => {
  const viewer = await RfbClient.connect({ url: wsUrl(`/sessions/${b.id}/desktop`), headers: { authorization: `Bearer ${b.token}` } });
  const res = await server.request('DELETE', `${api}/sessions/${b.id}`, { token: b.token });
  assert.equal(res.status, 202);
  await Promise.race([viewer.closed(), new Promise((r) => setTimeout(r, 15_000))]);
  assert.equal(viewer.closeCode, 4000);
  assert.equal(viewer.closeReason, 'session_ended');
});
