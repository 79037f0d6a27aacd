// Rendering of the visitor page's views from the state; the page's one clock (tick).
import { $, esc, say, storage } from '../shared/dom.ts';
import { hideBanner, renderBanner } from './banner.ts';
import { relabelDesktop, renderDesktopBar } from './desktop.ts';
import { fmt, hp, xfreerdp } from './format.ts';
import { clock, i18n, t } from './i18n/index.ts';
import { API, DANGER_AT, LEVELS, OSES, STEPS, WARN_AT, remaining, serverNow, state } from './state.ts';
import type { Level, Os, Session, View } from './types.ts';
import { loadNoVnc } from '../desktop/connection.ts';

const VIEWS: readonly View[] = ['loading', 'idle', 'creating', 'ready', 'ended'];

export function setView(name: View): void {
  if (state.view === name) return;
  const from = state.view;
  state.view = name;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== name;
  // Move focus to the new heading so keyboard and screen-reader users follow along.
  if (from !== 'loading') $(`view-${name}`).querySelector('h1')?.focus({ preventScroll: false });
  document.title = t('title');
}

/** Launch buttons: busy while a launch is under way, disabled while rate-limited. */
export function busy(on: boolean): void {
  for (const id of ['launch', 'again']) {
    const b = $<HTMLButtonElement>(id);
    b.setAttribute('aria-busy', String(on));
    b.disabled = on || performance.now() < state.rateUntil;
  }
}

export function renderIdle(): void {
  state.session = null;
  renderFacts();
  setView('idle');
}

export function renderFacts(): void {
  const items: Array<[string, string]> = [];
  const { info } = state;
  if (info) {
    items.push(['', t('fact.duration', info.session_minutes, info.max_session_minutes)]);
    if (info.estimated_ready_seconds! > 0) items.push(['', t('fact.ready', Math.round(info.estimated_ready_seconds!))]);
    const c = info.capacity;
    if (c && typeof c.free === 'number') {
      const next = Date.parse(c.next_free_at!);
      items.push(c.free > 0 ? ['', t('fact.free', c.free)] : ['full', t('fact.full', Number.isNaN(next) ? '' : clock(next))]);
    }
  }
  $('facts').innerHTML = items.map(([cls, text]) => `<li${cls ? ` class="${cls}"` : ''}>${esc(text)}</li>`).join('');
  renderChoice();
}

/** The choice of desktops (radio buttons with a picture of each), shown when the server offers more than one. */
function renderChoice(): void {
  const offered = state.info?.desktops;
  const box = $('choice');
  box.hidden = !offered || offered.desktops.length < 2;
  if (!offered || box.hidden) return;
  const chosen = state.desktop ?? offered.default;
  $('choice-list').innerHTML = offered.desktops
    .map(
      (d) => `<label class="desk"><input type="radio" name="desktop" value="${esc(d.name)}"${d.name === chosen ? ' checked' : ''}>
${d.screenshot ? `<img src="${esc(d.screenshot)}" alt="${esc(t('choice.shot', d.label))}" width="320" height="200" loading="lazy">` : ''}
<span class="desk-name" translate="no">${esc(d.label)}</span></label>`,
    )
    .join('');
  for (const input of box.querySelectorAll<HTMLInputElement>('input[name="desktop"]')) {
    input.addEventListener('change', () => {
      if (input.checked) state.desktop = input.value;
    });
  }
}

/** A desktop's name as people say it (MATE, LXQt), from what /info offers. */
function desktopLabel(name: string | undefined): string {
  return state.info?.desktops?.desktops.find((d) => d.name === name)?.label ?? (name ? name.toUpperCase() : 'XFCE');
}

export function renderCreating(): void {
  setView('creating');
  const s = state.session!;
  const step = s.step === 'ready' ? STEPS.length : Math.max(0, STEPS.indexOf(s.step as (typeof STEPS)[number]));
  // "Waiting in line" only matters while it is the current step.
  const shown = STEPS.filter((name) => name !== 'queued' || step === 0);
  $('steps').innerHTML = shown
    .map((name) => {
      const i = STEPS.indexOf(name);
      const st = i < step ? 'done' : i === step ? 'current' : 'todo';
      const text = name === 'desktop' ? t('step.desktop', desktopLabel(s.desktop)) : t(`step.${name}`);
      return `<li class="${st}"${st === 'current' ? ' aria-current="step"' : ''}>${esc(text)}</li>`;
    })
    .join('');
  const pct = Math.round(((step + 0.5) / STEPS.length) * 100);
  const progress = $('progress');
  progress.setAttribute('aria-valuenow', String(pct));
  const bar = progress.firstElementChild as HTMLElement;
  bar.className = '';
  bar.style.width = `${pct}%`;
  renderEstimate();
}

export function renderEstimate(): void {
  const est = state.info?.estimated_ready_seconds;
  const started = Date.parse(state.session?.created_at as string);
  if (!(est! > 0) || Number.isNaN(started)) {
    $('estimate').textContent = '';
    return;
  }
  const elapsed = (serverNow() - started) / 1000;
  const left = est! - elapsed;
  $('estimate').textContent = left > 5 ? t('est.left', Math.ceil(left / 5) * 5) : elapsed < est! * 1.5 + 10 ? t('est.almost') : t('est.slow');
}

export function renderReady(): void {
  setView('ready');
  // The visitor's next click is most likely "Open in the browser": fetch noVNC now, not then.
  void loadNoVnc().catch(() => {});
  const s = state.session!;
  const key = [s.session_id, s.host, s.port, s.username, s.password, i18n.lang].join('\n');
  if (state.builtFor !== key) {
    state.builtFor = key;
    buildCreds(s);
    buildHowto(s);
  }
  $('ready-desktop').textContent = t('ready.desktop', desktopLabel(s.desktop));
  const rdp = $<HTMLAnchorElement>('rdp');
  rdp.href = `${API}sessions/${encodeURIComponent(s.session_id)}/rdp`;
  rdp.setAttribute('download', `winux-${s.session_id}.rdp`);
  const ext = $('extend');
  ext.hidden = !s.can_extend;
  if (s.can_extend) {
    const room = Math.floor((Date.parse(s.max_expires_at!) - Date.parse(s.expires_at!)) / 60000);
    const m = Math.min(state.info?.session_minutes ?? Infinity, Number.isNaN(room) ? Infinity : room);
    ext.textContent = Number.isFinite(m) && m > 0 ? t('extend', m) : t('extendPlain');
    // The desktop toolbar's short form ("+30 min").
    ext.dataset.short = Number.isFinite(m) && m > 0 ? `+${m} min` : t('extendPlain');
  }
  renderNotify();
}

type CredKey = 'host' | 'port' | 'username' | 'password' | 'certificate_sha256';
function buildCreds(s: Session): void {
  const rows: Array<[CredKey, unknown]> = [
    ['host', s.host],
    ['port', s.port],
    ['username', s.username],
    ['password', s.password],
    // What the RDP client's certificate warning should show (a careful user compares).
    ...(s.certificate_sha256 ? ([['certificate_sha256', s.certificate_sha256]] as Array<[CredKey, unknown]>) : []),
  ];
  $('creds').innerHTML = rows
    .map(
      ([k, v]) => `<div class="row"><dt id="k-${k}">${esc(t(k))}</dt>
<dd id="v-${k}" translate="no">${esc(v)}</dd>
<button type="button" class="copy" data-copy="${k}" aria-label="${esc(t('copyLabel', t(k)))}">${esc(t('copy'))}</button></div>`,
    )
    .join('');
}

function buildHowto(s: Session): void {
  const addr = esc(hp(s));
  const { osTab } = state;
  $('tabs').innerHTML = OSES.map(
    (os) =>
      `<button type="button" role="tab" id="tab-${os}" aria-controls="panel-${os}" aria-selected="${os === osTab}" tabindex="${os === osTab ? 0 : -1}">${esc(t(`os.${os}`))}</button>`,
  ).join('');
  $('panels').innerHTML = OSES.map(
    (os) =>
      `<div role="tabpanel" id="panel-${os}" aria-labelledby="tab-${os}" tabindex="0"${os === osTab ? '' : ' hidden'}>${t(`howto.${os}`, addr)}${
        os === 'linux'
          ? `<div class="cmd"><code id="cmd-linux" translate="no">${esc(xfreerdp(s))}</code><button type="button" class="copy" data-copy="cmd" aria-label="${esc(t('copyLabel', 'xfreerdp'))}">${esc(t('copy'))}</button></div>`
          : ''
      }</div>`,
  ).join('');
}

export function selectTab(os: Os, focus: boolean): void {
  state.osTab = os;
  for (const o of OSES) {
    const tab = $(`tab-${o}`);
    tab.setAttribute('aria-selected', String(o === os));
    tab.tabIndex = o === os ? 0 : -1;
    $(`panel-${o}`).hidden = o !== os;
  }
  if (focus) $(`tab-${os}`).focus();
}

export function renderNotify(): void {
  const supported = 'Notification' in window;
  $('notify').hidden = !supported || Notification.permission !== 'default';
}

export function renderEnded(): void {
  setView('ended');
  const { session } = state;
  const reason = state.endedReason || 'expired';
  $('ended-title').textContent = t(`ended.${reason}`);
  const detail = reason === 'failed' && session?.error ? ` ${t('errorDetail', session.error)}` : '';
  $('ended-body').textContent = t(`endedBody.${reason}`) + detail;
  $('ended-cleanup').hidden = session?.status !== 'destroying';
  document.title = t('title');
}

/** The one clock of the page: countdown, warnings, banner countdowns, estimate. */
export function tick(): void {
  clearTimeout(state.tickTimer);
  if (state.view === 'ready') {
    const rem = remaining();
    const text = fmt(rem);
    $('timer').textContent = text;
    document.title = `${text} · Winux`;
    const total = (state.session!.duration_minutes || 30) * 60;
    $('meter').style.width = `${Math.min(100, (rem / total) * 100)}%`;
    $('until').textContent = t('until', clock(serverNow() + rem * 1000));
    const now: Level = rem <= DANGER_AT ? 'danger' : rem <= WARN_AT ? 'warn' : 'ok';
    if (now !== state.level) setLevel(now, state.level === null);
    const minute = Math.ceil(rem / 60);
    if (minute !== state.lastMinute) {
      // Announce the minutes, never the seconds; warnings speak for themselves.
      if (state.lastMinute !== null && rem > 0 && !(now !== 'ok' && (minute === 5 || minute === 1))) say(t('minutesLeft', minute));
      state.lastMinute = minute;
    }
    renderDesktopBar(text, state.level);
  } else if (state.view === 'creating') {
    renderEstimate();
  }
  if (state.banner) renderBanner();
  if (state.rateUntil && performance.now() >= state.rateUntil) {
    state.rateUntil = 0;
    busy(state.launching);
    if (state.banner?.key === 'rate') hideBanner('rate');
  }
  const ms = state.deadline - performance.now();
  state.tickTimer = setTimeout(tick, state.view === 'ready' && ms > 0 ? (ms % 1000) + 20 : 1000);
}

function setLevel(now: Level, initial: boolean): void {
  const prev = state.level;
  state.level = now;
  const card = $('timer-card');
  card.classList.toggle('warn', now === 'warn');
  card.classList.toggle('danger', now === 'danger');
  $('ready-pill').className = `pill ${now}`;
  $('pill-text').textContent = t(`pill.${now}`);
  $('warning').hidden = now === 'ok';
  if (now !== 'ok') $('warning').textContent = t(`warn.${now}`);
  // Warn once per level per session, even across reloads; extending re-arms it.
  const key = `winux.warned.${state.session!.session_id}`;
  const warned = (storage.get(key, sessionStorage) || 'ok') as Level;
  if (now === 'ok') {
    storage.set(key, null, sessionStorage);
    return;
  }
  if (LEVELS[now] > LEVELS[warned] && (initial || LEVELS[now] > LEVELS[prev ?? 'ok'])) {
    storage.set(key, now, sessionStorage);
    say(t(`warn.${now}`), true);
    if ('Notification' in window && Notification.permission === 'granted') {
      try {
        new Notification(t(`notify.${now}`), { body: t(`notifyBody.${now}`), tag: `winux-${now}`, lang: i18n.lang });
      } catch {
        /* mobile Chrome needs a service worker */
      }
    }
  }
}

/** Puts every string of the page in the current language and re-renders the view. */
export function applyLang(): void {
  document.documentElement.lang = i18n.lang;
  i18n.apply();
  const btn = $('lang');
  btn.textContent = t('langName');
  btn.lang = t('langOther');
  btn.setAttribute('aria-label', t('langLabel'));
  btn.title = t('langLabel');
  document.querySelector<HTMLMetaElement>('meta[name="description"]')!.content = t('description');
  document.title = t('title');
  const { view, level } = state;
  if (view === 'idle') renderFacts();
  if (view === 'creating') renderCreating();
  if (view === 'ready') {
    renderReady();
    if (level && level !== 'ok') $('warning').textContent = t(`warn.${level}`);
    if (level) $('pill-text').textContent = t(`pill.${level}`);
  }
  if (view === 'ended') renderEnded();
  renderBanner();
  relabelDesktop();
  tick();
}
