// Kernel limits counted per host uid. Sessions once all ran as the same host
// uids (container root = 100000), so per-user limits were shared by all
// sessions: with Debian's default of 128 inotify instances, the 10th session
// with a logged-in XFCE desktop could no longer start systemd and died at boot
// (measured here). Each session now has a uid range of its own (idmap.ts), so
// these count per session; the raised values stay. Values follow LXD's
// production recommendations; an existing higher value is never lowered.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const sessionSysctls: Record<string, number> = {
  'fs.inotify.max_user_instances': 1_048_576,
  'fs.inotify.max_user_watches': 1_048_576,
  'fs.inotify.max_queued_events': 1_048_576,
  'kernel.keys.maxkeys': 2000,
  'kernel.keys.maxbytes': 2_000_000,
};

const persistFile = '/etc/sysctl.d/90-winux.conf';

/** Raises the limits now and records them for the next boot. Cheap when already done. */
export async function ensureHostLimits(): Promise<void> {
  const lines: string[] = ['# Written by Winux (src/providers/lxc/host-limits.ts): limits shared by all desktop sessions.'];
  for (const [key, wanted] of Object.entries(sessionSysctls)) {
    const file = path.join('/proc/sys', ...key.split('.'));
    const current = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (!Number.isFinite(current)) continue; // not in this kernel
    if (current < wanted) await writeFile(file, String(wanted));
    lines.push(`${key} = ${Math.max(current, wanted)}`);
  }
  const text = `${lines.join('\n')}\n`;
  if ((await readFile(persistFile, 'utf8').catch(() => '')) !== text) await writeFile(persistFile, text).catch(() => {});
}
