// The desktop template: built from the recipe in template/ into a cached archive,
// then installed as the LXC container every session is an overlay clone of.
//
// One template per desktop (XFCE, MATE, LXQt): the shared base of template/
// plus template/desktops/<name>/. Keys: a desktop's recipe hash covers every
// base file, every file of its own directory (not the other desktops'), the
// mirror and the desktop user name. The archive
// `<cacheDir>/templates/winux-template[-<desktop>]-<hash>.tar.zst` is the build's
// product (and a Proxmox CT template as-is); the installed container
// (`winux-template` for XFCE, `winux-template-<desktop>` for the others)
// records the hash it was made from. So: same recipe → nothing to do;
// archive cached → a quick extraction; recipe changed → a rebuild whose .debs
// still come from the cache.
//
// A rebuilt template goes into a new `rootfs-<hash>` directory next to the old
// one: running sessions are overlays on the old directory, which is removed
// once no session uses it any more.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile, chown, chmod, open, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../config.ts';
import type { Provider, TemplateStatus } from '../../core/provider-port.ts';
import type { Logger } from '../../logger.ts';
import { defaultDesktop, type DesktopName } from '../../core/desktops.ts';
import { run } from './exec.ts';
import { readFile0 } from './network.ts';
import { hostIdMap } from './idmap.ts';

/** Bumped when the way the recipe is applied (not the recipe itself) changes. */
const formatVersion = '1';

export type TemplateProgress = (event: { step: string; detail?: string }) => void;

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = path.posix.join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path.join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out;
}

/** The files of `desktop`'s recipe: the base and its own directory, never another desktop's. */
async function recipeFiles(config: Config, desktop: DesktopName): Promise<string[]> {
  const own = `desktops/${desktop}/`;
  return (await listFiles(config.templateDir)).filter(
    // documentation does not change the image
    (rel) => !rel.endsWith('README.md') && (!rel.startsWith('desktops/') || rel.startsWith(own)),
  );
}

export async function recipeHash(config: Config, desktop: DesktopName = defaultDesktop): Promise<string> {
  const h = createHash('sha256');
  h.update(`winux-template ${formatVersion}\nmirror ${config.lxc.mirror}\nuser ${config.desktopUser}\ndesktop ${desktop}\n`);
  const recipeDir = config.templateDir;
  for (const rel of await recipeFiles(config, desktop)) {
    const file = path.join(recipeDir, rel);
    const st = await stat(file);
    h.update(`${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0`);
    h.update(await readFile(file));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

/** The template container of `desktop`: XFCE keeps the name it had before desktops could be chosen. */
export function templateName(config: Config, desktop: DesktopName = defaultDesktop): string {
  return desktop === defaultDesktop ? config.lxc.template : `${config.lxc.template}-${desktop}`;
}

export function templatePaths(config: Config, hash: string, desktop: DesktopName = defaultDesktop) {
  const containerDir = path.join(config.lxc.path, templateName(config, desktop));
  const stem = desktop === defaultDesktop ? `winux-template-${hash}` : `winux-template-${desktop}-${hash}`;
  return {
    archive: path.join(config.lxc.cacheDir, 'templates', `${stem}.tar.zst`),
    /** What the desktop looks like, captured from a session of the fresh template (screenshot.ts). */
    screenshot: path.join(config.lxc.cacheDir, 'templates', `${stem}.png`),
    buildDir: path.join(config.lxc.cacheDir, 'build', `${desktop}-${hash}`),
    containerDir,
    rootfs: path.join(containerDir, `rootfs-${hash}`),
    marker: path.join(containerDir, 'winux-recipe-hash'),
    config: path.join(containerDir, 'config'),
  };
}

export interface TemplateState {
  desktop: DesktopName;
  hash: string;
  /** The installed template matches the current recipe. */
  installed: boolean;
  installedHash: string | null;
  archiveCached: boolean;
  rootfs: string;
}

export async function templateState(config: Config, desktop: DesktopName = defaultDesktop): Promise<TemplateState> {
  const hash = await recipeHash(config, desktop);
  const p = templatePaths(config, hash, desktop);
  const installedHash = (await readFile0(p.marker))?.trim() || null;
  const rootfsOk = await exists(path.join(p.rootfs, 'usr', 'local', 'sbin', 'winux-session-init'));
  return { desktop, hash, installed: installedHash === hash && rootfsOk, installedHash, archiveCached: await exists(p.archive), rootfs: p.rootfs };
}

/** What the console's template panel shows: the recipe, and the installed template's hash, age and archive size. */
export async function templateReport(config: Config): Promise<TemplateStatus> {
  const state = await templateState(config);
  const copies: TemplateStatus['copies'] = [];
  if (state.installedHash) {
    const p = templatePaths(config, state.installedHash);
    // The archive's time is the build's; the marker's is the installation's (an archive may come from another host).
    const archive = await stat(p.archive).catch(() => null);
    const marker = await stat(p.marker).catch(() => null);
    copies.push({
      node: os.hostname(),
      name: config.lxc.template,
      hash: state.installedHash,
      builtAt: archive?.mtimeMs ?? marker?.mtimeMs ?? null,
      archiveBytes: archive?.size ?? null,
    });
  }
  return { recipeHash: state.hash, copies, rebuild: { offered: true } };
}

/** The provider's template methods: status, and a rebuild from the recipe (a new recipe goes into its own root filesystem; sessions keep theirs). */
export function templateControl(config: Config, logger: Logger): Required<Pick<Provider, 'templateStatus' | 'rebuildTemplate'>> {
  return {
    templateStatus: () => templateReport(config),
    rebuildTemplate: async (progress, signal) => {
      await ensureTemplate(config, logger, { force: true, onProgress: progress, signal });
    },
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

export interface BuildResult {
  desktop: DesktopName;
  hash: string;
  archive: string;
  rootfs: string;
  /** What had to be done: nothing, extract the cached archive, or the full recipe. */
  did: 'nothing' | 'installed-from-cache' | 'built';
  seconds: number;
  archiveBytes: number;
}

export interface BuildOptions {
  onProgress?: TemplateProgress;
  signal?: AbortSignal;
  /** Rebuild from the recipe even when a cached archive exists (downloads stay cached). */
  force?: boolean;
  /** Which desktop's template (default XFCE). */
  desktop?: DesktopName;
}

/** Makes sure the template for the current recipe is installed; builds what is missing. */
export async function ensureTemplate(config: Config, logger: Logger, options: BuildOptions = {}): Promise<BuildResult> {
  const started = Date.now();
  const progress = options.onProgress ?? (() => {});
  const desktop = options.desktop ?? defaultDesktop;
  const state = await templateState(config, desktop);
  const p = templatePaths(config, state.hash, desktop);
  let did: BuildResult['did'] = 'nothing';
  if (options.force || !state.archiveCached) {
    await withBuildLock(config, () => buildArchive(config, logger, desktop, state.hash, progress, options.signal));
    did = 'built';
  }
  // A forced rebuild of the recipe already installed keeps the installed copy while
  // sessions run on it: extracting over it would pull files from under them.
  const inUse = state.installed && (await usedRootfs(config)).has(path.resolve(p.rootfs));
  if (inUse && did === 'built') progress({ step: 'install', detail: `sessions run on ${p.rootfs} (same recipe): kept as it is` });
  else if (did === 'built' || !state.installed) {
    progress({ step: 'install', detail: `extracting into ${p.rootfs}` });
    await installTemplate(config, desktop, state.hash);
    if (did === 'nothing') did = 'installed-from-cache';
  }
  // Older root filesystems stay while sessions run on them; drop them once unused.
  await removeUnusedRootfs(config, state.hash, logger, desktop);
  const archiveBytes = (await stat(p.archive)).size;
  progress({ step: 'done', detail: `${desktop} template ${state.hash} ready (${(archiveBytes / 1e6).toFixed(0)} MB archive)` });
  return { desktop, hash: state.hash, archive: p.archive, rootfs: p.rootfs, did, seconds: (Date.now() - started) / 1000, archiveBytes };
}

/** One build at a time per cache directory (two `winux` processes may both try on first start). */
async function withBuildLock<T>(config: Config, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(config.lxc.cacheDir, 'build.lock');
  await mkdir(config.lxc.cacheDir, { recursive: true });
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch {
      const holder = Number((await readFile0(lock))?.trim());
      let alive = false;
      try {
        if (holder > 0) {
          process.kill(holder, 0);
          alive = true;
        }
      } catch {
        /* dead holder */
      }
      if (!alive) {
        await rm(lock, { force: true });
        continue;
      }
      throw new Error(`Another template build is running (pid ${holder}); wait for it to finish.`);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/** Refuses to delete a directory that still has something mounted under it (a build's /dev bind mount). */
async function safeRemove(dir: string): Promise<void> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = `${path.resolve(dir)}/`;
  if (mounts.split('\n').some((l) => (l.split(' ')[4] ?? '').startsWith(prefix))) {
    throw new Error(`${dir} still has mounts under it; not removing it`);
  }
  await rm(dir, { recursive: true, force: true });
}

async function buildArchive(
  config: Config,
  logger: Logger,
  desktop: DesktopName,
  hash: string,
  progress: TemplateProgress,
  signal?: AbortSignal,
): Promise<void> {
  const p = templatePaths(config, hash, desktop);
  await safeRemove(p.buildDir);
  // Root's only: the root filesystem being built holds files of its user (the host's
  // uid of the same number while it is built), which no host user may reach.
  await mkdir(p.buildDir, { recursive: true, mode: 0o700 });
  const rootfs = path.join(p.buildDir, 'rootfs');
  const started = Date.now();
  let step = 'debootstrap';
  progress({ step });
  logger.info({ desktop, hash, rootfs }, 'building the desktop template');
  try {
    await run('bash', [path.join(config.templateDir, 'build.sh'), rootfs], {
      signal,
      env: {
        ...process.env,
        WINUX_MIRROR: config.lxc.mirror,
        WINUX_CACHE_DIR: config.lxc.cacheDir,
        WINUX_DESKTOP_USER: config.desktopUser,
        WINUX_DESKTOP: desktop,
        WINUX_IN_NAMESPACE: '',
      },
      onLine: (line) => {
        const m = /^::step (\S+)/.exec(line);
        if (m) {
          step = m[1]!;
          progress({ step });
        } else if (line.trim()) {
          progress({ step, detail: line.trim().slice(0, 160) });
        }
      },
    });
    progress({ step: 'archive', detail: p.archive });
    await mkdir(path.dirname(p.archive), { recursive: true, mode: 0o755 });
    const tmp = `${p.archive}.tmp`;
    // ./dev is left out: LXC and Proxmox populate /dev themselves, and device
    // nodes cannot be created by an unprivileged extraction anyway.
    await run(
      'tar',
      [
        '--numeric-owner',
        '--one-file-system',
        '--exclude=./dev/*',
        '--exclude=./proc/*',
        '--exclude=./sys/*',
        '-C',
        rootfs,
        '--use-compress-program=zstd -T0 -6',
        '-cf',
        tmp,
        '.',
      ],
      { signal },
    );
    await chmod(tmp, 0o644);
    await rename(tmp, p.archive);
    // How long this recipe took to build, for bench/ (a cached archive cannot tell any more).
    await writeFile(
      `${p.archive}.build.json`,
      `${JSON.stringify({ desktop, hash, seconds: (Date.now() - started) / 1000, builtAt: new Date().toISOString() })}\n`,
    );
  } finally {
    await safeRemove(p.buildDir).catch((err) => logger.warn({ err }, 'could not remove the template build directory'));
  }
}

function templateConfig(config: Config, desktop: DesktopName, rootfs: string): string {
  const map = hostIdMap();
  return [
    '# Winux desktop template (generated by src/providers/lxc/template.ts). Never started:',
    '# sessions are overlay snapshot clones of it.',
    'lxc.include = /usr/share/lxc/config/debian.common.conf',
    'lxc.include = /usr/share/lxc/config/debian.userns.conf',
    'lxc.arch = linux64',
    `lxc.rootfs.path = dir:${rootfs}`,
    `lxc.uts.name = ${templateName(config, desktop)}`,
    `lxc.idmap = u 0 ${map.uid} ${map.count}`,
    `lxc.idmap = g 0 ${map.gid} ${map.count}`,
    'lxc.net.0.type = empty',
    '',
  ].join('\n');
}

/** Extracts the archive into the template container, shifted into the unprivileged id range. */
async function installTemplate(config: Config, desktop: DesktopName, hash: string): Promise<void> {
  const p = templatePaths(config, hash, desktop);
  const map = hostIdMap();
  await mkdir(p.containerDir, { recursive: true, mode: 0o755 });
  await chmod(p.containerDir, 0o755);
  await rm(p.rootfs, { recursive: true, force: true });
  await mkdir(p.rootfs, { mode: 0o755 });
  await chown(p.rootfs, map.uid, map.gid);
  // Extract as the container's root (host uid 100000): files get the shifted owners.
  const { stderr } = await run(
    'lxc-usernsexec',
    ['-m', `b:0:${map.uid}:${map.count}`, '--', 'tar', '--numeric-owner', '-xpf', p.archive, '--use-compress-program=zstd -d', '-C', p.rootfs],
    { okCodes: [2] },
  );
  if (!(await exists(path.join(p.rootfs, 'usr', 'local', 'sbin', 'winux-session-init')))) {
    throw new Error(`Extracting the template failed: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  await writeFile(p.config, templateConfig(config, desktop, p.rootfs));
  await writeFile(p.marker, `${hash}\n`);
}

/** Removes template root filesystems of older recipes that no session container uses any more. */
export async function removeUnusedRootfs(config: Config, currentHash: string, logger: Logger, desktop: DesktopName = defaultDesktop): Promise<void> {
  const p = templatePaths(config, currentHash, desktop);
  const used = await usedRootfs(config);
  for (const name of await readdir(p.containerDir).catch(() => [] as string[])) {
    const dir = path.join(p.containerDir, name);
    if (!name.startsWith('rootfs-') || dir === p.rootfs || used.has(dir)) continue;
    logger.info({ dir }, 'removing an older template root filesystem');
    await rm(dir, { recursive: true, force: true });
  }
}

/** The template root filesystems session containers are made from (their overlay's lower directory). */
async function usedRootfs(config: Config): Promise<Set<string>> {
  const used = new Set<string>();
  for (const name of await readdir(config.lxc.path).catch(() => [] as string[])) {
    const conf = await readFile0(path.join(config.lxc.path, name, 'config'));
    for (const m of conf?.matchAll(/^lxc\.rootfs\.path\s*=\s*overlay:([^:]+):/gm) ?? []) used.add(path.resolve(m[1]!));
    // A session's overlay sits on its own shifted view of the template (idmap.ts); the rootfs behind it is recorded.
    const shifted = await readFile0(path.join(config.lxc.path, name, 'template-rootfs'));
    if (shifted?.trim()) used.add(path.resolve(shifted.trim()));
  }
  return used;
}

/** Writes a Proxmox CT template (vztmpl) of the current recipe into `outDir`; builds it first if needed. */
export async function exportProxmoxTemplate(config: Config, logger: Logger, outDir: string, options: BuildOptions = {}): Promise<string> {
  const desktop = options.desktop ?? defaultDesktop;
  const hash = await recipeHash(config, desktop);
  const p = templatePaths(config, hash, desktop);
  if (options.force || !(await exists(p.archive))) {
    await withBuildLock(config, () => buildArchive(config, logger, desktop, hash, options.onProgress ?? (() => {}), options.signal));
  }
  // Proxmox reads the distribution from the rootfs and the name only for display:
  // `<os>-<version>-<name>_<version>_<arch>.tar.zst` is the usual vztmpl form.
  const name = desktop === defaultDesktop ? 'winux' : `winux-${desktop}`;
  const out = path.join(outDir, `debian-12-${name}_${hash}_amd64.tar.zst`);
  await mkdir(outDir, { recursive: true });
  await copyFile(p.archive, out);
  return out;
}

/** Disk space of the installed template root filesystem, in bytes. */
export async function rootfsBytes(rootfs: string): Promise<number> {
  const { stdout } = await run('du', ['-sb', rootfs]);
  return Number(stdout.split(/\s/)[0]);
}
