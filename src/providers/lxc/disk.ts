// Each session's own disk, WINUX_DISK_GB in size. An overlay clone writes into
// a directory of the host's filesystem, so without this one visitor could fill
// the host's disk (`dd if=/dev/zero`) and break every other session.
//
// The clone's overlay directory (upper + work layers, which must share a
// filesystem) is mounted from a sparse ext4 image of that size: only what the
// session writes takes host space, writes stop at the limit with "no space
// left", `df` inside the desktop shows the real size, and removing the session
// removes the image. The loop device uses direct I/O so the host does not cache
// every page twice, and it detaches by itself when the filesystem is unmounted.
//
//   /var/lib/lxc/winux-N/disk.img   sparse image (root only)
//   /var/lib/lxc/winux-N/overlay    mount point: delta/ (upper) and work/
import { chmod, chown, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { run } from './exec.ts';

function sessionDiskPaths(containerDir: string): { image: string; mountPoint: string } {
  return { image: path.join(containerDir, 'disk.img'), mountPoint: path.join(containerDir, 'overlay') };
}

/** Mount points at or under `dir`, deepest first (from the kernel's own table). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile('/proc/self/mounts', 'utf8');
  const decode = (field: string) => field.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return table
    .split('\n')
    .map((line) => decode(line.split(' ')[1] ?? ''))
    .filter((target) => target === dir || target.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Gives the clone its own filesystem of `sizeGb`, owned by the container's root
 * (`uid`/`gid` on the host). Idempotent: an already mounted disk is kept (a
 * resumed creation); a half-made one (server killed during mkfs) is made again.
 */
export async function attachSessionDisk(containerDir: string, sizeGb: number, uid: number, gid: number, signal?: AbortSignal): Promise<void> {
  const { image, mountPoint } = sessionDiskPaths(containerDir);
  if ((await mountsUnder(mountPoint)).includes(mountPoint)) return;
  await rm(image, { force: true });
  await run('truncate', ['-s', `${sizeGb}G`, image], { signal });
  await chmod(image, 0o600);
  // No journal (a session's files do not outlive a crash anyway), no blocks
  // reserved for root (the container's root is the visitor's admin), inode
  // tables left to the sparse file's zeros instead of written out.
  await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', 'lazy_itable_init=1,nodiscard', '-L', 'winux-session', image], {
    signal,
    timeoutMs: 60_000,
  });
  await mkdir(mountPoint, { recursive: true });
  const { stdout } = await run('losetup', ['--find', '--show', '--direct-io=on', image], { signal });
  const device = stdout.trim();
  try {
    // noinit_itable: the kernel would otherwise zero the inode tables in the background, un-sparsing the image.
    await run('mount', ['-t', 'ext4', '-o', 'noatime,noinit_itable', device, mountPoint], { signal });
  } finally {
    // Marks the device to detach itself once unmounted (or now, if the mount failed): no loop device ever leaks.
    await run('losetup', ['-d', device], { okCodes: [1] });
  }
  await rm(path.join(mountPoint, 'lost+found'), { recursive: true, force: true });
  for (const dir of [mountPoint, path.join(mountPoint, 'delta'), path.join(mountPoint, 'work')]) {
    await mkdir(dir, { recursive: true });
    await chown(dir, uid, gid);
    await chmod(dir, 0o755);
  }
}

/** Unmounts the session's disk (lazily if something still holds it) and deletes its image. "Not there" is success. */
export async function detachSessionDisk(containerDir: string): Promise<void> {
  const { image } = sessionDiskPaths(containerDir);
  for (const target of await mountsUnder(containerDir)) {
    const result = await run('umount', [target], { okCodes: [32] });
    if (result.code !== 0) await run('umount', ['-l', target], { okCodes: [32] });
  }
  await rm(image, { force: true });
}
