// Inside the desktop (issue 16), on real LXC sessions through the real server:
// the time left in XFCE's panel and its warnings follow an extension within
// seconds; files go in (streamed: 200 MB arrive intact while the server's memory
// stays flat; hostile names refused, taken names renamed) and out (the share
// folder, one file or a zip), owner and admin only; an English launch gets an
// English desktop and a us keyboard, a French one fr (azerty); a warm-pool
// member is switched at claim. Then the page's files panel in Chromium.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createLxcProvider } from '../../../src/providers/lxc/index.ts';
import { attachArgs } from '../../../src/providers/lxc/container.ts';
import { run } from '../../../src/providers/lxc/exec.ts';
import { containerName } from '../../../src/providers/lxc/naming.ts';
import { startTestServer, waitForReady, waitFor, type TestServer } from '../../support/server.ts';
import { desktopUser, logger, lxcRange, prepareHost } from './helpers.ts';
import { launchBrowser, openPage } from '../../web/harness.ts';

const api = '/api/winux';
// Ids and ports of their own (no other file uses 30941–30944).
const { env, config, cleanAll } = lxcRange(30941, 34941, 4, {
  WINUX_SESSIONS_PER_VISITOR: '0',
  WINUX_CREATE_RATE_PER_MINUTE: '0',
  WINUX_UPLOAD_MAX_MB: '256',
});

/** Runs `cmd` in the container as root, or as the desktop user (uid 1000, made by the template). */
async function inside(containerId: number, cmd: string[], as?: 'user'): Promise<string> {
  const args = attachArgs(config, containerName(containerId), as ? { uid: 1000, gid: 1000 } : undefined);
  return (await run('lxc-attach', [...args, ...cmd], { timeoutMs: 30_000 })).stdout;
}

/** What the desktop's X server says of its keyboard. */
const xkbLayout = async (id: number) =>
  /layout:\s+(\S+)/.exec(await inside(id, ['env', 'DISPLAY=:10', 'XAUTHORITY=/home/winux/.Xauthority', 'setxkbmap', '-query'], 'user'))?.[1];

/** The LANG the running XFCE session (and so every app it starts) has. */
async function sessionLang(id: number): Promise<string | undefined> {
  const pid = (await inside(id, ['pgrep', '-n', '-u', desktopUser, '-x', 'xfce4-session'])).trim();
  const environ = await inside(id, ['cat', `/proc/${pid}/environ`]);
  return /(?:^|\0)LANG=([^\0]*)/.exec(environ)?.[1];
}

/** The panel item's text, as the panel runs it (genmon: /etc/xdg/xfce4/panel/genmon-23.rc), in the session's language. */
const panelText = async (id: number) =>
  /<txt>(.*)<\/txt>/.exec(await inside(id, ['env', `LANG=${await sessionLang(id)}`, '/usr/local/bin/winux-timeleft', '--genmon'], 'user'))?.[1]?.trim();
const secondsLeft = async (id: number) => Number((await inside(id, ['/usr/local/bin/winux-timeleft', '--seconds'], 'user')).trim());

async function launch(server: TestServer, body: Record<string, unknown>) {
  const created = await server.request('POST', `${api}/sessions`, { body });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const session = await waitForReady(server, created.body.session_id, created.body.token, 240_000);
  return { ...session, token: created.body.token as string, id: created.body.session_id as string };
}

/** Random bytes, made as they are sent (never whole in memory), and their SHA-256. */
function randomBody(bytes: number): { stream: ReadableStream<Uint8Array>; sha256: Promise<string> } {
  const hash = createHash('sha256');
  let left = bytes;
  let done: (h: string) => void;
  const sha256 = new Promise<string>((r) => (done = r));
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left === 0) {
        done(hash.digest('hex'));
        return controller.close();
      }
      const chunk = randomBytes(Math.min(left, 256 * 1024));
      left -= chunk.length;
      hash.update(chunk);
      controller.enqueue(chunk);
    },
  });
  return { stream, sha256 };
}

/**
 * Uploads `bytes` random bytes from a separate Node process (so that this process's
 * memory is the server's alone), made as they are sent; answers with their SHA-256.
 * The token goes through the environment, never the command line.
 */
function uploadFromChild(url: string, token: string, bytes: number): Promise<{ status: number; body: any; sha256: string }> {
  const sender = `
    const http = require('node:http');
    const crypto = require('node:crypto');
    const hash = crypto.createHash('sha256');
    let left = ${bytes};
    const req = http.request(process.env.UPLOAD_URL, {
      method: 'POST',
      headers: { authorization: 'Bearer ' + process.env.UPLOAD_TOKEN, 'content-type': 'application/octet-stream', 'content-length': left },
    }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, body: JSON.parse(text), sha256: hash.digest('hex') })));
    });
    const write = () => {
      while (left > 0) {
        const chunk = crypto.randomBytes(Math.min(left, 256 * 1024));
        left -= chunk.length;
        hash.update(chunk);
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', sender], {
      env: { ...process.env, UPLOAD_URL: url, UPLOAD_TOKEN: token },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the sender exited ${code}`))));
  });
}

async function upload(server: TestServer, id: string, token: string, name: string, body: BodyInit, extra: RequestInit = {}) {
  const res = await fetch(`${server.url}${api}/sessions/${id}/files?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body,
    ...extra,
  } as RequestInit);
  return { status: res.status, body: await res.json() };
}

before(
  async () => {
    await prepareHost(config);
    await cleanAll();
  },
  { timeout: 45 * 60_000 },
);
after(cleanAll);

describe('an English session', { timeout: 900_000 }, () => {
  let server: TestServer;
  let s: Awaited<ReturnType<typeof launch>>;
  before(async () => {
    server = await startTestServer({ provider: createLxcProvider(config, logger), env });
    s = await launch(server, { language: 'en', duration_minutes: 5 });
  });
  after(() => server?.close());

  test('a language other than fr or en is refused with a clear 400, and nothing is created', async () => {
    const before = (await server.service.list({ statuses: ['creating', 'ready'] })).length;
    const r = await server.request('POST', `${api}/sessions`, { body: { language: 'de' } });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message, /language/);
    assert.equal((await server.service.list({ statuses: ['creating', 'ready'] })).length, before);
  });

  test('has an English desktop and a us (qwerty) keyboard, and English folders', async () => {
    assert.equal(await xkbLayout(s.container_id), 'us');
    assert.equal(await sessionLang(s.container_id), 'en_US.UTF-8');
    const dirs = await inside(s.container_id, ['ls', '/home/winux'], 'user');
    assert.match(dirs, /^Downloads$/m);
    assert.match(dirs, /^Share$/m);
    assert.doesNotMatch(dirs, /Téléchargements|Partage/);
  });

  // Before the extension below: the warning is due only while 5 minutes or less are left,
  // and the notifier starts with the session's autostart, a moment after `ready`.
  test('the 5-minute warning was shown by the notification daemon (the session started with 5 minutes)', async () => {
    const log = await waitFor(
      () => inside(s.container_id, ['sh', '-c', 'cat /home/winux/.cache/winux-timeleft.log 2>/dev/null || true'], 'user'),
      30_000,
      'the warning',
    );
    assert.match(log, /^\d+ 300 \d+$/m);
    assert.ok((await inside(s.container_id, ['pgrep', '-u', desktopUser, '-f', 'xfce4-notifyd'])).trim(), 'xfce4-notifyd runs');
  });

  test("the panel shows the time left; an extension through the API changes it within seconds; the end file is root's, read-only", async () => {
    // The panel really runs the item: its genmon plugin is loaded (in the panel or its
    // wrapper), a moment after the panel itself started.
    const panelMaps = () =>
      inside(s.container_id, [
        'sh',
        '-c',
        `for p in $(pgrep -u ${desktopUser} -x xfce4-panel; pgrep -u ${desktopUser} -f wrapper-2.0); do cat /proc/$p/maps; done`,
      ]);
    await waitFor(async () => /libgenmon\.so/.test(await panelMaps()), 30_000, "the panel's genmon plugin");
    const leftBefore = await secondsLeft(s.container_id);
    assert.ok(leftBefore > 200 && leftBefore <= 300, `${leftBefore} s left of a 5-minute session`);
    assert.match((await panelText(s.container_id)) ?? '', /^⏱ \d:\d\d left$/);
    const owner = await inside(s.container_id, ['stat', '-c', '%U %a', '/etc/winux/ends-at']);
    assert.equal(owner.trim(), 'root 644');
    await assert.rejects(inside(s.container_id, ['sh', '-c', 'echo 1 > /etc/winux/ends-at'], 'user'));

    const ext = await server.request('POST', `${api}/sessions/${s.id}/extend`, { token: s.token, body: { minutes: 30 } });
    assert.equal(ext.status, 200, JSON.stringify(ext.body));
    const leftAfter = await waitFor(
      async () => {
        const left = await secondsLeft(s.container_id);
        return left > leftBefore + 1700 ? left : null;
      },
      5000,
      'the new end inside the desktop',
    );
    assert.ok(Math.abs(leftAfter - ext.body.remaining_seconds) <= 3, `${leftAfter} inside, ${ext.body.remaining_seconds} in the API`);
    assert.match((await panelText(s.container_id)) ?? '', /^⏱ 3\d min left$/);
  });

  // Bigger than the 50 MB: V8 collects request buffers only once some 64 MB of them
  // piled up, so a 50 MB file cannot tell streaming from holding; 200 MB can.
  test('200 MB arrive intact in ~/Downloads while the server stays flat in memory', async () => {
    const bytes = 200 * 1024 * 1024;
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const started = Date.now();
    const r = await uploadFromChild(`${server.url}${api}/sessions/${s.id}/files?name=big.bin`, s.token, bytes).finally(() => clearInterval(sampler));
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body, { name: 'big.bin', size: bytes });
    const sum = await inside(s.container_id, ['sha256sum', '/home/winux/Downloads/big.bin'], 'user');
    assert.equal(sum.split(' ')[0], r.sha256);
    const owner = await inside(s.container_id, ['stat', '-c', '%U', '/home/winux/Downloads/big.bin']);
    assert.equal(owner.trim(), desktopUser);
    // The sender is another process: what this one grows by is the server's (and the test's) alone.
    const growth = (peak - base) / 1024 / 1024;
    console.log(`upload 200 MB: ${seconds.toFixed(1)} s, server RSS growth ${growth.toFixed(1)} MB`);
    assert.ok(growth < 100, `the server's RSS grew by ${growth.toFixed(1)} MB during a 200 MB upload`);
  });

  test('hostile names are refused and change nothing; a taken name gets " (1)"; over the limit is 413', async () => {
    for (const name of [
      '../../etc/passwd',
      'a/b',
      'nul\0x',
      '.bashrc',
      '..',
      `${'é'.repeat(101)}.txt`,
      'evil\u202egpj.exe',
      'zero\u200bwidth',
      'line\nbreak',
    ]) {
      const r = await upload(server, s.id, s.token, name, 'x');
      assert.equal(r.status, 400, `${JSON.stringify(name)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'bad_request');
    }
    assert.doesNotMatch(await inside(s.container_id, ['ls', '-A', '/home/winux/Downloads'], 'user'), /passwd|bashrc|\.winux-upload/);
    assert.equal((await upload(server, s.id, s.token, 'notes.txt', 'one')).body.name, 'notes.txt');
    assert.equal((await upload(server, s.id, s.token, 'notes.txt', 'two')).body.name, 'notes (1).txt');
    assert.equal((await upload(server, s.id, s.token, 'Café 日本.txt', 'three')).body.name, 'Café 日本.txt');
    assert.equal(await inside(s.container_id, ['cat', '/home/winux/Downloads/notes.txt'], 'user'), 'one');
    // A symlink the visitor planted is not followed: the upload takes another name.
    await inside(s.container_id, ['ln', '-s', '/etc/shadow', '/home/winux/Downloads/trap.txt'], 'user');
    assert.equal((await upload(server, s.id, s.token, 'trap.txt', 'four')).body.name, 'trap (1).txt');
    const big = await upload(server, s.id, s.token, 'huge.bin', randomBody(257 * 1024 * 1024).stream, { duplex: 'half' } as RequestInit);
    assert.equal(big.status, 413, JSON.stringify(big.body));
    assert.doesNotMatch(await inside(s.container_id, ['ls', '-A', '/home/winux/Downloads'], 'user'), /huge|\.winux-upload/);
  });

  test('the share folder is listed and downloaded (one file, or a zip)', async () => {
    await inside(s.container_id, ['sh', '-c', 'printf "hello from the desktop" > /home/winux/Share/report.txt'], 'user');
    const list = await server.request('GET', `${api}/sessions/${s.id}/files`, { token: s.token });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.deepEqual(
      list.body.files.map((f: { name: string; size: number }) => [f.name, f.size]),
      [['report.txt', 22]],
    );
    const one = await fetch(`${server.url}${api}/sessions/${s.id}/files/report.txt`, { headers: { authorization: `Bearer ${s.token}` } });
    assert.equal(one.status, 200);
    assert.match(one.headers.get('content-disposition') ?? '', /attachment; filename="report.txt"/);
    assert.equal(await one.text(), 'hello from the desktop');
    const zip = await fetch(`${server.url}${api}/sessions/${s.id}/files.zip`, { headers: { authorization: `Bearer ${s.token}` } });
    assert.equal(zip.status, 200);
    const bytes = Buffer.from(await zip.arrayBuffer());
    assert.equal(bytes.subarray(0, 2).toString(), 'PK');
    assert.ok(bytes.includes(Buffer.from('report.txt')));
    const missing = await server.request('GET', `${api}/sessions/${s.id}/files/nothing.txt`, { token: s.token });
    assert.equal(missing.status, 404);
  });

  test('a foreign token and an unknown id get the same answer; nobody without a token; the admin may', async () => {
    const other = await server.request('POST', `${api}/sessions`, { body: {} });
    const foreign = other.body.token as string;
    const unknown = 'winux-abcdefgh2345';
    for (const [method, p] of [
      ['GET', 'files'],
      ['GET', 'files/report.txt'],
      ['GET', 'files.zip'],
    ] as const) {
      const mine = await server.request(method, `${api}/sessions/${s.id}/${p}`, { token: foreign });
      const none = await server.request(method, `${api}/sessions/${unknown}/${p}`, { token: foreign });
      assert.equal(mine.status, none.status, p);
      assert.deepEqual(mine.body, none.body, p);
      assert.equal((await server.request(method, `${api}/sessions/${s.id}/${p}`)).status, 401);
    }
    const up = await upload(server, s.id, foreign, 'x.txt', 'x');
    const upNone = await upload(server, unknown, foreign, 'x.txt', 'x');
    assert.deepEqual([up.status, up.body], [upNone.status, upNone.body]);
    const admin = await server.request('GET', `${api}/sessions/${s.id}/files`, { token: server.adminToken });
    assert.equal(admin.status, 200);
    const audit = await server.request('GET', `${api}/audit?session_id=${s.id}`, { token: server.adminToken });
    const actions = JSON.stringify(audit.body);
    assert.match(actions, /file\.upload/);
    assert.match(actions, /file\.download/);
    await server.service.destroy(other.body.session_id, 'test', { wait: true });
  });

  test("the page's files panel: pick a file (progress shown), it arrives; a shared file downloads", async () => {
    const browser = await launchBrowser();
    try {
      const { context, page } = await openPage(browser, server.url, { locale: 'en-US' });
      // The visitor's own session: its token as the page's cookie.
      await context.addCookies([{ name: 'winux_token', value: s.token, url: server.url }]);
      await page.goto(`${server.url}/winux/`);
      await page.getByRole('button', { name: 'Open in the browser', exact: true }).click();
      await page.locator('#dt-files').click();
      const progress: number[] = [];
      await page.exposeFunction('noteProgress', (v: number) => progress.push(v));
      await page.evaluate(() => {
        const bar = document.getElementById('files-progress') as HTMLProgressElement;
        new MutationObserver(() => (window as unknown as { noteProgress(v: number): void }).noteProgress(bar.value / bar.max)).observe(bar, {
          attributes: true,
        });
      });
      const content = randomBytes(8 * 1024 * 1024);
      await page.locator('#files-input').setInputFiles({ name: 'from-the-page.bin', mimeType: 'application/octet-stream', buffer: content });
      await page.locator('#files-status', { hasText: 'from-the-page.bin is in Downloads.' }).waitFor({ timeout: 60_000 });
      const sum = await inside(s.container_id, ['sha256sum', '/home/winux/Downloads/from-the-page.bin'], 'user');
      assert.equal(sum.split(' ')[0], createHash('sha256').update(content).digest('hex'));
      assert.ok(progress.some((p) => p > 0 && p < 1) || progress.includes(1), `progress seen: ${progress.join(',')}`);

      // Reopen the panel: the list is read again.
      await page.locator('#dt-files').click();
      await page.locator('#dt-files').click();
      const link = page.locator('#files-list a', { hasText: 'report.txt' });
      await link.waitFor();
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
      const stream = await download.createReadStream();
      let got = '';
      for await (const chunk of stream) got += chunk;
      assert.equal(got, 'hello from the desktop');
      await context.close();
    } finally {
      await browser.close();
    }
  });
});

describe('a French session, and a warm-pool member claimed in English', { timeout: 900_000 }, () => {
  test('a French launch has fr (azerty) and a French desktop; a pool member claimed in English is switched at claim', async () => {
    const server = await startTestServer({ provider: createLxcProvider(config, logger), env: { ...env, WINUX_POOL_SIZE: '1' } });
    try {
      const pooled = await waitFor(
        async () => {
          const ready = (await server.service.list({ pooled: true, statuses: ['ready'] })).map((p) => p.containerId);
          return ready.length ? ready : undefined; // an empty list would be truthy
        },
        240_000,
        'a ready pool member',
      );
      const en = await launch(server, { language: 'en' });
      assert.ok(pooled.includes(en.container_id), `a pool member was claimed (${en.container_id} of ${pooled})`);
      assert.equal(await xkbLayout(en.container_id), 'us');
      assert.equal(await sessionLang(en.container_id), 'en_US.UTF-8');
      const fr = await launch(server, { language: 'fr' });
      assert.equal(await xkbLayout(fr.container_id), 'fr');
      assert.equal(await sessionLang(fr.container_id), 'fr_FR.UTF-8');
      assert.match(await inside(fr.container_id, ['ls', '/home/winux'], 'user'), /^Téléchargements$/m);
      assert.match((await panelText(fr.container_id)) ?? '', /^⏱ Reste /);
    } finally {
      await server.close();
    }
  });
});
