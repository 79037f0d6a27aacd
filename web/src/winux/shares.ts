// The owner's share panel in the desktop view: create a view-only link, copy it,
// see how many watch, revoke it. A link's secret is only ever known to this page
// when it was created here (the list may not repeat it).
import { ApiError } from '../shared/api.ts';
import { esc, say } from '../shared/dom.ts';
import { clock, t } from './i18n/index.ts';
import { api } from './state.ts';

interface Share {
  share_id: string;
  url?: string;
  expires_at: string;
  viewers?: number;
}

export interface SharePanel {
  panel: HTMLElement;
  refresh(): Promise<void>;
  relabel(): void;
  stop(): void;
}

export function createSharePanel(sessionId: string): SharePanel {
  const base = `sessions/${encodeURIComponent(sessionId)}/shares`;
  const urls = new Map<string, string>();
  let shares: Share[] = [];
  let error = '';
  let poll: ReturnType<typeof setInterval> | undefined;
  const panel = document.createElement('div');
  panel.className = 'dt-panel dt-share';
  panel.id = 'dt-share-panel';
  panel.hidden = true;
  panel.innerHTML = `<h2 id="share-title"></h2><p class="small muted" id="share-hint"></p>
<button type="button" class="primary small" id="share-create"></button>
<p class="small error-text" id="share-error" role="alert" hidden></p>
<ul class="share-list" id="share-list" aria-labelledby="share-title"></ul>`;
  const q = <T extends HTMLElement = HTMLElement>(sel: string) => panel.querySelector(sel) as T;

  const render = () => {
    q('#share-title').textContent = t('share.title');
    q('#share-hint').textContent = t('share.hint');
    q('#share-create').textContent = t('share.create');
    q('#share-error').hidden = !error;
    q('#share-error').textContent = error;
    q('#share-list').innerHTML = shares.length
      ? shares
          .map((s) => {
            const url = s.url ?? urls.get(s.share_id);
            return `<li data-share="${esc(s.share_id)}">${
              url ? `<input type="text" readonly value="${esc(url)}" aria-label="${esc(t('share.link'))}" translate="no">` : ''
            }<span class="small muted">${esc(t('share.viewers', s.viewers ?? 0))} · ${esc(t('share.until', clock(Date.parse(s.expires_at))))}</span>
<span class="share-actions">${url ? `<button type="button" class="secondary small" data-act="copy">${esc(t('share.copy'))}</button>` : ''}<button type="button" class="danger-ghost small" data-act="revoke">${esc(t('share.revoke'))}</button></span></li>`;
          })
          .join('')
      : `<li class="small muted">${esc(t('share.none'))}</li>`;
  };

  const fail = (e: unknown) => {
    error = e instanceof ApiError && e.message && e.message !== e.code ? e.message : t('share.error');
    render();
  };

  const refresh = async () => {
    try {
      const r = await api<{ shares?: Share[] }>('GET', base);
      shares = Array.isArray(r.shares) ? r.shares : [];
      error = '';
    } catch (e) {
      return fail(e);
    }
    render();
  };

  const copy = async (url: string) => {
    try {
      await navigator.clipboard.writeText(url);
      say(t('share.copied'));
    } catch {
      const input = panel.querySelector<HTMLInputElement>(`input[value="${CSS.escape(url)}"]`);
      input?.select();
      say(t('copyFailed'), true);
    }
  };

  q('#share-create').addEventListener('click', async () => {
    const btn = q<HTMLButtonElement>('#share-create');
    btn.disabled = true;
    try {
      const s = await api<Share>('POST', base, {});
      if (s.url) urls.set(s.share_id, s.url);
      shares = [...shares.filter((x) => x.share_id !== s.share_id), { viewers: 0, ...s }];
      error = '';
      render();
      if (s.url) await copy(s.url);
      panel.querySelector<HTMLInputElement>(`[data-share="${CSS.escape(s.share_id)}"] input`)?.select();
    } catch (e) {
      fail(e);
    } finally {
      btn.disabled = false;
    }
  });

  panel.addEventListener('click', async (e) => {
    const act = (e.target as Element).closest<HTMLElement>('[data-act]');
    const id = act?.closest<HTMLElement>('[data-share]')?.dataset.share;
    if (!act || !id) return;
    if (act.dataset.act === 'copy') return copy(urls.get(id) ?? shares.find((s) => s.share_id === id)?.url ?? '');
    try {
      await api('DELETE', `${base}/${encodeURIComponent(id)}`);
      shares = shares.filter((s) => s.share_id !== id);
      urls.delete(id);
      error = '';
      render();
      say(t('share.revoked'));
      q('#share-create').focus();
    } catch (err) {
      fail(err);
    }
  });

  // The viewer counts change while the panel is open.
  new MutationObserver(() => {
    clearInterval(poll);
    if (!panel.hidden) {
      refresh();
      poll = setInterval(refresh, 5000);
    }
  }).observe(panel, { attributes: true, attributeFilter: ['hidden'] });

  render();
  return {
    panel,
    refresh,
    relabel: render,
    stop: () => clearInterval(poll),
  };
}
