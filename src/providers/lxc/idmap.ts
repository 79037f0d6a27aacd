// Unprivileged id ranges. The template is built in root's first range
// (`root:100000:65536` in /etc/subuid and /etc/subgid, added by setup). Each
// session container gets a range of its own, 65536 ids at
// sessionIdBase + (id - WINUX_CONTAINER_ID_MIN) × 65536, reserved as one more
// root line so no other tool hands them out: a process escaping one session is
// a host uid that owns nothing of any other session, and per-uid kernel limits
// are per session. The range is derived from the container id, so it is free
// again once the container (and its disk, the only files in it) is destroyed.
// The sessions share the template's files through an idmapped mount that shows
// them in the session's range (idmapped-mount.py).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.ts';
import { run } from './exec.ts';

export interface IdMap {
  uid: number;
  gid: number;
  count: number;
}

export const defaultIdMap: IdMap = { uid: 100_000, gid: 100_000, count: 65_536 };

function rootRange(file: string): { start: number; count: number } | null {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const [user, start, count] = line.trim().split(':');
    if ((user === 'root' || user === '0') && Number(count) >= 65_536) return { start: Number(start), count: 65_536 };
  }
  return null;
}

/** Root's sub-id ranges, or the defaults when missing (setup adds them). */
export function hostIdMap(): IdMap {
  const u = rootRange('/etc/subuid');
  const g = rootRange('/etc/subgid');
  return { uid: u?.start ?? defaultIdMap.uid, gid: g?.start ?? defaultIdMap.gid, count: 65_536 };
}

export function hasRootIdMap(): boolean {
  return rootRange('/etc/subuid') !== null && rootRange('/etc/subgid') !== null;
}

/** Where the sessions' ranges start: far above useradd's SUB_UID_MIN..MAX ranges (100000-600100000). */
export const sessionIdBase = 1_000_000_000;

/** The reserved space for every container id of the configured range. */
export function sessionIdSpace(config: Config): { start: number; count: number } {
  return { start: sessionIdBase, count: (config.containerIdMax - config.containerIdMin + 1) * 65_536 };
}

/** Session `containerId`'s own range. */
export function sessionIdMap(config: Config, containerId: number): IdMap {
  const index = containerId - config.containerIdMin;
  if (index < 0 || containerId > config.containerIdMax) throw new Error(`container id ${containerId} is outside WINUX_CONTAINER_ID_MIN..MAX`);
  const start = sessionIdBase + index * 65_536;
  return { uid: start, gid: start, count: 65_536 };
}

/** True when /etc/subuid and /etc/subgid reserve the sessions' space for root. */
export function hasSessionIdSpace(config: Config): boolean {
  const { start, count } = sessionIdSpace(config);
  return ['/etc/subuid', '/etc/subgid'].every((file) => {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    return text.split('\n').some((l) => {
      const [user, s, c] = l.trim().split(':');
      return (user === 'root' || user === '0') && Number(s) <= start && Number(s) + Number(c) >= start + count;
    });
  });
}

const helper = path.join(import.meta.dirname, 'idmapped-mount.py');

/** Mounts the template's rootfs at `target`, its owners shifted from the template's range to `map`. Idempotent. */
export async function mountShiftedTemplate(source: string, target: string, map: IdMap): Promise<void> {
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  if (mounts.split('\n').some((l) => l.split(' ')[1] === target)) return;
  await mkdir(target, { recursive: true, mode: 0o755 });
  const template = hostIdMap();
  await run('/usr/bin/python3', [helper, source, target, String(template.uid), String(map.uid), String(map.count)], { timeoutMs: 30_000 });
}
