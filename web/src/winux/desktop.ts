// The visitor's desktop in the page: "Open in the browser" fills the window with
// the session's desktop (noVNC through Winux), under a toolbar that keeps the
// countdown and extend button, the keys, clipboard, keyboard, share and close.
import { ApiError } from '../shared/api.ts';
import { $, say } from '../shared/dom.ts';
import { wsUrl, type EndReason, type Verdict } from '../desktop/connection.ts';
import { desktopI18n, dt } from '../desktop/i18n.ts';
import { createDesktopView, type DesktopView } from '../desktop/view.ts';
import { showBanner } from './banner.ts';
import { i18n, t } from './i18n/index.ts';
import { createSharePanel, type SharePanel } from './shares.ts';
import { createFilesPanel, type FilesPanel } from './files.ts';
import { API, api, state } from './state.ts';
import type { Level, Session } from './types.ts';

export interface DesktopHooks {
  extend(): void;
  /** Re-reads the session: the page then shows why it ended. */
  sync(): void;
}

let open: { id: string; view: DesktopView; shares: SharePanel; files: FilesPanel } | null = null;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, id: string, cls: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.id = id;
  e.className = cls;
  if (e instanceof HTMLButtonElement) e.type = 'button';
  return e;
}

export const desktopIsOpen = (): boolean => open !== null;

export function openDesktop(hooks: DesktopHooks): void {
  const s = state.session;
  if (s?.status !== 'ready' || open) return;
  desktopI18n.setLang(i18n.lang);
  const id = s.session_id;
  const root = $('desktop');
  const timer = el('span', 'dt-timer', 'dt-timer');
  timer.setAttribute('role', 'timer');
  const extend = el('button', 'dt-extend', 'dt-btn');
  extend.addEventListener('click', () => hooks.extend());
  const shareBtn = el('button', 'dt-share', 'dt-btn');
  const filesBtn = el('button', 'dt-files', 'dt-btn');
  const close = el('button', 'dt-close', 'dt-btn dt-close');
  close.addEventListener('click', () => closeDesktop(true));
  const shares = createSharePanel(id);
  const files = createFilesPanel(id);
  // Shown before the view is made: noVNC sizes its canvas from it as it starts.
  root.hidden = false;
  document.body.classList.add('desktop-open');

  const diagnose = async (): Promise<Verdict> => {
    try {
      const now = await api<Session>('GET', `sessions/${encodeURIComponent(id)}`);
      if (now.status === 'ready') return 'retry';
    } catch (e) {
      if (!(e instanceof ApiError) || e.retryable) return 'retry';
    }
    return 'session_ended';
  };
  const onEnd = (reason: EndReason) => {
    closeDesktop(false);
    if (reason === 'session_ended') return hooks.sync();
    showBanner({ key: 'desktop', cls: 'error', title: () => t('desktop.failed'), body: () => dt(`end.${reason}`) });
  };
  const view = createDesktopView({
    root,
    url: () => wsUrl(`${API}sessions/${encodeURIComponent(id)}/desktop`),
    protocols: ['binary'],
    viewOnly: false,
    diagnose,
    onEnd,
    lead: [timer, extend],
    trail: [filesBtn, shareBtn, close],
  });
  // The share panel opens below the toolbar like the view's own panels.
  root.querySelector('.dt-bar')!.after(shares.panel);
  view.addPanel(shareBtn, shares.panel);
  root.querySelector('.dt-bar')!.after(files.panel);
  view.addPanel(filesBtn, files.panel);
  // Files dropped on the desktop itself go in too.
  files.acceptDrops(root);
  open = { id, view, shares, files };
  // The browser's Back button closes the desktop rather than leaving the page.
  history.pushState({ winuxDesktop: id }, '');
  relabelDesktop();
  renderDesktopBar($('timer').textContent ?? '', state.level);
  say(dt('state.connecting'));
}

/** Closes the view (the session goes on; the visitor can open it again or use RDP). */
export function closeDesktop(byVisitor = false): void {
  if (!open) return;
  const { view, shares } = open;
  open = null;
  shares.stop();
  view.close();
  $('desktop').hidden = true;
  document.body.classList.remove('desktop-open');
  if (history.state?.winuxDesktop) history.back();
  if (byVisitor) $('open-desktop').focus();
}

window.addEventListener('popstate', () => {
  if (open && !history.state?.winuxDesktop) closeDesktop(true);
});

/** The toolbar's countdown and extend button follow the page's (render.ts calls this on each tick). */
export function renderDesktopBar(text: string, level: Level | null): void {
  if (!open) return;
  const timer = document.getElementById('dt-timer');
  if (timer) {
    timer.textContent = text;
    timer.className = `dt-timer ${level ?? 'ok'}`;
    timer.setAttribute('aria-label', `${t('timer.title')} ${text}`);
  }
  const main = $('extend');
  const ext = document.getElementById('dt-extend');
  if (ext) {
    ext.hidden = main.hidden;
    ext.textContent = main.dataset.short ?? main.textContent;
    ext.title = main.textContent ?? '';
    ext.setAttribute('aria-label', main.textContent ?? '');
  }
}

export function relabelDesktop(): void {
  if (!open) return;
  desktopI18n.setLang(i18n.lang);
  open.view.relabel();
  open.shares.relabel();
  open.files.relabel();
  $('dt-share').textContent = t('share.button');
  $('dt-files').textContent = t('files.button');
  const close = $('dt-close');
  close.textContent = dt('close');
  close.title = t('desktop.closeLabel');
}
