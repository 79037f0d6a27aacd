// Unprivileged id ranges. The template is built in root's first range
// (`root:100000:65536` in /etc/subuid and /etc/subgid, added by setup). Each
// session container gets a range of its own, 65536 ids at
// sessionIdBase + (id mod sessionIdSlots) × 65536, all of them reserved as one
// more root line (`root:1000000000:1073741824`) so no other tool hands them out:
// a process escaping one session is a host uid that owns nothing of any other
// session, and per-uid kernel limits are per session. The range is derived from
// the container id, so it is free again once the container (and its disk, the
// only files in it) is destroyed, and the next container with that id reuses it.
// The sessions share the template's files through an idmapped mount that shows
// them in the session's range (idmapped-mount.py), the lower layer of their overlay.
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
    // The sessions' space (below) is not the template's range, even when it is root's first line.
    if ((user === 'root' || user === '0') && Number(count) >= 65_536 && Number(start) + 65_536 <= sessionIdBase) {
      return { start: Number(start), count: 65_536 };
    }
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

/**
 * How many ranges there are: the range is picked from the container id alone (like
 * its address, naming.ts), so two configurations sharing this host (a test server
 * next to a real one) never give two containers one range. 2^14 ranges end below
 * 2^31: ids that some tools still read as signed (ps shows them negative) stay positive.
 */
export const sessionIdSlots = 16_384;

/** The space reserved for root in /etc/subuid and /etc/subgid: every session range, whatever the configured ids. */
export function sessionIdSpace(): { start: number; count: number } {
  return { start: sessionIdBase, count: sessionIdSlots * 65_536 };
}

/** Session `containerId`'s own range: 65536 ids at sessionIdBase + (id mod sessionIdSlots) × 65536. */
export function sessionIdMap(config: Config, containerId: number): IdMap {
  if (config.containerIdMax - config.containerIdMin + 1 > sessionIdSlots) {
    throw new Error(`WINUX_CONTAINER_ID_MIN..MAX spans more ids than there are session uid ranges (${sessionIdSlots})`);
  }
  const start = sessionIdBase + (containerId % sessionIdSlots) * 65_536;
  return { uid: start, gid: start, count: 65_536 };
}

function subIdLines(file: string): Array<{ user: string; start: number; count: number }> {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  return text
    .split('\n')
    .map((l) => l.trim().split(':'))
    .filter((f) => f.length === 3)
    .map(([user, s, c]) => ({ user: user!, start: Number(s), count: Number(c) }));
}

/** True when /etc/subuid and /etc/subgid reserve the sessions' space for root. */
export function hasSessionIdSpace(): boolean {
  const { start, count } = sessionIdSpace();
  return ['/etc/subuid', '/etc/subgid'].every((file) =>
    subIdLines(file).some((l) => (l.user === 'root' || l.user === '0') && l.start <= start && l.start + l.count >= start + count),
  );
}

/** Other users' sub-id ranges that overlap the sessions' space (reserving it then would share ids with them). */
export function sessionIdSpaceConflicts(): string[] {
  const { start, count } = sessionIdSpace();
  return ['/etc/subuid', '/etc/subgid'].flatMap((file) =>
    subIdLines(file)
      .filter((l) => l.user !== 'root' && l.user !== '0' && l.start < start + count && l.start + l.count > start)
      .map((l) => `${file}: ${l.user}:${l.start}:${l.count}`),
  );
}

const helper = path.join(import.meta.dirname, 'idmapped-mount.py');

/**
 * Mounts the template's rootfs at `target`, read-only, its owners shifted from the
 * template's range to `map` (about 40 ms: python3 starting). Idempotent: an existing
 * mount at `target` is kept.
 */
export async function mountShiftedTemplate(source: string, target: string, map: IdMap): Promise<void> {
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  if (mounts.split('\n').some((l) => l.split(' ')[1] === target)) return;
  await mkdir(target, { recursive: true, mode: 0o755 });
  const t = hostIdMap();
  const ids = [t.uid, map.uid, t.gid, map.gid, map.count].map(String);
  await run('/usr/bin/python3', [helper, source, target, ...ids], { timeoutMs: 30_000 });
}
