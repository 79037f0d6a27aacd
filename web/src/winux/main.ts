// The Winux visitor page: one visitor, one temporary desktop, driven by /api/winux.
// Entry point: wires the controls, then puts the page in its language and boots.
import { $, say, storage } from '../shared/dom.ts';
import { copyText } from './copy.ts';
import { boot, endSession, extend, launch, sync } from './flow.ts';
import { hideBanner } from './banner.ts';
import { openDesktop } from './desktop.ts';
import { xfreerdp } from './format.ts';
import { clock, i18n, t } from './i18n/index.ts';
import { loadNoVnc } from '../desktop/connection.ts';
import { applyLang, renderNotify, selectTab } from './render.ts';
import { OSES, state } from './state.ts';
import type { Os, Session } from './types.ts';

$('banner-action').addEventListener('click', () => state.banner?.action?.fn());
$('lang').addEventListener('click', () => {
  i18n.setLang(i18n.lang === 'fr' ? 'en' : 'fr');
  storage.set('winux.lang', i18n.lang);
  applyLang();
});
$('launch').addEventListener('click', () => launch());
$('again').addEventListener('click', () => {
  hideBanner();
  launch();
});
$('extend').addEventListener('click', () => extend());
$('open-desktop').addEventListener('click', () => openDesktop({ extend, sync }));
const dialog = $<HTMLDialogElement>('confirm');
$('end').addEventListener('click', () => {
  dialog.returnValue = '';
  dialog.showModal();
});
dialog.addEventListener('close', () => {
  if (dialog.returnValue === 'end') endSession();
  else $('end').focus();
});
$('notify').addEventListener('click', async () => {
  const result = await Notification.requestPermission();
  renderNotify();
  const note = result === 'granted' ? t('notifyOn') : t('notifyDenied');
  $('extend-note').textContent = note;
  $('extend-note').hidden = false;
  say(note);
  $(result === 'granted' ? 'end' : 'notify').focus();
});
$('view-ready').addEventListener('click', (ev) => {
  const target = ev.target as Element;
  const btn = target.closest<HTMLElement>('[data-copy]');
  if (btn) {
    const k = btn.dataset.copy as 'cmd' | 'host' | 'port' | 'username' | 'password' | 'certificate_sha256';
    const session = state.session as Session;
    copyText(k === 'cmd' ? xfreerdp(session) : String(session[k]), btn, k === 'cmd' ? 'xfreerdp' : t(k));
    return;
  }
  const tab = target.closest('[role="tab"]');
  if (tab) selectTab(tab.id.slice(4) as Os, false);
});
$('tabs').addEventListener('keydown', (ev) => {
  const i = OSES.indexOf(state.osTab);
  const next = ({ ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: OSES.length - 1 } as Record<string, number>)[ev.key];
  if (next === undefined) return;
  ev.preventDefault();
  selectTab(OSES[(next + OSES.length) % OSES.length], true);
});
// Coming back to a backgrounded tab: timers may have been throttled, so re-sync now.
document.addEventListener('visibilitychange', () => {
  const { session } = state;
  if (document.visibilityState === 'visible' && session && (session.status === 'ready' || session.status === 'creating')) sync();
});

// The visitor's last choice of where the desktop opens, kept as soon as it changes.
const atOnce = $<HTMLInputElement>('open-at-once');
atOnce.checked = storage.get('winux.atOnce') === '1';
atOnce.addEventListener('change', () => {
  storage.set('winux.atOnce', atOnce.checked ? '1' : null);
  if (atOnce.checked) prepareForTheClick();
});
applyLang();
boot();

/**
 * Work the launch click would otherwise wait for, done while the visitor reads the
 * page: the noVNC module (fetched and compiled) when the desktop opens at once, and
 * the clock formatter the ready view uses (its first one loads locale data).
 */
function prepareForTheClick(): void {
  const idle = window.requestIdleCallback ?? ((fn: () => void) => setTimeout(fn, 200));
  idle(() => {
    clock(Date.now());
    if (atOnce.checked) void loadNoVnc().catch(() => {});
  });
}
prepareForTheClick();
