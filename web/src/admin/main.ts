// The admin console (/winux/admin/): sign-in with the admin token (exchanged for
// an HttpOnly cookie), the live session list by server-sent events, and the
// panels. Everything it shows comes from /api/winux/admin/*; a 401 anywhere
// brings the sign-in back and clears what was shown.
import { ApiError, apiBase, createApi } from '../shared/api.ts';
import { $, say, storage } from '../shared/dom.ts';
import { i18n, t } from './i18n/index.ts';
import * as panels from './panels.ts';
import { renderHead, renderRows, tableState, visible } from './sessions-table.ts';
import type { AdminSession, AuditEntry, Capacity, Overview, RebuildState, TemplatePanel } from './types.ts';

const base = apiBase(location.href, '../../api/winux/');
const api = createApi(base);
let sessions: AdminSession[] = [];
let events: EventSource | undefined;
let refresher: number | undefined;

function show(view: 'loading' | 'signin' | 'console'): void {
  for (const v of ['loading', 'signin', 'console']) $(`view-${v}`).hidden = v !== view;
  $('signout').hidden = view !== 'console';
}

function notice(text: string, assertive = false): void {
  const el = $('notice');
  el.textContent = text;
  el.hidden = !text;
  if (text) say(text, assertive);
}

function applyLang(): void {
  document.documentElement.lang = i18n.lang;
  i18n.apply();
  const lang = $('lang');
  lang.textContent = t('langName');
  lang.setAttribute('aria-label', t('langLabel'));
  renderSessions();
}

function renderSessions(): void {
  // The list redraws on every change and every usage sample: a keyboard user's
  // focus (a row's Extend or End, a column's sort button) is put back where it was.
  const focused = document.activeElement as HTMLElement | null;
  const again = focused?.dataset.act
    ? `[data-act="${focused.dataset.act}"][data-id="${focused.dataset.id}"]`
    : focused?.dataset.sort
      ? `[data-sort="${focused.dataset.sort}"]`
      : null;
  $('sessions-head').innerHTML = renderHead(tableState);
  const rows = visible(sessions, tableState);
  $('sessions-body').innerHTML = renderRows(rows);
  if (again) document.querySelector<HTMLElement>(`#sessions ${again}`)?.focus();
  $('sessions-count').textContent = t('sessions.count', rows.length, sessions.length);
  $('pool-members').innerHTML = panels.poolMembers(sessions);
}

function takeSessions(list: AdminSession[], capacity: Capacity): void {
  sessions = list;
  $('summary').innerHTML = panels.summary(sessions, capacity);
  renderSessions();
}

/** Any call: a 401 means the sign-in is gone (expired, signed out elsewhere). */
async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  try {
    return await api<T>(method, path, body);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403) && path !== 'admin/session') signedOut();
    throw e;
  }
}

function showRebuild(r: RebuildState): void {
  const box = $('template-progress');
  box.hidden = !r.running && !r.outcome;
  $('template-state').textContent = panels.rebuildState(r);
  const lines = $('template-lines');
  const atEnd = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 4;
  lines.innerHTML = panels.rebuildLines(r);
  if (atEnd) lines.scrollTop = lines.scrollHeight;
  $<HTMLButtonElement>('template-rebuild').disabled = r.running || !templateOffered;
}

let templateOffered = false;
function showTemplate(p: TemplatePanel): void {
  templateOffered = p.rebuild_offered;
  $('template').innerHTML = panels.template(p);
  const note = $('template-note');
  note.hidden = p.rebuild_offered || !p.rebuild_reason;
  note.textContent = p.rebuild_reason ? t('template.notOffered', p.rebuild_reason) : '';
  showRebuild(p.rebuild);
}

async function loadTemplate(): Promise<void> {
  showTemplate(await call<TemplatePanel>('GET', 'admin/template'));
}

async function loadOverview(): Promise<void> {
  const o = await call<Overview>('GET', `admin/overview?days=${$<HTMLSelectElement>('usage-days').value}`);
  takeSessions(o.sessions, o.capacity);
  $('capacity').innerHTML = panels.capacity(o);
  $('nodes').innerHTML = panels.nodes(o.nodes);
  $('nodes-wrap').hidden = !o.nodes.length;
  showTemplate(o.template);
  const size = $<HTMLInputElement>('pool-size');
  if (document.activeElement !== size) size.value = String(o.pool.size);
  size.max = String(o.capacity.max);
  $('clients').innerHTML = panels.clients(o);
  $('blocks').innerHTML = panels.blocks(o);
  $('failures').innerHTML = panels.failures(o);
  $('charts').innerHTML = panels.charts(o);
  for (const option of $<HTMLSelectElement>('usage-days').options) option.disabled = Number(option.value) > o.usage.kept_days;
  const audit = await call<{ entries: AuditEntry[] }>('GET', 'audit?limit=50');
  $('audit').innerHTML = panels.audit(audit.entries);
}

function listen(): void {
  events?.close();
  events = new EventSource(`${base}admin/events`);
  const live = $('live');
  events.addEventListener('sessions', (e) => {
    const data = JSON.parse((e as MessageEvent).data) as { sessions: AdminSession[]; capacity: Capacity };
    takeSessions(data.sessions, data.capacity);
    live.textContent = t('sessions.live');
    live.classList.remove('off');
  });
  // A rebuild's progress as it comes; once it ends, the panel shows the new template.
  let wasRunning = false;
  events.addEventListener('template', (e) => {
    const r = JSON.parse((e as MessageEvent).data) as RebuildState;
    showRebuild(r);
    if (wasRunning && !r.running) void loadTemplate().catch(() => {});
    wasRunning = r.running;
  });
  events.addEventListener('error', () => {
    live.textContent = t('sessions.offline');
    live.classList.add('off');
    // The stream was refused (signed out) rather than dropped: find out which.
    api('GET', 'admin/session').catch((e) => {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) signedOut();
    });
  });
}

async function signedIn(): Promise<void> {
  show('console');
  await loadOverview();
  listen();
  window.clearInterval(refresher);
  refresher = window.setInterval(() => void loadOverview().catch(() => {}), 15_000);
}

/** Back to the sign-in form; nothing the console showed stays on the page. */
function signedOut(): void {
  events?.close();
  events = undefined;
  window.clearInterval(refresher);
  sessions = [];
  $('template-progress').hidden = true;
  $('template-note').hidden = true;
  for (const id of [
    'summary',
    'sessions-body',
    'capacity',
    'nodes',
    'template',
    'template-lines',
    'template-state',
    'pool-members',
    'clients',
    'blocks',
    'failures',
    'charts',
    'audit',
  ])
    $(id).innerHTML = '';
  show('signin');
  $('token').focus();
}

async function confirmed(text: string): Promise<boolean> {
  const dialog = $<HTMLDialogElement>('confirm');
  $('confirm-title').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  await new Promise((r) => dialog.addEventListener('close', r, { once: true }));
  return dialog.returnValue === 'ok';
}

async function act(fn: () => Promise<string>): Promise<void> {
  try {
    notice(await fn());
  } catch (e) {
    notice(t('error.generic', e instanceof Error ? e.message : String(e)), true);
  }
  await loadOverview().catch(() => {});
}

function wire(): void {
  $('lang').addEventListener('click', () => {
    i18n.setLang(i18n.lang === 'fr' ? 'en' : 'fr');
    storage.set('winux.lang', i18n.lang);
    applyLang();
    void loadOverview().catch(() => {});
  });

  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>('token');
    const error = $('signin-error');
    error.hidden = true;
    try {
      await api('POST', 'admin/session', { token: input.value });
      input.value = '';
      await signedIn();
    } catch (err) {
      input.value = '';
      error.textContent = err instanceof ApiError && err.status === 429 ? t('signin.limited') : t('signin.wrong');
      error.hidden = false;
      input.focus();
    }
  });

  $('signout').addEventListener('click', async () => {
    await api('DELETE', 'admin/session').catch(() => {});
    signedOut();
  });

  $('filter').addEventListener('input', (e) => {
    tableState.filter = (e.target as HTMLInputElement).value;
    renderSessions();
  });
  $('status-filter').addEventListener('change', (e) => {
    tableState.status = (e.target as HTMLSelectElement).value;
    renderSessions();
  });
  $('sessions-head').addEventListener('click', (e) => {
    const key = (e.target as HTMLElement).closest<HTMLElement>('[data-sort]')?.dataset.sort as typeof tableState.sort | undefined;
    if (!key) return;
    tableState.descending = tableState.sort === key ? !tableState.descending : false;
    tableState.sort = key;
    renderSessions();
    $('sessions-head').querySelector<HTMLElement>(`[data-sort="${key}"]`)?.focus();
  });
  $('sessions-body').addEventListener('click', (e) => {
    const button = (e.target as HTMLElement).closest<HTMLButtonElement>('button[data-act]');
    if (!button) return;
    const id = button.dataset.id!;
    if (button.dataset.act === 'end') {
      void confirmed(t('confirm.end', id)).then(async (ok) => {
        if (ok)
          await act(async () => {
            await call('DELETE', `sessions/${id}`);
            return t('endedOne', id);
          });
      });
    } else {
      void act(async () => {
        await call('POST', `sessions/${id}/extend`, {});
        return t('extended', id);
      });
    }
  });
  $('end-expired').addEventListener('click', () => {
    void act(async () => t('ended', (await call<{ ended: number }>('POST', 'admin/sessions/end-expired', {})).ended));
  });
  $('end-all').addEventListener('click', async () => {
    if (!(await confirmed(t('confirm.endAll')))) return;
    await act(async () => t('ended', (await call<{ ended: number }>('POST', 'admin/sessions/end-all', {})).ended));
  });

  $('template-rebuild').addEventListener('click', async () => {
    if (!(await confirmed(t('confirm.rebuild')))) return;
    await act(async () => {
      showTemplate(await call<TemplatePanel>('POST', 'admin/template/rebuild', {}));
      return t('template.started');
    });
  });
  $('usage-days').addEventListener('change', () => void loadOverview().catch(() => {}));

  $('pool-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const size = Number($<HTMLInputElement>('pool-size').value);
    void act(async () => t('pool.saved', (await call<{ size: number }>('PUT', 'admin/pool', { size })).size));
  });

  $('block-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const network = $<HTMLInputElement>('block-network').value.trim();
    const minutes = $<HTMLSelectElement>('block-minutes').value;
    void act(async () => {
      const b = await call<{ network: string }>('POST', 'admin/blocks', { network, minutes: minutes ? Number(minutes) : null });
      $<HTMLInputElement>('block-network').value = '';
      return t('block.added', b.network);
    });
  });
  $('clients').addEventListener('click', (e) => {
    const key = (e.target as HTMLElement).closest<HTMLElement>('[data-block]')?.dataset.block;
    if (!key) return;
    const input = $<HTMLInputElement>('block-network');
    input.value = key;
    input.focus();
  });
  $('blocks').addEventListener('click', (e) => {
    const id = (e.target as HTMLElement).closest<HTMLElement>('[data-unblock]')?.dataset.unblock;
    if (id)
      void act(async () => {
        await call('DELETE', `admin/blocks/${id}`);
        return t('block.removed');
      });
  });
}

async function start(): Promise<void> {
  wire();
  applyLang();
  try {
    await api('GET', 'admin/session');
    await signedIn();
  } catch {
    signedOut();
  }
}

void start();
