// The unprivileged id range session containers run in: root's entry in
// /etc/subuid and /etc/subgid (`root:100000:65536` by default, added by setup).
// Container root is host uid 100000, so a process escaping a container is nobody.
import { readFileSync } from 'node:fs';

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
