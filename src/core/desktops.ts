// The desktops a session may run. Each has its own template recipe
// (template/desktops/<name>/, on top of the shared base) and so its own
// template per host or node; WINUX_DESKTOPS says which ones this Winux offers.
export const desktopNames = ['xfce', 'mate', 'lxqt'] as const;
export type DesktopName = (typeof desktopNames)[number];

/** The desktop of a session that asks for none, and of every session made before desktops could be chosen. */
export const defaultDesktop: DesktopName = 'xfce';

/** How people call them (the page, the CLI). */
export const desktopLabels: Record<DesktopName, string> = { xfce: 'XFCE', mate: 'MATE', lxqt: 'LXQt' };

export function isDesktopName(value: string): value is DesktopName {
  return (desktopNames as readonly string[]).includes(value);
}

/**
 * Where the latest screenshot of `desktop` is kept (taken from a session of its
 * fresh template by `winux template build`), served to the page. A plain path
 * under the cache directory, so the HTTP layer needs no provider to find it.
 */
export function screenshotFile(cacheDir: string, desktop: DesktopName): string {
  return `${cacheDir.replace(/\/+$/, '')}/screenshots/${desktop}.png`;
}
