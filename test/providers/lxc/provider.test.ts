// The local LXC provider against real containers: real XFCE + xrdp desktops,
// real RDP logins with FreeRDP through the gateway port, real isolation checks.
// Every container made here is destroyed in `after`, and the last test checks
// that nothing of them is left on the host.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { createLogger } from '../../../src/logger.ts';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { CreationStep } from '../../../src/core/session.ts';
import type { CreateSpec } from '../../../src/core/provider-port.ts';
import { createLxcProvider } from '../../../src/providers/lxc/index.ts';
import { createTlsKeyStock, newRsaKey } from '../../../src/providers/lxc/tls-key-stock.ts';
import { sessionCgroupFile } from '../../../src/providers/lxc/cgroups.ts';
import { containerDir } from '../../../src/providers/lxc/container.ts';
import { run } from '../../../src/providers/lxc/exec.ts';
import { sessionIdMap, sessionIdSpace } from '../../../src/providers/lxc/idmap.ts';
import { containerIp, containerName, rdpPort } from '../../../src/providers/lxc/naming.ts';
import { ensureNetwork as ensureNetworkFor, sessionDns } from '../../../src/providers/lxc/network.ts';
import { ensureTemplate, templateState } from '../../../src/providers/lxc/template.ts';
import { startCmdlineSampler } from '../../support/cmdline-sampler.ts';
import { waitFor } from '../../support/server.ts';
import {
  cgroupRoots,
  desktopUser,
  leftovers,
  logger,
  lxcConfig,
  portAccepts,
  prepareHost,
  randomPassword,
  rdpLogin,
  screenshotColours,
  startXfreerdp,
  startXvfb,
} from './helpers.ts';

const config = lxcConfig();
// A stock of one key that records what it made: B's test checks its key is the one handed in.
const stockKeys: string[] = [];
const tlsKeys = createTlsKeyStock(
  1,
  async () => {
    const key = await newRsaKey();
    stockKeys.push(key);
    return key;
  },
  0,
);
const provider = createLxcProvider(config, logger, { tlsKeys });
// Near the top of the id range, away from a server's first sessions on the same host.
const A = 30901;
const B = 30902;
const HALF = 30903;
const CANCELLED = 30904;
const FULL = 30905;
const STALE = 30906;
const used = [A, B, HALF, CANCELLED, FULL, STALE];
const passwords = new Map<number, string>();
const outDir = path.resolve(import.meta.dirname, '../../../test-output');

function spec(containerId: number, overrides: Partial<CreateSpec> = {}): CreateSpec {
  const password = randomPassword();
  passwords.set(containerId, password);
  return {
    sessionId: `test-${containerId}`,
    containerId,
    hostname: `winux-test-${containerId}`,
    username: desktopUser,
    password,
    memoryMb: config.resources.memoryMb,
    cores: config.resources.cores,
    diskGb: config.resources.diskGb,
    pidsMax: config.resources.pidsMax,
    ...overrides,
  };
}

function attach(id: number, command: string[], input?: string) {
  return run(
    'lxc-attach',
    ['-P', config.lxc.path, '-n', containerName(id), '--clear-env', '--set-var', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', '--', ...command],
    { input, okCodes: [1, 2, 124], timeoutMs: 30_000 },
  );
}

/** Can container `id` open a TCP connection to ip:port? (bash's /dev/tcp, 3 s limit) */
async function canConnect(id: number, ip: string, port: number): Promise<boolean> {
  const r = await attach(id, ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`]);
  return r.code === 0;
}

let xvfb: Awaited<ReturnType<typeof startXvfb>>;

before(
  async () => {
    await prepareHost(config);
    xvfb = await startXvfb();
    // Leftovers of an interrupted earlier run would make the results meaningless.
    for (const id of used) await provider.destroy({ containerId: id });
  },
  { timeout: 45 * 60_000 },
);

after(async () => {
  xvfb?.stop();
  for (const id of used) await provider.destroy({ containerId: id }).catch(() => {});
});

/** Every process command line on the host right now (to prove a secret never appears in one). */
function commandLines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      /* exited */
    }
  }
  return out;
}

test('create makes a desktop that accepts a real RDP login through the gateway port', { timeout: 240_000 }, async () => {
  const steps: CreationStep[] = [];
  // A provider whose logs are captured at debug level, to look for the password in them.
  const logLines: string[] = [];
  const captured = createLxcProvider(
    config,
    createLogger('debug', {
      write: (line: string) => {
        logLines.push(line);
      },
    }),
  );
  const s = spec(A);
  let seenOnCommandLine = false;
  const watcher = setInterval(() => {
    if (commandLines().some((c) => c.includes(s.password))) seenOnCommandLine = true;
  }, 20);
  let created: Awaited<ReturnType<typeof captured.create>>;
  try {
    created = await captured.create(s, { signal: AbortSignal.timeout(200_000), progress: (step) => steps.push(step) });
  } finally {
    clearInterval(watcher);
  }
  assert.equal(seenOnCommandLine, false, 'the password appeared on a command line');
  assert.ok(logLines.length > 0, 'control: the provider logged something');
  assert.equal(
    logLines.some((l) => l.includes(s.password)),
    false,
    'the password appeared in the logs',
  );
  assert.deepEqual(steps, ['cloning', 'starting', 'network', 'desktop']);
  assert.equal(created.ip, containerIp(config, A));
  assert.deepEqual(created.endpoint, { host: null, port: rdpPort(config, A) });
  assert.equal(created.ref.containerId, A);
  assert.equal(await provider.status(created.ref), 'running');

  // Through the gateway port on 127.0.0.1, as an RDP client would come.
  assert.equal(
    await rdpLogin(config, A, created.endpoint.port, desktopUser, `${passwords.get(A)!}x`, xvfb.display),
    'refused',
    'a wrong password was accepted',
  );
  assert.equal(await rdpLogin(config, A, created.endpoint.port, desktopUser, passwords.get(A)!, xvfb.display), 'accepted', 'the right password was refused');
});

test('the session container is unprivileged, limited, named after the session, and root cannot log in over RDP', { timeout: 120_000 }, async () => {
  const uidMap = (await attach(A, ['cat', '/proc/self/uid_map'])).stdout.trim().split(/\s+/);
  assert.deepEqual(uidMap, ['0', String(sessionIdMap(config, A).uid), '65536']);
  assert.equal((await attach(A, ['hostname'])).stdout.trim(), `winux-test-${A}`);

  const limit = Number(readFileSync(sessionCgroupFile(containerName(A), 'memory', 'memory.limit_in_bytes', 'memory.max'), 'utf8'));
  assert.equal(limit, config.resources.memoryMb * 1024 * 1024);
  const pids = readFileSync(sessionCgroupFile(containerName(A), 'pids', 'pids.max', 'pids.max'), 'utf8');
  assert.equal(Number(pids), config.resources.pidsMax);

  // xrdp and sesman run in the foreground: daemonised, xrdp 0.9 sleeps before
  // systemd sees it started and again before it answers (2.2 s of every cold start).
  for (const unit of ['xrdp', 'xrdp-sesman']) {
    const show = (await attach(A, ['systemctl', 'show', unit, '-p', 'Type', '-p', 'ActiveState', '-p', 'ExecStart'])).stdout;
    assert.match(show, /^Type=simple$/m, unit);
    assert.match(show, /^ActiveState=active$/m, unit);
    assert.match(show, /--nodaemon/, unit);
  }

  // Give root a known password inside the container: xrdp must still refuse it.
  const rootPassword = randomPassword();
  await attach(A, ['chpasswd'], `root:${rootPassword}\n`);
  assert.equal(await rdpLogin(config, A, rdpPort(config, A), 'root', rootPassword, xvfb.display), 'refused', 'root logged in over RDP');
  await attach(A, ['passwd', '-l', 'root']);
});

test("a session's XFCE starts like a returning user's: it writes none of the settings the template's first login made", { timeout: 60_000 }, async () => {
  // A first start writes a few hundred XFCE settings, each one a change every XFCE
  // process reacts to (template/first-login.sh made them once, at build time). What
  // the session writes lands in its overlay's upper layer, its own disk.
  const upper = path.join(containerDir(config, containerName(A)), 'overlay', 'delta');
  assert.ok(existsSync(path.join(upper, 'home', desktopUser)), 'control: the session wrote into its home (its folders, the VNC password)');
  const settings = path.join(upper, 'home', desktopUser, '.config', 'xfce4', 'xfconf');
  assert.deepEqual(existsSync(settings) ? readdirSync(settings, { recursive: true }) : [], [], 'settings XFCE wrote at this start');
  // They are there all the same, read from the template.
  const channels = `/home/${desktopUser}/.config/xfce4/xfconf/xfce-perchannel-xml`;
  assert.match((await attach(A, ['cat', `${channels}/xfce4-keyboard-shortcuts.xml`])).stdout, /name="override" type="bool" value="true"/);
  // And the desktop runs (started by winux-xfce-session).
  const processes = (await attach(A, ['pgrep', '-a', '-u', desktopUser, '.'])).stdout;
  for (const name of ['xfce4-session', 'xfce4-panel', 'xfdesktop', 'xfwm4']) assert.match(processes, new RegExp(`^\\d+ ${name}\\b`, 'm'), name);
});

test("usage reads each session's CPU and memory from its cgroup: a busy loop inside shows as about a core", { timeout: 90_000 }, async () => {
  const ref = { containerId: A, name: containerName(A) };
  const missing = 30999;
  const first = await provider.usage!([ref, { containerId: missing }]);
  assert.equal(first.has(missing), false, 'a container that does not exist is left out');
  assert.equal(first.get(A)?.cpuPercent, null, 'no rate from a single sample');
  assert.ok(first.get(A)!.memoryBytes > 10 * 2 ** 20, `the desktop uses memory (${first.get(A)!.memoryBytes} bytes)`);
  await new Promise((r) => setTimeout(r, 1500));
  const quiet = (await provider.usage!([ref])).get(A)!.cpuPercent!;
  const busy = attach(A, ['timeout', '8', 'sh', '-c', 'while :; do :; done']);
  await new Promise((r) => setTimeout(r, 1000));
  await provider.usage!([ref]);
  await new Promise((r) => setTimeout(r, 3000));
  const loaded = (await provider.usage!([ref])).get(A)!.cpuPercent!;
  await busy;
  // On a loaded machine a busy loop may get less than a core: it must stand out, not reach a figure.
  assert.ok(loaded > quiet + 15, `a busy loop shows (quiet ${quiet} %, busy ${loaded} %)`);

  const [host] = await provider.hosts!();
  assert.ok(host!.online && host!.memoryTotalBytes! > host!.memoryUsedBytes! && host!.memoryUsedBytes! > 0);
  assert.ok(host!.diskTotalBytes! > 0 && host!.load!.length === 3);
  const t = await provider.templateStatus!();
  const state = await templateState(config);
  assert.equal(t.recipeHash, state.hash);
  assert.equal(t.copies[0]!.hash, state.installedHash);
  assert.ok(t.copies[0]!.archiveBytes! > 100 * 2 ** 20, 'the real archive is hundreds of MB');
  assert.deepEqual(t.rebuild, { offered: true });
});

test('sessions cannot reach each other or the host, and each has its own TLS key', { timeout: 240_000 }, async () => {
  // The stock refilled after A's create: B gets that key, through stdin only.
  await tlsKeys.idle();
  const handedKey = stockKeys.at(-1) ?? '';
  assert.ok(handedKey?.startsWith('-----BEGIN PRIVATE KEY-----'), 'the stock made a key');
  const sampler = startCmdlineSampler();
  await provider.create(spec(B), { signal: AbortSignal.timeout(200_000), progress: () => {} });
  const { cmdlines } = await sampler.stop();
  const keyBody = handedKey.split('\n')[1];
  assert.equal(cmdlines.filter((c) => c.includes(keyBody)).length, 0, 'the TLS key appeared in a process command line');
  const keyFile = (id: number) => attach(id, ['cat', '/etc/xrdp/key.pem']).then((r) => r.stdout);
  assert.equal(await keyFile(B), handedKey, "B's TLS key is not the one handed in");
  assert.notEqual(await keyFile(A), handedKey, 'two sessions got the same key');
  const certKey = (await attach(B, ['openssl', 'x509', '-in', '/etc/xrdp/cert.pem', '-noout', '-pubkey'])).stdout;
  assert.equal(certKey, (await attach(B, ['openssl', 'pkey', '-in', '/etc/xrdp/key.pem', '-pubout'])).stdout, "the certificate is not the key's");
  assert.equal((await attach(B, ['stat', '-c', '%a %U:%G', '/etc/xrdp/key.pem'])).stdout.trim(), '640 root:ssl-cert');
  // Control: the method works (a container reaches its own xrdp).
  assert.equal(await canConnect(A, '127.0.0.1', 3389), true);
  assert.equal(await canConnect(A, containerIp(config, B), 3389), false, 'session A reached session B');
  assert.equal(await canConnect(B, containerIp(config, A), 3389), false, 'session B reached session A');

  // A service on the host, listening on every address including the bridge's.
  const server = net.createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    assert.equal(await portAccepts(port, '10.217.0.1'), true, 'control: the host service answers locally');
    assert.equal(await canConnect(A, '10.217.0.1', port), false, 'a session reached a host service');
    // Another session's gateway port on the host is closed to sessions too.
    assert.equal(await canConnect(A, '10.217.0.1', rdpPort(config, B)), false, "a session reached another session's gateway port");
  } finally {
    server.close();
  }

  const fingerprint = async (id: number) =>
    (await attach(id, ['openssl', 'x509', '-in', '/etc/xrdp/cert.pem', '-noout', '-fingerprint', '-sha256'])).stdout.trim();
  const [fa, fb] = [await fingerprint(A), await fingerprint(B)];
  assert.match(fa, /Fingerprint=/);
  assert.notEqual(fa, fb, 'two sessions share a TLS key');
  const { rootfs } = await templateState(config);
  assert.equal(existsSync(path.join(rootfs, 'etc/xrdp/key.pem')), false, 'the template ships a TLS key');
});

test("sessions reach neither the host's local networks nor the cloud metadata address, unless an admin allows a network", { timeout: 120_000 }, async (t) => {
  // A machine on the "LAN": a network namespace of our own behind a veth, with a
  // private address and the link-local metadata address, serving TCP on 8080.
  const ns = 'winux-test-lan';
  const [hostSide, nsSide, lan, hostIp, nsIp, metadata] = ['wxlan0', 'wxlan1', '172.31.254.0/24', '172.31.254.1', '172.31.254.2', '169.254.169.254'];
  const ip = (...args: string[]) => run('ip', args, { okCodes: [0, 1, 2] });
  const cleanup = async () => {
    await ip('netns', 'del', ns);
    await ip('link', 'del', hostSide);
    await ip('route', 'del', `${metadata}/32`);
  };
  await cleanup();
  t.after(async () => {
    await ensureNetworkFor(config); // the default rules again
    await cleanup();
  });
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide]);
  await run('ip', ['link', 'set', nsSide, 'netns', ns]);
  await run('ip', ['addr', 'add', `${hostIp}/24`, 'dev', hostSide]);
  await run('ip', ['link', 'set', hostSide, 'up']);
  await run('ip', ['route', 'add', `${metadata}/32`, 'dev', hostSide]);
  for (const cmd of [
    ['addr', 'add', `${nsIp}/24`, 'dev', nsSide],
    ['addr', 'add', `${metadata}/32`, 'dev', nsSide],
    ['link', 'set', nsSide, 'up'],
    ['link', 'set', 'lo', 'up'],
    ['route', 'add', 'default', 'via', hostIp],
  ]) {
    await run('ip', ['-n', ns, ...cmd]);
  }
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', "require('net').createServer((s) => s.end('lan')).listen(8080)"], {
    stdio: 'ignore',
  });
  t.after(() => server.kill());
  await waitFor(() => portAccepts(8080, nsIp), 10_000, 'the LAN machine listening');

  // Controls: the host reaches both addresses.
  assert.equal(await portAccepts(8080, nsIp), true, 'control: the LAN machine answers the host');
  assert.equal(await portAccepts(8080, metadata), true, 'control: the metadata address answers the host');
  assert.equal(await canConnect(A, nsIp, 8080), false, 'a session reached a machine on the LAN');
  assert.equal(await canConnect(A, metadata, 8080), false, 'a session reached the cloud metadata address');

  // An admin allows that one network: now it is reachable, and the metadata address still is not.
  await ensureNetworkFor(lxcConfig({ WINUX_ALLOWED_NETWORKS: lan }));
  assert.equal(await canConnect(A, nsIp, 8080), true, 'an allowed network is reachable');
  assert.equal(await canConnect(A, metadata, 8080), false, 'allowing one network opened another');

  // DNS to the host's own nameservers stays open whatever their address (they are often on the LAN).
  for (const server of (await sessionDns(config)).servers) {
    for (const proto of ['udp', 'tcp']) {
      const rule = ['WINUX-FORWARD', '-i', config.lxc.bridge, '-d', `${server}/32`, '-p', proto, '--dport', '53', '-j', 'ACCEPT'];
      assert.equal((await run('iptables', ['-C', ...rule], { okCodes: [0, 1] })).code, 0, `DNS (${proto}) to ${server} is open`);
    }
  }
});

test("a session has a disk of its own: writes stop at WINUX_DISK_GB and the host's disk only holds what was written", { timeout: 180_000 }, async () => {
  await provider.create(spec(FULL, { diskGb: 1 }), { signal: AbortSignal.timeout(150_000), progress: () => {} });
  const asUser = (script: string) => attach(FULL, ['runuser', '-u', desktopUser, '--', 'sh', '-c', script]);
  const gib = 1024 ** 3;
  const size = Number((await asUser('df -B1 --output=size / | tail -1')).stdout.trim());
  assert.ok(size > 0.9 * gib && size <= gib, `the desktop sees a 1 GiB disk, not the host's (${size} bytes)`);

  const fill = await asUser(`dd if=/dev/zero of=$HOME/fill bs=1M count=1500 2>&1`);
  assert.notEqual(fill.code, 0, 'writing 1.5 GB on a 1 GiB disk succeeded');
  assert.match(fill.stdout, /No space left on device/);
  const image = path.join(config.lxc.path, containerName(FULL), 'disk.img');
  const onHost = statSync(image).blocks * 512;
  assert.ok(onHost <= 1.05 * gib, `the host holds ${onHost} bytes for a 1 GiB disk`);
  assert.ok(onHost > 0.5 * gib, 'control: the writes did land in the session disk image');

  // Freeing space works as on any disk, and the desktop is still answering.
  assert.equal((await asUser('rm $HOME/fill && echo ok > $HOME/after && cat $HOME/after')).stdout.trim(), 'ok');
  assert.equal(await portAccepts(rdpPort(config, FULL)), true);

  await provider.destroy({ containerId: FULL });
  assert.equal(existsSync(image), false, 'the image is removed with the session');
  assert.deepEqual(await leftovers(config, FULL), []);
});

test('a full RDP login under Xvfb shows the XFCE desktop, without a Display dialog or a screen lock', { timeout: 180_000 }, async () => {
  mkdirSync(outDir, { recursive: true });
  const screen = await startXvfb('1280x800x24');
  const display = screen.display;
  let client: ReturnType<typeof startXfreerdp> | undefined;
  try {
    client = startXfreerdp(
      [`/v:127.0.0.1:${rdpPort(config, A)}`, `/u:${desktopUser}`, '/cert:ignore', '/size:1280x800', '/bpp:24', '/log-level:ERROR'],
      passwords.get(A)!,
      { DISPLAY: display },
      120_000,
    );
    // XFCE's own processes, running as the desktop user inside the container.
    const wanted = ['xfce4-session', 'xfwm4', 'xfce4-panel', 'xfdesktop'];
    let procs = '';
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      procs = (await attach(A, ['ps', '-u', desktopUser, '-o', 'comm='])).stdout;
      if (wanted.every((p) => procs.includes(p))) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    for (const p of wanted) assert.ok(procs.includes(p), `${p} is not running in the session (running: ${procs.replace(/\n/g, ' ')})`);
    await new Promise((r) => setTimeout(r, 6000)); // let the panel and desktop paint
    procs = (await attach(A, ['ps', '-e', '-o', 'args='])).stdout;
    assert.doesNotMatch(procs, /xfce4-display-settings/, 'the Display dialog opened');
    assert.doesNotMatch(procs, /light-locker|xfce4-screensaver|xscreensaver/, 'a screen locker runs');

    // The RDP window shows the remote desktop: a blank, black or single-colour screen has very few colours.
    // XFCE runs from the session's start, so its processes say nothing of the RDP login: watch the screen.
    const png = path.join(outDir, 'lxc-desktop.png');
    let colours = 0;
    const shown = Date.now() + 60_000;
    while (Date.now() < shown) {
      colours = await screenshotColours(display, png);
      if (colours > 200) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(colours > 200, `the screenshot has only ${colours} colours: no desktop drawn (see ${png})`);
    // XFCE's panel is a light bar along the top edge, over the blue wallpaper.
    const top = (await run('convert', [png, '-crop', '1280x20+0+0', '-resize', '1x1!', '-format', '%[fx:int(255*mean)]', 'info:'])).stdout.trim();
    const middle = (await run('convert', [png, '-crop', '400x200+440+300', '-resize', '1x1!', '-format', '%[fx:int(255*mean)]', 'info:'])).stdout.trim();
    assert.notEqual(top, middle, `panel and desktop look the same (top ${top}, middle ${middle})`);
  } finally {
    client?.stop();
    screen.stop();
  }
});

test('destroy leaves nothing: container, overlay, logs, forwarded port; destroying again is fine', { timeout: 120_000 }, async () => {
  const port = rdpPort(config, A);
  assert.equal(await portAccepts(port), true, 'control: the port is open before destroy');
  const lower = path.join(config.lxc.path, containerName(A), 'lower');
  assert.ok(readFileSync('/proc/self/mounts', 'utf8').includes(` ${lower} `), "control: the session's shifted template view is mounted");
  const template = (await templateState(config)).rootfs;
  const shadow = statSync(path.join(template, 'etc', 'shadow'));
  await provider.destroy({ containerId: A });
  assert.deepEqual(await leftovers(config, A), []);
  // Its view of the template is unmounted, never walked through: the template's files and owners are as they were.
  const later = statSync(path.join(template, 'etc', 'shadow'));
  assert.deepEqual([later.uid, later.gid, later.ino, later.mtimeMs], [shadow.uid, shadow.gid, shadow.ino, shadow.mtimeMs]);
  assert.ok(existsSync(path.join(template, 'usr', 'local', 'sbin', 'winux-session-init')));
  assert.equal(await portAccepts(port), false, 'the RDP port is still open');
  assert.equal(await provider.status({ containerId: A }), 'missing');
  await provider.destroy({ containerId: A }); // not found is success
});

test('list finds every session container, half-made ones too, never the template', { timeout: 60_000 }, async () => {
  // A clone left behind by a server killed right after lxc-copy.
  await run('lxc-copy', ['-P', config.lxc.path, '-n', config.lxc.template, '-N', containerName(HALF), '-s', '-B', 'overlayfs']);
  const listed = await provider.list();
  const byId = new Map(listed.map((m) => [m.containerId, m]));
  assert.equal(byId.get(B)?.state, 'running');
  assert.equal(byId.get(HALF)?.state, 'stopped');
  assert.equal(byId.has(A), false);
  assert.ok(listed.every((m) => m.ref.name !== config.lxc.template && /^winux-\d+$/.test(String(m.ref.name))));
  await provider.destroy(byId.get(HALF)!.ref);
  await provider.destroy({ containerId: B });
  assert.deepEqual(await leftovers(config, HALF), []);
  assert.deepEqual(await leftovers(config, B), []);
});

test('a cancelled create stops early and destroy then removes what it made', { timeout: 120_000 }, async () => {
  const controller = new AbortController();
  await assert.rejects(
    provider.create(spec(CANCELLED), {
      signal: controller.signal,
      progress: (step) => {
        if (step === 'starting') controller.abort(new Error('test cancels'));
      },
    }),
    /cancelled/,
  );
  await provider.destroy({ containerId: CANCELLED });
  assert.deepEqual(await leftovers(config, CANCELLED), []);
});

test('the cgroups a killed lxc-start left do not stop the next start, and destroy removes them', { timeout: 120_000 }, async () => {
  // What a SIGKILLed container leaves: an empty lxc.monitor.<name>, and winux/<name> with the
  // cgroups its systemd made, in every hierarchy.
  const name = containerName(STALE);
  for (const root of cgroupRoots()) {
    mkdirSync(path.join(root, `lxc.monitor.${name}`), { recursive: true });
    mkdirSync(path.join(root, 'winux', name, 'system.slice', 'xrdp.service'), { recursive: true });
  }
  try {
    await provider.create(spec(STALE), { signal: new AbortController().signal, progress: () => {} });
    assert.equal(await provider.status({ containerId: STALE }), 'running');
  } finally {
    await provider.destroy({ containerId: STALE });
  }
  assert.deepEqual(await leftovers(config, STALE), []);
});

test('host preparation is idempotent: a second run changes nothing', { timeout: 120_000 }, async () => {
  const before = (await run('iptables-save', [])).stdout.replace(/^[#:].*$/gm, '').replace(/\[\d+:\d+\]/g, '');
  const subIds = () => ['/etc/subuid', '/etc/subgid'].map((f) => readFileSync(f, 'utf8'));
  const subIdsBefore = subIds();
  await prepareHost(config);
  const after = (await run('iptables-save', [])).stdout.replace(/^[#:].*$/gm, '').replace(/\[\d+:\d+\]/g, '');
  assert.equal(after, before);
  // One root line for all the sessions' ranges, reserved once: sessions come and go without touching it.
  assert.deepEqual(subIds(), subIdsBefore);
  const { start, count } = sessionIdSpace();
  for (const text of subIdsBefore) assert.equal(text.split('\n').filter((l) => l === `root:${start}:${count}`).length, 1, text);
  const again = await ensureTemplate(config, logger);
  assert.equal(again.did, 'nothing');
});

test('an id whose gateway port a host program listens on is refused as taken, before anything is made', { timeout: 60_000 }, async () => {
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(rdpPort(config, CANCELLED), '127.0.0.1', r));
  try {
    await assert.rejects(
      provider.create(spec(CANCELLED), { signal: AbortSignal.timeout(30_000), progress: () => {} }),
      (err: Error) => err.name === 'ContainerIdTakenError',
    );
    assert.deepEqual(await leftovers(config, CANCELLED), []);
  } finally {
    squatter.close();
  }
});

test('checks report a healthy host', async () => {
  const checks = await provider.check();
  for (const c of checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
});
