// What each desktop looks like, for the page's choice: a session of the fresh
// template is started like any other (clone, boot, winux-session-init), its
// VNC framebuffer read over RFB once the screen has settled, halved and kept as
// a PNG, and the session destroyed. Once per recipe hash: an unchanged
// template keeps its picture.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { newPassword } from '../../core/credentials.ts';
import { screenshotFile, type DesktopName } from '../../core/desktops.ts';
import { captureDesktop, halve } from '../../desktop/snapshot.ts';
import { encodePng } from '../../desktop/png.ts';
import { createLxcProvider } from './index.ts';
import { containerDir } from './container.ts';
import { containerName, rdpPort } from './naming.ts';
import { hostListensOn } from './network.ts';
import { templatePaths, templateState } from './template.ts';

/** A container id for the picture's session: from the top of the range down, one nothing uses (a server allocates from the bottom). */
async function freeId(config: Config): Promise<number> {
  for (let id = config.containerIdMax; id >= Math.max(config.containerIdMin, config.containerIdMax - 50); id--) {
    if (existsSync(containerDir(config, containerName(id)))) continue;
    if (await hostListensOn(rdpPort(config, id))) continue;
    return id;
  }
  throw new Error('no free container id at the top of WINUX_CONTAINER_ID_MIN..MAX for the screenshot session');
}

export interface ScreenshotResult {
  file: string;
  /** False when the picture of this recipe existed already. */
  taken: boolean;
  bytes: number;
}

/** Makes sure `<cacheDir>/screenshots/<desktop>.png` shows the installed template of `desktop`; takes it when missing. */
export async function ensureScreenshot(config: Config, logger: Logger, desktop: DesktopName, options: { force?: boolean } = {}): Promise<ScreenshotResult> {
  const state = await templateState(config, desktop);
  if (!state.installed) throw new Error(`the ${desktop} template is not installed (winux template build --desktop ${desktop})`);
  const own = templatePaths(config, state.hash, desktop).screenshot;
  const served = screenshotFile(config.lxc.cacheDir, desktop);
  let taken = false;
  let png: Buffer | undefined;
  if (options.force || !existsSync(own)) {
    png = await takeScreenshot(config, logger, desktop);
    await mkdir(path.dirname(own), { recursive: true });
    await writeFile(`${own}.tmp`, png, { mode: 0o644 });
    await rename(`${own}.tmp`, own);
    taken = true;
  }
  await mkdir(path.dirname(served), { recursive: true });
  await copyFile(own, `${served}.tmp`);
  await rename(`${served}.tmp`, served);
  return { file: served, taken, bytes: png?.length ?? (await stat(own)).size };
}

async function takeScreenshot(config: Config, logger: Logger, desktop: DesktopName): Promise<Buffer> {
  const provider = createLxcProvider(config, logger);
  const containerId = await freeId(config);
  const password = newPassword();
  const ref = { containerId };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 180_000);
  try {
    await provider.create(
      {
        sessionId: `screenshot-${desktop}`,
        containerId,
        hostname: `winux-${desktop}-preview`,
        username: config.desktopUser,
        password,
        ...config.resources,
        desktop,
      },
      { signal: controller.signal, progress: () => {} },
    );
    const stream = await provider.openDesktop!(ref, controller.signal);
    const frame = await captureDesktop(stream, password);
    logger.info({ desktop, containerId, width: frame.width, height: frame.height }, 'desktop screenshot taken');
    return encodePng(...toArgs(halve(frame)));
  } finally {
    clearTimeout(timer);
    await provider.destroy(ref).catch((err) => logger.warn({ err, containerId }, 'could not remove the screenshot session'));
  }
}

function toArgs(f: { width: number; height: number; rgb: Buffer }): [number, number, Buffer] {
  return [f.width, f.height, f.rgb];
}
