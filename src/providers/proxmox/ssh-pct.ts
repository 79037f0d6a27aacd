// `pct` on a Proxmox node over SSH (ssh2), for what the API cannot do: setting
// a user's password inside the container (chpasswd, the secret on stdin, never
// on a command line) and clearing stale locks (`pct unlock`). Host keys are
// pinned on first use in a known-hosts file and checked every time after.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import { ProviderError } from '../../core/errors.ts';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  knownHostsFile: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Quotes one word for a POSIX shell (the node's login shell parses our command line). */
export function shQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function knownKey(file: string, hostId: string): string | undefined {
  if (!existsSync(file)) return undefined;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [host, type, key] = line.trim().split(/\s+/);
    if (host === hostId && type && key) return `${type} ${key}`;
  }
  return undefined;
}

function keyType(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('ascii');
}

export function runRemote(target: SshTarget, command: string, stdin = '', signal?: AbortSignal, timeoutMs = 60_000): Promise<ExecResult> {
  const hostId = `[${target.host}]:${target.port}`;
  return new Promise((resolve, reject) => {
    const conn = new ssh2.Client();
    let settled = false;
    const finish = (err: Error | null, result?: ExecResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      conn.end();
      if (err) reject(err);
      else resolve(result!);
    };
    const timer = setTimeout(() => finish(new ProviderError(`SSH to ${hostId} timed out after ${timeoutMs / 1000} s`, true)), timeoutMs);
    const onAbort = () => finish(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    let mismatch = false;
    conn.on('ready', () => {
      conn.exec(command, (err, stream) => {
        if (err) return finish(new ProviderError(`SSH exec on ${hostId} failed: ${err.message}`, true));
        let stdout = '';
        let stderr = '';
        let code = -1;
        stream.on('data', (d: Buffer) => {
          stdout += d.toString('utf8');
        });
        stream.stderr.on('data', (d: Buffer) => {
          stderr += d.toString('utf8');
        });
        stream.on('exit', (c: number | null) => {
          code = c ?? -1;
        });
        stream.on('close', () => finish(null, { code, stdout, stderr }));
        stream.end(stdin);
      });
    });
    conn.on('error', (err) =>
      finish(
        mismatch
          ? new ProviderError(
              `SSH host key of ${hostId} does not match ${target.knownHostsFile}: refusing to connect (if the node was reinstalled, remove its line from that file)`,
            )
          : new ProviderError(`SSH to ${hostId} failed: ${err.message}`, true),
      ),
    );
    conn.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: Math.min(timeoutMs, 20_000),
      hostVerifier: (key: Buffer) => {
        const offered = `${keyType(key)} ${key.toString('base64')}`;
        const pinned = knownKey(target.knownHostsFile, hostId);
        if (pinned) {
          mismatch = pinned !== offered;
          return !mismatch;
        }
        // Trust on first use: pin it so a later change is refused.
        mkdirSync(path.dirname(target.knownHostsFile), { recursive: true });
        appendFileSync(target.knownHostsFile, `${hostId} ${offered}\n`, { mode: 0o600 });
        return true;
      },
    });
  });
}

/** What winux-session-init is asked to do besides setting the password. */
export interface SessionInitOptions {
  /** Let Xvnc listen on the CT's network too (`--vnc-network`): Winux reaches it from another machine. */
  vncNetwork?: boolean;
  /** The desktop's language and the session's end (winux-session-set's options, passed through). */
  info?: string[];
}

/**
 * Sets `username`'s password inside CT `vmid` (creating the user if the template
 * lacks it). Only the user name, already validated, appears in the command.
 */
export async function setPasswordInCt(
  target: SshTarget,
  vmid: number,
  username: string,
  password: string,
  signal?: AbortSignal,
  opts: SessionInitOptions = {},
): Promise<void> {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(username)) throw new ProviderError(`Refusing unsafe user name for pct exec`);
  if (/[\r\n]/.test(password)) throw new ProviderError('A password must be a single line');
  // A CT made from the Winux template has xrdp off at boot: winux-session-init sets the
  // password (the login one and the desktop's VNC one), makes the CT's own TLS key and
  // only then starts xrdp and the desktop. Other templates: plain chpasswd.
  const flags = [...(opts.vncNetwork ? ['--vnc-network'] : []), ...(opts.info ?? [])].map((w) => ` ${shQuote(w)}`).join('');
  const script =
    `if [ -x /usr/local/sbin/winux-session-init ]; then exec /usr/local/sbin/winux-session-init${flags}; fi; ` +
    `id -u ${username} >/dev/null 2>&1 || useradd -m -s /bin/bash ${username}; chpasswd`;
  const command = `pct exec ${vmid} -- sh -c ${shQuote(script)}`;
  const r = await runRemote(target, command, `${username}:${password}\n`, signal);
  if (r.code !== 0)
    throw new ProviderError(`Setting the session password in CT ${vmid} failed (pct exec exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`, true);
}

export async function unlockCt(target: SshTarget, vmid: number, signal?: AbortSignal): Promise<void> {
  const r = await runRemote(target, `pct unlock ${vmid}`, '', signal);
  if (r.code !== 0 && !/does not exist/.test(r.stderr))
    throw new ProviderError(`pct unlock ${vmid} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`, true);
}

/**
 * Pushes the session's end (and at claims the language) into CT `vmid`'s
 * desktop: winux-session-set as root through `pct exec`; a CT from another
 * template (no such script) is left alone. `args` are winux-session-set's
 * options, made by sessionSetArgs (digits and fr/en only) plus the validated user.
 */
export async function setSessionInfoInCt(target: SshTarget, vmid: number, username: string, args: string[]): Promise<void> {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(username)) throw new ProviderError(`Refusing unsafe user name for pct exec`);
  const tool = '/usr/local/sbin/winux-session-set';
  const words = [...args, '--user', username].map(shQuote).join(' ');
  const script = `if [ -x ${tool} ]; then exec ${tool} ${words}; fi`;
  const r = await runRemote(target, `pct exec ${vmid} -- sh -c ${shQuote(script)}`, '', undefined, 40_000);
  if (r.code !== 0)
    throw new ProviderError(`Setting the session's end and language in CT ${vmid} failed (pct exec exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`, true);
}
