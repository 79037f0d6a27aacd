// Prepares this machine for local sessions: checks it can run them, installs
// missing Debian packages, gives root its unprivileged id range, creates the
// bridge with NAT and isolation, and builds the desktop template. Every step
// looks before it acts, so on a prepared host the whole thing takes well under
// a second. `winux serve` runs it before serving when the provider is lxc.
import { existsSync } from 'node:fs';
import { appendFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { run } from './exec.ts';
import { hasRootIdMap, hasSessionIdSpace, sessionIdBase, sessionIdSpace, sessionIdSpaceConflicts } from './idmap.ts';
import { ensureSessionsCgroup } from './cgroups.ts';
import { ensureNetwork } from './network.ts';
import { ensureTemplate, type TemplateProgress } from './template.ts';
import { ensureScreenshot } from './template-screenshot.ts';

export class HostSetupError extends Error {
  name = 'HostSetupError';
}

export interface SetupEvent {
  step: string;
  detail?: string;
}
/**
 * Progress for a person: `line` is ready to print (step changes, and at most one
 * detail line every few seconds so apt's output does not flood a log); `event`
 * carries every step and detail for richer displays (`winux template build`).
 */
export type SetupProgress = (line: string, event: SetupEvent) => void;

/** Turns raw events into printable lines: every step change, details throttled. */
export function progressPrinter(print: SetupProgress, everyMs = 5000): (event: SetupEvent) => void {
  let step = '';
  let lastDetail = 0;
  const started = Date.now();
  return (event) => {
    const t = `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s]`;
    if (event.step !== step) {
      step = event.step;
      lastDetail = Date.now();
      print(`${t} ${event.step}${event.detail ? `: ${event.detail}` : ''}`, event);
    } else if (event.detail && Date.now() - lastDetail >= everyMs) {
      lastDetail = Date.now();
      print(`${t}   ${event.detail}`, event);
    }
  };
}

export const setupScript = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'setup-host.sh');

/** Problems that no amount of installing fixes here; each message says what is needed. */
export function hostProblems(): string[] {
  const problems: string[] = [];
  if (process.platform !== 'linux') {
    problems.push(
      `Winux's local provider runs desktops in LXC containers, which needs Linux (this is ${os.platform()}). Use a Debian or Ubuntu server, or configure a Proxmox VE host (proxmox_api_host).`,
    );
    return problems;
  }
  if (process.getuid?.() !== 0) {
    problems.push(
      "Winux's local provider needs root: it creates containers, a network bridge and firewall rules. Run `sudo npm start` (or `sudo winux serve`), or configure a Proxmox VE host instead.",
    );
  }
  if (!existsSync('/proc/self/ns/user')) problems.push('This kernel has no user namespaces, which unprivileged LXC containers need (CONFIG_USER_NS).');
  if (!existsSync('/sys/fs/cgroup')) problems.push('No cgroup filesystem at /sys/fs/cgroup: LXC cannot limit memory and CPU.');
  return problems;
}

/** Gives root the sub-id range unprivileged containers map to; true when it had to be added. */
export async function ensureSubIds(): Promise<boolean> {
  if (hasRootIdMap()) return false;
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = existsSync(file) ? await readFile(file, 'utf8') : '';
    // Root's line for the sessions' space (below) does not count: the template needs a range of its own.
    const templateLine = text.split('\n').some((l) => /^root:\d+:\d+$/.test(l.trim()) && Number(l.split(':')[1]) < sessionIdBase);
    if (!templateLine) await appendFile(file, `${text && !text.endsWith('\n') ? '\n' : ''}root:100000:65536\n`);
  }
  if (!hasRootIdMap()) throw new HostSetupError('root already has a sub-id range smaller than 65536 in /etc/subuid or /etc/subgid; give it root:100000:65536.');
  return true;
}

/** Reserves the sessions' own id ranges (idmap.ts) as one more root line; true when it had to be added. */
export async function ensureSessionIdSpace(): Promise<boolean> {
  if (hasSessionIdSpace()) return false;
  const conflicts = sessionIdSpaceConflicts();
  const { start, count } = sessionIdSpace();
  if (conflicts.length) {
    throw new HostSetupError(
      `The sessions' uid ranges (${start}-${start + count - 1}) overlap other users' sub-id ranges: ${conflicts.join(', ')}. Move those ranges.`,
    );
  }
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = existsSync(file) ? await readFile(file, 'utf8') : '';
    await appendFile(file, `${text && !text.endsWith('\n') ? '\n' : ''}root:${start}:${count}\n`);
  }
  return true;
}

export async function prepareLxcHost(config: Config, logger: Logger, print: SetupProgress = () => {}): Promise<void> {
  const onProgress = progressPrinter(print);
  const problems = hostProblems();
  if (problems.length) throw new HostSetupError(problems.join('\n'));

  onProgress({ step: 'packages' });
  await run('bash', [setupScript], {
    onLine: (line) => {
      if (line.trim()) onProgress({ step: 'packages', detail: line.trim() });
    },
  }).catch((err) => {
    throw new HostSetupError(`Installing the host packages failed: ${(err as Error).message}`, { cause: err });
  });
  const check = await run('lxc-checkconfig', [], { okCodes: [1] }).catch(() => null);
  if (check && /User namespace: .*(missing|disabled)/i.test(check.stdout.replace(/\x1b\[[0-9;]*m/g, ''))) {
    throw new HostSetupError('lxc-checkconfig reports no user namespace support in this kernel; unprivileged containers need it.');
  }

  onProgress({ step: 'idmap' });
  if (await ensureSubIds()) logger.info('added root:100000:65536 to /etc/subuid and /etc/subgid');
  if (await ensureSessionIdSpace()) logger.info(sessionIdSpace(), "reserved the sessions' id ranges in /etc/subuid and /etc/subgid");

  onProgress({ step: 'network', detail: `bridge ${config.lxc.bridge} ${config.lxc.subnet}` });
  await ensureNetwork(config);
  onProgress({ step: 'cgroup', detail: "parent cgroup winux with the sessions' total memory" });
  await ensureSessionsCgroup(config);

  // One template per desktop offered (WINUX_DESKTOPS), each with its picture for the page.
  for (const desktop of config.desktops) {
    onProgress({ step: `template ${desktop}` });
    const progress: TemplateProgress = (e) => onProgress({ step: `template:${desktop}:${e.step}`, detail: e.detail });
    const result = await ensureTemplate(config, logger, { onProgress: progress, desktop });
    if (result.did !== 'nothing') logger.info({ desktop, hash: result.hash, did: result.did, seconds: result.seconds }, 'desktop template ready');
    // The page shows no picture rather than refusing to start.
    await ensureScreenshot(config, logger, desktop).catch((err) => logger.warn({ err, desktop }, 'could not take the desktop screenshot'));
  }
}
