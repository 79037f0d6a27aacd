// Names and tags derived from the session, so a crashed attempt can be
// recognised later: every Winux CT carries the tag `winux` plus one tag naming
// its session, and lives in the Winux pool.
import { defaultDesktop, desktopNames, type DesktopName } from '../../core/desktops.ts';
export const managedTag = 'winux';
export const templateTag = 'winux-template';

/** Each desktop's CT template carries its own tag: `winux-template` (XFCE), `winux-template-mate`, `winux-template-lxqt`. */
export function templateTagFor(desktop: DesktopName = defaultDesktop): string {
  return desktop === defaultDesktop ? templateTag : `${templateTag}-${desktop}`;
}

/** Every desktop's template tag (a clone keeps its template's tags until Winux re-tags it). */
export const templateTags: readonly string[] = desktopNames.map((d) => templateTagFor(d));

/** PVE tags are `[a-z0-9_][a-z0-9_-+.]*` and stored lowercased: keep ours in that form. */
export function sessionTag(sessionId: string): string {
  const clean = sessionId
    .toLowerCase()
    .replace(/[^a-z0-9_\-+.]/g, '-')
    .replace(/^[^a-z0-9_]+/, '');
  return `winux-session-${clean || 'x'}`.slice(0, 120);
}

export function sessionTags(sessionId: string): string {
  return [managedTag, sessionTag(sessionId)].join(';');
}

/** A DNS label PVE accepts as hostname. */
export function hostnameFor(hostname: string, containerId: number): string {
  const clean = hostname
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return clean || `winux-${containerId}`;
}
