// The desktop view: a full-window canvas under a slim toolbar. The owner gets the
// keys menu, the clipboard panel and the on-screen keyboard; viewers get a clear
// "view only" badge. Pages add their own toolbar items (countdown, share, close).
import { esc, say } from '../shared/dom.ts';
import { openStream, type DesktopStream, type EndReason, type StreamState, type Verdict } from './connection.ts';
import { dt } from './i18n.ts';

export interface ViewOptions {
  /** The element the view fills (a fixed, full-window section of the page). */
  root: HTMLElement;
  url: () => string;
  protocols: string[];
  viewOnly: boolean;
  diagnose?: (failures: number, everOpened: boolean) => Promise<Verdict>;
  onEnd(reason: EndReason): void;
  /** Toolbar items the page adds before the view's own buttons (a countdown), and after them (share, close). */
  lead?: HTMLElement[];
  trail?: HTMLElement[];
}

export interface DesktopView {
  readonly stream: DesktopStream;
  /** Re-renders the view's strings (the page changed language). */
  relabel(): void;
  /** Opens one of the toolbar's panels (or closes them all with null); the page's share panel uses it too. */
  togglePanel(panel: HTMLElement | null, button?: HTMLElement): void;
  /** A panel below the toolbar, toggled by `button` (the page's own, e.g. share). */
  addPanel(button: HTMLElement, panel: HTMLElement): void;
  close(): void;
}

// X keysyms (X11/keysymdef.h) and the matching KeyboardEvent codes.
const K = {
  Control_L: [0xffe3, 'ControlLeft'],
  Alt_L: [0xffe9, 'AltLeft'],
  Super_L: [0xffeb, 'MetaLeft'],
  Delete: [0xffff, 'Delete'],
  BackSpace: [0xff08, 'Backspace'],
  Tab: [0xff09, 'Tab'],
  Return: [0xff0d, 'Enter'],
  Escape: [0xff1b, 'Escape'],
  Print: [0xff61, 'PrintScreen'],
  F4: [0xffc1, 'F4'],
  F11: [0xffc8, 'F11'],
  t: [0x0074, 'KeyT'],
} as const satisfies Record<string, readonly [number, string]>;
type Key = keyof typeof K;

/** The combinations a browser or the visitor's own system would swallow. */
const combos: Array<{ id: string; label: string; keys: Key[] }> = [
  { id: 'cad', label: 'Ctrl+Alt+Del', keys: ['Control_L', 'Alt_L', 'Delete'] },
  { id: 'cat', label: 'Ctrl+Alt+T', keys: ['Control_L', 'Alt_L', 't'] },
  { id: 'alt-tab', label: 'Alt+Tab', keys: ['Alt_L', 'Tab'] },
  { id: 'alt-f4', label: 'Alt+F4', keys: ['Alt_L', 'F4'] },
  { id: 'super', label: 'Super', keys: ['Super_L'] },
  { id: 'esc', label: 'Esc', keys: ['Escape'] },
  { id: 'tab', label: 'Tab', keys: ['Tab'] },
  { id: 'f11', label: 'F11', keys: ['F11'] },
  { id: 'print', label: 'Impr. écran / Print Screen', keys: ['Print'] },
];

/** The keysym of a typed character: Latin-1 as itself, the rest as X's Unicode keysyms. */
export const charKeysym = (cp: number): number => (cp < 0x100 ? cp : 0x1000000 | cp);

function button(cls: string, id: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.id = id;
  return b;
}

export function createDesktopView(o: ViewOptions): DesktopView {
  const { root } = o;
  root.classList.add('dt');
  root.innerHTML = `<div class="dt-bar" role="toolbar">
  <span class="dt-lead"></span>
  <span class="dt-state" id="dt-state" role="status" aria-live="polite"></span>
  <span class="dt-badge" id="dt-viewonly"${o.viewOnly ? '' : ' hidden'}></span>
  <span class="dt-tools"></span>
  <span class="dt-trail"></span>
</div>
<div class="dt-panel" id="dt-keys-menu" role="menu" hidden>${combos
    .map((c) => `<button type="button" role="menuitem" data-combo="${c.id}" translate="no">${esc(c.label)}</button>`)
    .join('')}</div>
<div class="dt-panel" id="dt-clip-panel" hidden>
  <p class="small" id="dt-clip-hint"></p>
  <textarea id="dt-clip-text" rows="4"></textarea>
  <button type="button" class="secondary small" id="dt-clip-send"></button>
</div>
<div class="dt-screen" id="dt-screen"></div>
<div class="dt-msg" id="dt-msg" hidden><p id="dt-msg-text"></p><button type="button" class="secondary small" id="dt-retry"></button></div>
<textarea class="dt-osk-input" id="dt-osk-input" autocapitalize="off" autocomplete="off" autocorrect="off" spellcheck="false" aria-hidden="true" tabindex="-1"></textarea>`;
  const q = <T extends HTMLElement = HTMLElement>(sel: string) => root.querySelector(sel) as T;
  const screen = q('#dt-screen');
  const tools = q('.dt-tools');
  const stateEl = q('#dt-state');
  const msg = q('#dt-msg');
  const msgText = q('#dt-msg-text');
  const clipText = q<HTMLTextAreaElement>('#dt-clip-text');
  const osk = q<HTMLTextAreaElement>('#dt-osk-input');
  q('.dt-lead').append(...(o.lead ?? []));
  q('.dt-trail').append(...(o.trail ?? []));

  const keysBtn = button('dt-btn', 'dt-keys');
  keysBtn.setAttribute('aria-haspopup', 'menu');
  const clipBtn = button('dt-btn', 'dt-clip');
  const oskBtn = button('dt-btn', 'dt-osk');
  const fullBtn = button('dt-btn', 'dt-full');
  if (!o.viewOnly) tools.append(keysBtn, clipBtn, oskBtn);
  tools.append(fullBtn);
  if (!document.fullscreenEnabled) fullBtn.hidden = true;

  // ---- panels: at most one open, each tied to its toolbar button
  const panels = new Map<HTMLElement, HTMLElement>();
  const togglePanel = (panel: HTMLElement | null, btn?: HTMLElement) => {
    for (const [p, b] of panels) {
      const open = p === panel && p.hidden;
      p.hidden = !open;
      b.setAttribute('aria-expanded', String(open));
      if (open) (p.querySelector<HTMLElement>('button, textarea, input') ?? p).focus();
    }
    if (panel?.hidden && btn) btn.focus();
    if (!panel || panel.hidden) stream.rfb?.focus({ preventScroll: true });
  };
  const addPanel = (btn: HTMLElement, panel: HTMLElement) => {
    panels.set(panel, btn);
    btn.setAttribute('aria-expanded', 'false');
    btn.addEventListener('click', () => togglePanel(panel, btn));
  };
  addPanel(keysBtn, q('#dt-keys-menu'));
  addPanel(clipBtn, q('#dt-clip-panel'));
  root.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && [...panels.keys()].some((p) => !p.hidden)) {
      e.stopPropagation();
      togglePanel(null);
    }
  });

  // ---- keys menu
  q('#dt-keys-menu').addEventListener('click', (e) => {
    const id = (e.target as Element).closest<HTMLElement>('[data-combo]')?.dataset.combo;
    const combo = combos.find((c) => c.id === id);
    const rfb = stream.rfb;
    if (!combo || !rfb) return;
    if (combo.id === 'cad') rfb.sendCtrlAltDel();
    else {
      for (const k of combo.keys) rfb.sendKey(K[k][0], K[k][1], true);
      for (const k of [...combo.keys].reverse()) rfb.sendKey(K[k][0], K[k][1], false);
    }
    togglePanel(null);
  });

  // ---- clipboard: the panel both ways, and the async Clipboard API where the browser allows it
  let lastRemote = '';
  let lastLocal = '';
  const onClipboard = (text: string) => {
    // Also what the browser's clipboard now holds: coming back to the desktop must not send it back.
    lastRemote = text;
    lastLocal = text;
    clipText.value = text;
    if (document.hasFocus()) navigator.clipboard?.writeText(text).catch(() => {});
  };
  const sendClipboard = (text: string) => {
    if (!stream.rfb || text === lastRemote) return;
    lastRemote = text;
    stream.rfb.clipboardPasteFrom(text);
  };
  q('#dt-clip-send').addEventListener('click', () => {
    sendClipboard(clipText.value);
    say(dt('clipboardSent'));
    togglePanel(null);
  });
  // Coming back to the desktop: if the browser lets us read the clipboard without asking, carry it over.
  const pullClipboard = async () => {
    if (o.viewOnly || !navigator.clipboard?.readText || !navigator.permissions) return;
    try {
      const p = await navigator.permissions.query({ name: 'clipboard-read' as PermissionName });
      if (p.state !== 'granted') return;
      const text = await navigator.clipboard.readText();
      if (text && text !== lastLocal) {
        lastLocal = text;
        clipText.value = text;
        sendClipboard(text);
      }
    } catch {
      /* not allowed here: the panel remains */
    }
  };
  screen.addEventListener('pointerenter', pullClipboard);
  window.addEventListener('focus', pullClipboard);

  // ---- on-screen keyboard: a hidden text field brings up the phone's keyboard; what it types goes to the desktop
  const tap = (k: Key) => stream.rfb?.sendKey(K[k][0], K[k][1]);
  oskBtn.addEventListener('click', () => {
    osk.value = '';
    osk.focus({ preventScroll: true });
  });
  osk.addEventListener('beforeinput', (e) => {
    e.preventDefault();
    if (e.inputType === 'deleteContentBackward') tap('BackSpace');
    else if (e.inputType === 'insertLineBreak' || e.inputType === 'insertParagraph') tap('Return');
    else if (e.data) for (const ch of e.data) stream.rfb?.sendKey(charKeysym(ch.codePointAt(0)!), null);
  });
  osk.addEventListener('keydown', (e) => {
    // Keys that make no input event on some phones.
    const named: Record<string, Key> = { Enter: 'Return', Backspace: 'BackSpace', Tab: 'Tab', Escape: 'Escape' };
    const k = named[e.key];
    if (k && e.keyCode !== 229) {
      e.preventDefault();
      tap(k);
    }
  });

  // ---- full screen
  fullBtn.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else root.requestFullscreen?.().catch(() => {});
  });
  const onFullscreen = () => relabel();
  document.addEventListener('fullscreenchange', onFullscreen);

  // ---- the stream
  let msgTimer: ReturnType<typeof setInterval> | undefined;
  const renderState = (s: StreamState, notify = true) => {
    root.dataset.state = s.kind;
    clearInterval(msgTimer);
    msg.hidden = s.kind !== 'reconnecting';
    if (s.kind === 'reconnecting') {
      const draw = () => {
        const left = Math.max(0, Math.ceil((s.at - performance.now()) / 1000));
        msgText.textContent = s.unavailable ? dt('state.unavailable', left) : dt('state.reconnecting', left);
      };
      draw();
      msgTimer = setInterval(draw, 500);
    }
    stateEl.textContent = s.kind === 'connected' ? dt('state.connected') : s.kind === 'ended' ? '' : s.kind === 'connecting' ? dt('state.connecting') : '…';
    if (s.kind === 'ended' && notify) o.onEnd(s.reason);
  };
  const stream = openStream({
    screen,
    url: o.url,
    protocols: o.protocols,
    viewOnly: o.viewOnly,
    resize: true,
    diagnose: o.diagnose,
    onState: (s) => renderState(s),
    onClipboard,
  });
  q('#dt-retry').addEventListener('click', () => stream.retryNow());

  function relabel(): void {
    q('.dt-bar').setAttribute('aria-label', dt('desktopLabel'));
    screen.setAttribute('aria-label', dt('desktopLabel'));
    q('#dt-viewonly').textContent = dt('viewOnly');
    q('#dt-viewonly').title = dt('viewOnlyHint');
    keysBtn.textContent = dt('keys');
    keysBtn.title = dt('keysLabel');
    q('#dt-keys-menu').setAttribute('aria-label', dt('keysLabel'));
    clipBtn.textContent = dt('clipboard');
    q('#dt-clip-hint').textContent = dt('clipboardHint');
    clipText.setAttribute('aria-label', dt('clipboardLabel'));
    q('#dt-clip-send').textContent = dt('clipboardSend');
    oskBtn.textContent = dt('keyboard');
    oskBtn.title = dt('keyboardLabel');
    fullBtn.textContent = document.fullscreenElement ? dt('exitFullscreen') : dt('fullscreen');
    q('#dt-retry').textContent = dt('retryNow');
    renderState(stream.state, false);
  }
  relabel();

  return {
    stream,
    relabel,
    togglePanel,
    addPanel,
    close() {
      clearInterval(msgTimer);
      stream.close();
      document.removeEventListener('fullscreenchange', onFullscreen);
      window.removeEventListener('focus', pullClipboard);
      if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
      root.innerHTML = '';
      root.classList.remove('dt');
      delete root.dataset.state;
    },
  };
}
