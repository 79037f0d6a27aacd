// A real VNC desktop for tests without LXC: TigerVNC's Xtigervnc on a Unix socket,
// with VNC authentication by the session's password and its view-only one (as
// the template's desktop),
// an X display the test can watch (xev) and a stippled root so frames are not blank.
// Test-only; the fake providers' `openDesktop` connects to it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { tempDir } from './server.ts';

export class VncDesktop {
  readonly dir = tempDir('winux-vnc-');
  readonly socketPath = path.join(this.dir, 'rfb.sock');
  display = 0;
  private x: ChildProcess | null = null;

  /** Starts Xtigervnc with `password` as its VNC password; resolves once the socket accepts connections. */
  async start(password: string, geometry = '1024x768', security: 'VncAuth' | 'None' = 'VncAuth'): Promise<this> {
    // Through stdin, never argv: the password stays out of the process list.
    // Then the view-only password, derived as the template's winux-session-init does.
    const viewOnly = createHash('sha256').update(`winux-view-only:${password}`).digest('hex').slice(0, 8);
    const made = spawnSync('tigervncpasswd', ['-f'], { input: `${password}\n${viewOnly}\n` });
    if (made.status !== 0) throw new Error(`tigervncpasswd failed: ${String(made.stderr)}`);
    const passwd = made.stdout;
    fs.writeFileSync(path.join(this.dir, 'passwd'), passwd, { mode: 0o600 });
    for (let tries = 0; tries < 20 && !this.x; tries++) {
      const n = 300 + Math.floor(Math.random() * 600);
      if (fs.existsSync(`/tmp/.X${n}-lock`) || fs.existsSync(`/tmp/.X11-unix/X${n}`)) continue;
      const x = spawn(
        'Xtigervnc',
        [
          `:${n}`,
          '-rfbunixpath',
          this.socketPath,
          '-rfbport',
          '-1',
          '-SecurityTypes',
          security,
          '-PasswordFile',
          path.join(this.dir, 'passwd'),
          '-geometry',
          geometry,
          '-depth',
          '24',
          '-nolisten',
          'tcp',
          '-retro',
          '-AlwaysShared',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let log = '';
      x.stderr?.on('data', (d) => {
        log += d;
      });
      const up = await waitForSocket(this.socketPath, x, 10_000);
      if (up) {
        this.x = x;
        this.display = n;
      } else if (!/already active|Server is already/i.test(log)) throw new Error(`Xtigervnc did not start: ${log.slice(-400)}`);
    }
    if (!this.x) throw new Error('no free X display for Xtigervnc');
    return this;
  }

  /** A connected stream to the VNC server (what Provider.openDesktop returns). */
  connect(signal?: AbortSignal): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.socketPath);
      const abort = () => s.destroy(new Error('aborted'));
      signal?.addEventListener('abort', abort, { once: true });
      s.once('connect', () => {
        signal?.removeEventListener('abort', abort);
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  /** Runs an X client on this display (xev, xdotool…). */
  client(program: string, args: string[]): ChildProcess {
    return spawn(program, args, { env: { ...process.env, DISPLAY: `:${this.display}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async stop(): Promise<void> {
    const x = this.x;
    this.x = null;
    if (x && x.exitCode === null) {
      const gone = new Promise((r) => x.once('exit', r));
      x.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (x.exitCode === null) x.kill('SIGKILL');
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function waitForSocket(file: string, x: ChildProcess, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (x.exitCode !== null) return false;
    if (fs.existsSync(file)) {
      const ok = await new Promise<boolean>((r) => {
        const s = net.connect(file);
        s.once('connect', () => {
          s.destroy();
          r(true);
        });
        s.once('error', () => r(false));
      });
      if (ok) return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
