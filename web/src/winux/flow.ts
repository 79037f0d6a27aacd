// The session flow: boot, launch, follow a creation (event stream, polling as the
// fallback), re-synchronise, extend, end; offline handling with backoff.
import { ApiError } from '../shared/api.ts';
import { $, say, storage } from '../shared/dom.ts';
import { hideBanner, renderBanner, showBanner } from './banner.ts';
import { loadNoVnc } from '../desktop/connection.ts';
import { closeDesktop, openDesktop } from './desktop.ts';
import { clock, i18n, t } from './i18n/index.ts';
import { renderCreating, renderEnded, renderFacts, renderIdle, renderReady, tick, busy } from './render.ts';
import { api, API, FAST_POLL_MS, POLL_MS, RESYNC_MS, SAFETY_POLL_MS, remaining, serverNow, state } from './state.ts';
import type { EndedReason, Info, Session } from './types.ts';

type Sessions = { sessions?: Session[] };
const asApiError = (e: unknown): ApiError => (e instanceof ApiError ? e : new ApiError(0, 'unexpected', e instanceof Error ? e.message : String(e)));
const isLive = (s: Session) => s.status === 'creating' || s.status === 'ready';

// ---------------------------------------------------------------- offline handling
// Every failed call that may succeed later goes through here: exponential backoff
// with jitter (1, 2, 4 … 30 s), a visible countdown, and a "retry now" button.
export function goOffline(fn: () => void): void {
  const attempt = (state.offline?.attempt ?? 0) + 1;
  clearTimeout(state.offline?.timer);
  const delay = Math.min(30, 2 ** (attempt - 1)) * 1000 * (0.8 + Math.random() * 0.4);
  state.offline = { fn, attempt, at: performance.now() + delay, timer: setTimeout(() => retry(), delay) };
  const first = attempt === 1;
  showBanner({
    key: 'offline',
    cls: 'error',
    announce: first,
    title: () => t('offline.title'),
    body: () => t('offline.body', state.offline ? Math.max(0, Math.ceil((state.offline.at - performance.now()) / 1000)) : 0),
    action: { label: () => t('retryNow'), fn: () => retry() },
  });
}

function retry(): void {
  const { offline } = state;
  if (!offline) return;
  clearTimeout(offline.timer);
  offline.at = 0;
  renderBanner();
  offline.fn();
}

function backOnline(): void {
  if (!state.offline) return;
  clearTimeout(state.offline.timer);
  state.offline = null;
  hideBanner('offline');
  say(t('offline.back'));
}

// ---------------------------------------------------------------- following a session
function schedule(ms: number): void {
  clearTimeout(state.syncTimer);
  state.syncTimer = setTimeout(sync, ms);
}

export async function sync(): Promise<void> {
  if (!state.session) return;
  const id = state.session.session_id;
  try {
    const s = await api<Session>('GET', `sessions/${encodeURIComponent(id)}`);
    backOnline();
    if (state.session?.session_id === id) show(s);
  } catch (err) {
    const e = asApiError(err);
    const { session } = state;
    if (session?.session_id !== id) return;
    if (e.retryable) return goOffline(sync);
    if (e.status === 404 || e.status === 401 || e.status === 403) {
      const gone: Session = { ...session, status: 'destroyed' };
      if (!state.endedReason) state.endedReason = session.status === 'ready' && remaining() <= 5 ? 'expired' : 'gone';
      return show(gone);
    }
    schedule(RESYNC_MS);
  }
}

function adopt(s: Session): void {
  const fresh = state.session?.session_id !== s.session_id;
  state.session = s;
  if (typeof s.remaining_seconds === 'number') {
    state.deadline = performance.now() + s.remaining_seconds * 1000;
    const exp = Date.parse(s.expires_at!);
    if (!Number.isNaN(exp)) state.skew = exp - s.remaining_seconds * 1000 - Date.now();
  }
  if (fresh) {
    state.level = null;
    state.lastMinute = null;
    storage.set('winux.last', s.session_id);
  }
}

// While a desktop is being prepared (or removed), the server pushes each change
// (GET sessions/{id}/events, server-sent events): "ready" shows the moment it is.
// Polling stays as the fallback, slower while the stream is open.
function follow(id: string): boolean {
  if (typeof EventSource !== 'function') return false;
  if (state.events?.id !== id || state.events.source.readyState === EventSource.CLOSED) {
    unfollow();
    const source = new EventSource(`${API}sessions/${encodeURIComponent(id)}/events`);
    source.addEventListener('session', (e) => {
      let s: Session;
      try {
        s = JSON.parse((e as MessageEvent<string>).data);
      } catch {
        return;
      }
      if (state.session?.session_id !== s.session_id) return;
      backOnline();
      show(s);
    });
    state.events = { id, source };
  }
  return state.events.source.readyState !== EventSource.CLOSED;
}

function unfollow(): void {
  state.events?.source.close();
  state.events = null;
}

/** Shows a session as the server describes it, and schedules what comes next. */
function show(s: Session): void {
  adopt(s);
  clearTimeout(state.syncTimer);
  if (s.status === 'creating') {
    renderCreating();
    const age = serverNow() - Date.parse(s.created_at!);
    schedule(follow(s.session_id) ? SAFETY_POLL_MS : age < 5000 ? FAST_POLL_MS : POLL_MS);
  } else if (s.status === 'ready') {
    unfollow();
    // The visitor chose the browser before launching: the desktop opens now, no second click,
    // its socket first, so the server connects it while the page draws the ready view.
    if (state.openOnReady === s.session_id) {
      state.openOnReady = null;
      openDesktop({ extend, sync });
      // The ready view is behind the desktop: drawn once the page is idle, so that its
      // layout (50–100 ms of main thread on a 2-core host) does not hold up noVNC's
      // answers in the desktop's handshake and the decoding of its first frame.
      const id = s.session_id;
      const idle = window.requestIdleCallback ?? ((fn: () => void) => setTimeout(fn, 200));
      idle(() => state.session?.session_id === id && state.session.status === 'ready' && renderReady(), { timeout: 1000 });
    } else {
      renderReady();
    }
    // Re-synchronise every 30 s, and right after the local countdown reaches zero.
    const left = remaining() * 1000;
    schedule(left > 0 ? Math.min(RESYNC_MS, left + 500) : 2000);
  } else {
    // The session is over: the canvas closes and the ended view says why.
    closeDesktop();
    if (s.status === 'failed') state.endedReason = 'failed';
    else if (!state.endedReason) state.endedReason = (storage.get('winux.reason') || 'expired') as EndedReason;
    renderEnded();
    if (s.status === 'destroying') schedule(follow(s.session_id) ? SAFETY_POLL_MS : POLL_MS);
    else {
      // Closed before the server ends the stream, or EventSource would reconnect to a finished session.
      unfollow();
      storage.set('winux.last', null);
      storage.set('winux.reason', null);
      if (state.pendingLaunch) launch();
    }
  }
  tick();
}

// ---------------------------------------------------------------- actions
export async function launch(): Promise<void> {
  if (state.launching) return;
  if (state.session?.status === 'destroying') {
    // Wait for the old desktop to be gone so the per-visitor limit does not refuse us.
    state.pendingLaunch = true;
    busy(true);
    setTimeout(() => {
      if (state.pendingLaunch) {
        state.pendingLaunch = false;
        state.session = null;
        launch();
      }
    }, 20_000);
    return;
  }
  state.pendingLaunch = false;
  state.launching = true;
  busy(true);
  const atOnce = $<HTMLInputElement>('open-at-once').checked;
  storage.set('winux.atOnce', atOnce ? '1' : null);
  // Fetched while the desktop is prepared (a warm one is ready within a fraction of a second).
  if (atOnce) void loadNoVnc().catch(() => {});
  try {
    const language = i18n.lang === 'en' ? 'en' : 'fr';
    const s = await api<Session>('POST', 'sessions', state.desktop ? { desktop: state.desktop, language } : { language });
    state.openOnReady = atOnce ? s.session_id : null;
    backOnline();
    hideBanner();
    state.endedReason = null;
    storage.set('winux.reason', null);
    show(s);
    if (!state.info) loadInfo();
  } catch (e) {
    await launchFailed(asApiError(e));
  } finally {
    state.launching = false;
    busy(false);
  }
}

async function launchFailed(e: ApiError): Promise<void> {
  if (e.retryable) return goOffline(launch);
  backOnline();
  if (e.code === 'capacity_exhausted') {
    const nextFreeAt = e.data.next_free_at as string | null | undefined;
    const next = Date.parse(nextFreeAt as string);
    const { info } = state;
    if (info?.capacity) Object.assign(info.capacity, { free: 0, next_free_at: nextFreeAt ?? info.capacity.next_free_at });
    renderFacts();
    return showBanner({
      key: 'capacity',
      cls: 'warn',
      title: () => t('capacity.title'),
      body: () => (Number.isNaN(next) ? t('capacity.soon') : t('capacity.when', clock(next), Math.ceil((next - serverNow()) / 60000))),
      action: { label: () => t('retry'), fn: () => launch() },
    });
  }
  if (e.code === 'visitor_limit') {
    // Maybe our own session, started in another tab: take it up rather than complain.
    try {
      const { sessions = [] } = await api<Sessions>('GET', 'sessions');
      const live = sessions.find(isLive);
      if (live) {
        hideBanner();
        state.endedReason = null;
        return show(live);
      }
    } catch {
      /* fall through to the message */
    }
    return showBanner({ key: 'visitor', cls: 'warn', title: () => t('visitor.title'), body: () => t('visitor.body') });
  }
  if (e.code === 'address_limit') {
    return showBanner({ key: 'address', cls: 'warn', title: () => t('address.title'), body: () => t('address.body') });
  }
  if (e.code === 'rate_limited') {
    state.rateUntil = performance.now() + (e.retryAfter || 60) * 1000;
    return showBanner({
      key: 'rate',
      cls: 'warn',
      title: () => t('rate.title'),
      body: () => t('rate.body', Math.max(0, Math.ceil((state.rateUntil - performance.now()) / 1000))),
    });
  }
  showError(e);
}

function showError(e: ApiError): void {
  showBanner({
    key: 'error',
    cls: 'error',
    title: () => t('error.title'),
    body: () => (e.message && e.message !== e.code ? e.message : t('error.generic')),
  });
}

export async function extend(): Promise<void> {
  const id = state.session!.session_id;
  const btn = $<HTMLButtonElement>('extend');
  const note = $('extend-note');
  btn.disabled = true;
  try {
    const s = await api<Session>('POST', `sessions/${encodeURIComponent(id)}/extend`, {});
    backOnline();
    show(s);
    const text = t('extended', clock(serverNow() + remaining() * 1000));
    note.textContent = text;
    note.hidden = false;
    say(text);
  } catch (err) {
    const e = asApiError(err);
    if (e.code === 'extension_limit') {
      state.session!.can_extend = false;
      note.textContent = t('extendLimit');
      note.hidden = false;
      say(t('extendLimit'));
      renderReady();
      $('end').focus();
      sync();
    } else if (e.retryable) {
      goOffline(sync);
    } else showError(e);
  } finally {
    btn.disabled = false;
  }
}

export async function endSession(): Promise<void> {
  const session = state.session!;
  const id = session.session_id;
  state.endedReason = 'user';
  storage.set('winux.reason', 'user');
  try {
    const s = await api<Session>('DELETE', `sessions/${encodeURIComponent(id)}`);
    backOnline();
    show(s);
  } catch (err) {
    const e = asApiError(err);
    if (e.status === 404) return show({ ...session, status: 'destroyed' });
    if (e.retryable) return goOffline(endSession);
    state.endedReason = null;
    storage.set('winux.reason', null);
    showError(e);
  }
}

async function loadInfo(): Promise<void> {
  try {
    state.info = await api<Info>('GET', 'info');
    renderFacts();
  } catch {
    /* the facts line is a nicety */
  }
}

/** First load: what /info says, and the visitor's live (or last) session. */
export async function boot(): Promise<void> {
  try {
    const [inf, list] = await Promise.all([
      api<Info>('GET', 'info').catch((e: ApiError) => {
        if (e.retryable) throw e;
        return null;
      }),
      api<Sessions>('GET', 'sessions').catch((e: ApiError) => {
        if (e.retryable) throw e;
        return { sessions: [] } as Sessions;
      }),
    ]);
    backOnline();
    state.info = inf;
    const sessions = Array.isArray(list?.sessions) ? list.sessions : [];
    const live = sessions.find(isLive);
    const last = sessions.find((s) => s.session_id === storage.get('winux.last'));
    if (live) show(live);
    else if (last) show(last);
    else renderIdle();
  } catch {
    if (state.view === 'loading') renderIdle();
    goOffline(boot);
  }
}
