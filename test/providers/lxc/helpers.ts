// Shared by the LXC tests: the host preparation (builds the template if missing,
// cached in /var/cache/winux and the `winux-template` container), the real RDP
// client, and a list of everything a session may leave behind.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../../../src/config.ts';
import { createLogger, silentLogger } from '../../../src/logger.ts';
import { run } from '../../../src/providers/lxc/exec.ts';
import { createLxcProvider } from '../../../src/providers/lxc/index.ts';
import { containerName, vethName } from '../../../src/providers/lxc/naming.ts';
import { prepareLxcHost } from '../../../src/providers/lxc/setup.ts';
import { portOpen } from '../../../src/providers/proxmox/readiness.ts';
import { ownRange } from '../../support/server.ts';
import { collectOutput } from '../../support/watched-process.ts';

export const logger = process.env.WINUX_TEST_LOGS ? createLogger('debug') : silentLogger;

export function lxcConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ WINUX_PROVIDER: 'lxc', ...env });
}

/**
 * A file's own LXC containers: `count` ids from `firstId` and RDP ports from
 * `firstPort` (see ownRange), the config for them, and `cleanAll` to remove any
 * container of the range a previous run left.
 */
export function lxcRange(firstId: number, firstPort: number, count: number, extra: Record<string, string> = {}) {
  const { env: range, ids } = ownRange(firstId, count, firstPort);
  const env = { WINUX_PROVIDER: 'lxc', ...range, ...extra };
  const config = lxcConfig(env);
  async function cleanAll(): Promise<void> {
    const provider = createLxcProvider(config, logger);
    for (const id of ids) await provider.destroy({ containerId: id }).catch(() => {});
  }
  return { env, config, ids, cleanAll };
}

/** Fails loudly (never skips) when the host cannot run the LXC tests: a skipped test cannot fail. */
export async function prepareHost(config: Config): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('The LXC provider tests need root (they create real containers).');
  await run('bash', [path.resolve(import.meta.dirname, '../../../scripts/setup-host.sh'), '--with-test-tools']);
  // First run on a fresh machine builds the template (a few minutes); progress goes to stderr for CI logs.
  await prepareLxcHost(config, logger, (line) => process.stderr.write(`# setup ${line}\n`));
}

/**
 * FreeRDP's X11 clients: `xfreerdp` is FreeRDP 2.11 (Debian 12's own), `xfreerdp3`
 * FreeRDP 3 (Debian 12's backports; Debian 13 and Ubuntu 24.04, Remmina's library).
 * Both take the same arguments for what the tests use.
 */
export type FreerdpClient = 'xfreerdp' | 'xfreerdp3';

/**
 * Starts xfreerdp (or `program`) with the password on stdin (`/from-stdin:force`),
 * never on its command line. `done` resolves with the exit code; `stop()` kills it
 * (by its own process group id: it runs detached).
 */
export function startXfreerdp(args: string[], password: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000, program: FreerdpClient = 'xfreerdp') {
  // detached: no controlling terminal, so FreeRDP reads the password from stdin instead of /dev/tty.
  const child = spawn(program, [...args, '/from-stdin:force'], { env: { ...process.env, ...env }, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(`${password}\n`);
  return detachedClient(child, timeoutMs);
}

/**
 * A detached RDP client's handles: its output, `done` when it exits, and `stop()`,
 * which kills its process group (also after `timeoutMs`).
 */
function detachedClient(child: ChildProcessWithoutNullStreams, timeoutMs: number) {
  const output = collectOutput(child);
  child.stdin.on('error', () => {});
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  const timer = setTimeout(stop, timeoutMs);
  const done = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: output() });
    });
  });
  return { child, done, stop };
}

/**
 * Starts rdesktop 1.9, Debian's other RDP client (the benchmark's second client:
 * FreeRDP 2 polls its connection every 100 ms, rdesktop waits on the socket). The
 * password goes on stdin (`-p -`); to its question whether to trust the session's
 * self-signed certificate it gets "yes", as xfreerdp gets /cert:ignore. It would
 * remember that certificate under `home` (a directory of the caller's).
 */
export function startRdesktop(args: string[], password: string, home: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000) {
  const child = spawn('rdesktop', ['-p', '-', ...args], { env: { ...process.env, ...env, HOME: home }, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  const client = detachedClient(child, timeoutMs);
  client.done.catch(() => {}); // a failed start shows as no desktop on the screen
  child.stdin.write(`${password}\n`);
  const answer = (chunk: Buffer) => {
    if (/trust this certificate/i.test(String(chunk))) child.stdin.write('yes\n');
  };
  child.stdout.on('data', answer);
  child.stderr.on('data', answer);
  return client;
}

export function xfreerdp(args: string[], password: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000) {
  return startXfreerdp(args, password, env, timeoutMs).done;
}

/**
 * FreeRDP's X11 client needs a display even for /auth-only: a private Xvfb, its number picked by Xvfb itself.
 * With `fbdir`, Xvfb keeps its screen in `fbdir/Xvfb_screen0` (XWD format), readable at any moment without an X client.
 */
export async function startXvfb(size = '1280x800x24', fbdir?: string): Promise<{ display: string; stop(): void }> {
  const args = ['-displayfd', '3', '-screen', '0', size, '-nolisten', 'tcp', ...(fbdir ? ['-fbdir', fbdir] : [])];
  const xvfb = spawn('Xvfb', args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  const display = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    (xvfb.stdio[3] as NodeJS.ReadableStream).on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(`:${out.trim()}`);
    });
    xvfb.stderr!.on('data', (c) => {
      err += c;
    });
    xvfb.on('error', reject);
    xvfb.on('exit', (code) => reject(new Error(`Xvfb exited (${code}): ${err.slice(-300)}`)));
  });
  return {
    display,
    stop: () => {
      xvfb.kill('SIGKILL');
    },
  };
}

/** Destroys every container of `ids` a test may have left (before it starts, and after). */
/** Saves an RFB viewer's framebuffer as a PNG file (ImageMagick reads the raw BGRA). */
export async function saveFramePng(client: { width: number; height: number; pixels: Buffer }, file: string): Promise<string> {
  mkdirSync(path.dirname(file), { recursive: true });
  const raw = `${file}.bgra`;
  writeFileSync(raw, client.pixels);
  await run('convert', ['-size', `${client.width}x${client.height}`, '-depth', '8', `bgra:${raw}`, '-alpha', 'off', file]);
  rmSync(raw);
  return file;
}

/** How many colours the picture in `file` has: a blank, black or single-colour screen has very few, a drawn desktop hundreds. */
export async function imageColours(file: string): Promise<number> {
  return Number((await run('convert', [file, '-format', '%k', 'info:'])).stdout.trim());
}

/** Saves an X display's screen to `file` (PNG) and counts its colours. */
export async function screenshotColours(display: string, file: string): Promise<number> {
  await run('import', ['-display', display, '-window', 'root', file]);
  return imageColours(file);
}

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port (the providers' own probe). */
export function portAccepts(port: number, host = '127.0.0.1', timeoutMs = 2000): Promise<boolean> {
  return portOpen(host, port, timeoutMs);
}

/** The cgroup hierarchies' roots: the unified one, or each v1 controller's. */
export function cgroupRoots(): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return ['/sys/fs/cgroup'];
  return readdirSync('/sys/fs/cgroup')
    .map((h) => path.join('/sys/fs/cgroup', h))
    .filter((d) => existsSync(path.join(d, 'cgroup.procs')));
}

/** Everything of container `id` still on this host; empty when destroy left nothing. */
export async function leftovers(config: Config, id: number): Promise<string[]> {
  const name = containerName(id);
  const found: string[] = [];
  if (existsSync(path.join(config.lxc.path, name))) found.push(`directory ${path.join(config.lxc.path, name)}`);
  if (existsSync(`/var/log/lxc/${name}.log`)) found.push(`log /var/log/lxc/${name}.log`);
  const { stdout: ls } = await run('lxc-ls', ['-P', config.lxc.path, '-1']);
  if (ls.split(/\s+/).includes(name)) found.push(`lxc-ls lists ${name}`);
  const { stdout: nat } = await run('iptables', ['-w', '5', '-t', 'nat', '-S']);
  for (const line of nat.split('\n')) if (line.includes(`--comment ${name} `) || line.endsWith(`--comment ${name}`)) found.push(`iptables: ${line}`);
  const { stdout: links } = await run('ip', ['-o', 'link']);
  if (links.includes(`${vethName(id)}@`) || links.includes(` ${vethName(id)}:`)) found.push(`link ${vethName(id)}`);
  const dir = path.join(config.lxc.path, name);
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    if (line.split(' ')[1]?.startsWith(dir)) found.push(`mount ${line}`);
  }
  const { stdout: loops } = await run('losetup', ['-a']);
  for (const line of loops.split('\n')) if (line.includes(`${dir}/`)) found.push(`loop device ${line}`);
  for (const root of cgroupRoots()) {
    for (const entry of readdirSync(root))
      if (entry === `lxc.monitor.${name}` || entry.startsWith(`lxc.monitor.${name}-`)) found.push(`cgroup ${path.join(root, entry)}`);
    if (existsSync(path.join(root, 'winux', name))) found.push(`cgroup ${path.join(root, 'winux', name)}`);
  }
  const snapshots = path.join(config.lxc.path, config.lxc.template, 'lxc_snapshots');
  // LXC deletes this file when its last snapshot goes, possibly while we look.
  let listed = '';
  try {
    listed = readFileSync(snapshots, 'utf8');
  } catch {
    /* no snapshots left */
  }
  if (listed.split('\n').includes(name)) found.push(`${snapshots} still lists ${name}`);
  return found;
}

/** winux-<digits> containers present on this host, for the final "nothing left" check. */
export function sessionDirs(config: Config): string[] {
  return readdirSync(config.lxc.path).filter((n) => /^winux-\d+$/.test(n));
}

export const desktopUser = 'winux';

export function randomPassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  return Array.from({ length: 20 }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
}

export function abortAfter(ms: number): AbortSignal {
  return AbortSignal.timeout(ms);
}

/**
 * A real RDP login with FreeRDP, judged by the server. xrdp 0.9 has no NLA, so
 * FreeRDP's `/auth-only` stops after the TLS and capability exchange — before
 * xrdp ever checks the password — and exits 0 for any password. Here the client
 * connects fully and xrdp's own log says whether the login got the desktop: PAM
 * accepted the name and the whole password (sesman's access control), then the
 * desktop's Xvnc accepted the same password.
 */
export async function rdpLogin(
  config: Config,
  containerId: number,
  port: number,
  user: string,
  password: string,
  display: string,
  timeoutMs = 45_000,
): Promise<'accepted' | 'refused'> {
  const attach = (args: string[]) => run('lxc-attach', ['-P', config.lxc.path, '-n', containerName(containerId), '--', ...args], { timeoutMs: 20_000 });
  const before = Number((await attach(['wc', '-l', '/var/log/xrdp.log'])).stdout.trim().split(/\s+/)[0]);
  const client = startXfreerdp([`/v:127.0.0.1:${port}`, `/u:${user}`, '/cert:ignore', '/log-level:ERROR'], password, { DISPLAY: display }, timeoutMs + 5000);
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const { stdout } = await attach(['tail', '-n', `+${before + 1}`, '/var/log/xrdp.log']);
      if (!stdout.includes(`access control for ${user}`)) {
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      if (/Reply from access control: Success/.test(stdout) && /VNC password ok/.test(stdout)) return 'accepted';
      if (/Reply from access control: (?!Success)/.test(stdout) || /VNC password failed/.test(stdout)) return 'refused';
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`xrdp logged no login result for ${user} within ${timeoutMs / 1000} s`);
  } finally {
    client.stop();
  }
}
