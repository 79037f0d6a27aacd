// Files in and out of an LXC desktop. Everything runs INSIDE the container as
// the desktop user (lxc-attach --uid/--gid, the template's winux-files), the
// data streamed through the command's stdin/stdout: Winux never writes through
// the host's view of the container (/proc/PID/root, the overlay's upper dir),
// where a symlink the visitor made would turn a root write into a host write,
// and never holds a whole file in memory.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../../config.ts';
import { ProviderError, WinuxError } from '../../core/errors.ts';
import type { DesktopFiles, ProviderRef, SharedFile } from '../../core/provider-port.ts';
import { attachArgs } from './container.ts';
import { run } from './exec.ts';
import { containerName } from './naming.ts';

const filesTool = '/usr/local/bin/winux-files';

/** "No space left" inside the session's own disk: the visitor's to fix, not a fault. */
export const diskFull = () => new WinuxError('disk_full', 507, "The desktop's disk is full: delete files in the desktop, then send it again.");

/** Parses winux-files list: "size\tmtime\tname\0" records. */
export function parseList(out: string): SharedFile[] {
  return out
    .split('\0')
    .filter(Boolean)
    .map((rec) => {
      const [size, mtime, ...rest] = rec.split('\t');
      return { name: rest.join('\t'), size: Number(size), modifiedAt: Math.round(Number(mtime) * 1000) };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function lxcDesktopFiles(config: Config, desktopUser: () => string): DesktopFiles {
  // The desktop user's ids inside each container (stable for its life).
  const ids = new Map<string, Promise<{ uid: number; gid: number }>>();
  const userOf = (name: string) => {
    let found = ids.get(name);
    if (!found) {
      found = run('lxc-attach', [...attachArgs(config, name), 'getent', 'passwd', desktopUser()], { timeoutMs: 20_000 }).then(({ stdout }) => {
        const [, , uid, gid] = stdout.trim().split(':');
        if (!Number(uid) || !Number(gid)) throw new ProviderError(`the desktop user has no ids in ${name}`);
        return { uid: Number(uid), gid: Number(gid) };
      });
      found.catch(() => ids.delete(name));
      ids.set(name, found);
    }
    return found;
  };
  const asUser = async (ref: ProviderRef, args: string[]) => {
    const name = containerName(Number(ref.containerId));
    return [...attachArgs(config, name, await userOf(name)), filesTool, ...args];
  };

  async function put(ref: ProviderRef, fileName: string, data: Readable, signal?: AbortSignal): Promise<string> {
    const child = spawn('lxc-attach', await asUser(ref, ['receive']), { stdio: ['pipe', 'pipe', 'pipe'], signal, killSignal: 'SIGKILL' });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c.slice(0, 2000)));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    let sent = 0;
    data.on('data', (c: Buffer) => (sent += c.length));
    let streamError: unknown;
    // Backpressure end to end: the request is read only as fast as the container writes.
    await pipeline(data, child.stdin).catch((e) => (streamError = e));
    if (streamError) child.kill('SIGKILL');
    const code = await exited;
    const [tmp, written] = out.split('\n');
    const discard = () =>
      tmp
        ? asUser(ref, ['discard', tmp])
            .then((args) => run('lxc-attach', args, { timeoutMs: 20_000 }))
            .catch(() => undefined)
        : undefined;
    if (streamError || code !== 0 || Number(written) !== sent) {
      await discard();
      if (streamError instanceof WinuxError) throw streamError;
      if (/No space left/i.test(err)) throw diskFull();
      if (streamError) throw new WinuxError('upload_interrupted', 400, 'The upload was cut short; nothing was kept.');
      throw new ProviderError(`Receiving the file failed (exit ${code}): ${err.trim().slice(0, 300)}`, true);
    }
    try {
      const { stdout } = await run('lxc-attach', await asUser(ref, ['commit', tmp!, fileName]), { timeoutMs: 20_000 });
      return stdout.replace(/\n$/, '');
    } catch (e) {
      await discard();
      throw new ProviderError(`Naming the received file failed: ${(e as Error).message}`, true, { cause: e });
    }
  }

  async function list(ref: ProviderRef): Promise<SharedFile[]> {
    const { stdout } = await run('lxc-attach', await asUser(ref, ['list']), { timeoutMs: 20_000 });
    return parseList(stdout);
  }

  async function get(ref: ProviderRef, fileName: string | null, signal?: AbortSignal): Promise<Readable> {
    const child = spawn('lxc-attach', await asUser(ref, fileName === null ? ['zip'] : ['get', fileName]), {
      stdio: ['ignore', 'pipe', 'ignore'],
      signal,
      killSignal: 'SIGKILL',
    });
    child.on('error', () => {
      /* aborted: the response is gone too */
    });
    // A non-zero exit after the first bytes cannot become a status any more: cut the stream so the client sees it incomplete.
    child.on('close', (code) => {
      if (code !== 0) child.stdout.destroy(new Error(`winux-files exited ${code}`));
    });
    return child.stdout;
  }

  return { put, list, get };
}
