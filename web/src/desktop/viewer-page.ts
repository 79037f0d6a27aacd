// The two view-only pages (a share link's viewer, the admin's viewer): the desktop
// fills the page under a toolbar that says "view only"; when the stream ends for
// good (link revoked, session ended) the canvas goes and the page says why.
import { $, say, storage } from '../shared/dom.ts';
import { pickLang } from '../shared/i18n.ts';
import type { EndReason, Verdict } from './connection.ts';
import { desktopI18n, dt } from './i18n.ts';
import { createDesktopView, type DesktopView } from './view.ts';

type Lang = 'fr' | 'en';

export interface ViewerPage {
  title: 'viewer.share' | 'viewer.admin';
  /** The stream's URL and subprotocols, or a reason the page cannot even try. */
  target(): { url: string; protocols: string[] } | { problem: 'viewer.badLink' | 'viewer.noSession' };
  diagnose(failures: number, everOpened: boolean): Promise<Verdict>;
}

export function startViewerPage(p: ViewerPage): void {
  desktopI18n.setLang(pickLang<Lang>(['fr', 'en'], 'winux.lang'));
  let view: DesktopView | null = null;
  let message: (() => string) | null = null;

  const title = document.createElement('span');
  title.className = 'dt-brand';
  title.id = 'viewer-title';
  const lang = document.createElement('button');
  lang.type = 'button';
  lang.className = 'dt-btn';
  lang.id = 'lang';
  lang.addEventListener('click', () => {
    desktopI18n.setLang(desktopI18n.lang === 'fr' ? 'en' : 'fr');
    storage.set('winux.lang', desktopI18n.lang);
    relabel();
  });

  const relabel = () => {
    document.documentElement.lang = desktopI18n.lang;
    title.textContent = `Winux · ${dt(p.title)}`;
    document.title = `${dt(p.title)} · ${dt('viewOnly')} · Winux`;
    lang.textContent = dt('langName');
    lang.lang = dt('langOther');
    lang.setAttribute('aria-label', dt('langLabel'));
    view?.relabel();
    if (message) {
      $('msg-title').textContent = dt('viewer.ended');
      $('msg-body').textContent = message();
    }
  };

  const stop = (text: () => string) => {
    view?.close();
    view = null;
    message = text;
    $('desktop').hidden = true;
    document.body.classList.remove('desktop-open');
    $('viewer-msg').hidden = false;
    relabel();
    $('msg-title').focus();
    say(`${dt('viewer.ended')}. ${text()}`, true);
  };

  const target = p.target();
  if ('problem' in target) {
    const problem = target.problem;
    stop(() => dt(problem));
    return;
  }
  view = createDesktopView({
    root: $('desktop'),
    url: () => target.url,
    protocols: target.protocols,
    viewOnly: true,
    diagnose: p.diagnose,
    onEnd: (reason: EndReason) => stop(() => dt(`end.${reason}`)),
    lead: [title],
    trail: [lang],
  });
  relabel();
}
