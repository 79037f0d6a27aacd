// One desktop stream: noVNC's RFB over a WebSocket to Winux, which speaks to the
// session's VNC server itself (security type None on our side: the page never
// knows a VNC password). Reconnects with backoff after a network blip, but not
// after the server's final closes: 4000 session_ended, 4001 share_revoked.
import type RFB from '@novnc/novnc';

/** Why a stream stopped for good. */
export type EndReason = 'session_ended' | 'share_revoked' | 'denied' | 'forbidden' | 'unavailable' | 'credentials';

export type StreamState =
  | { kind: 'connecting' }
  | { kind: 'connected' }
  /** Waiting to try again: `at` is performance.now() of the next attempt; `unavailable` after a 1011. */
  | { kind: 'reconnecting'; at: number; unavailable: boolean }
  | { kind: 'ended'; reason: EndReason };

/** What the page concludes after a failure that says nothing by itself (a 1006 close, a refused upgrade). */
export type Verdict = 'retry' | EndReason;

export interface StreamOptions {
  /** Where noVNC draws (noVNC adds its own canvas inside). */
  screen: HTMLElement;
  /** The WebSocket URL, asked again at each attempt. */
  url: () => string;
  protocols: string[];
  viewOnly: boolean;
  /** The owner's desktop follows the window's size; viewers scale what they get. */
  resize: boolean;
  /** Asked after a failure without a final close code (the page may ask the API what happened). */
  diagnose?: (failures: number, everOpened: boolean) => Promise<Verdict>;
  onState(state: StreamState): void;
  onClipboard?(text: string): void;
}

/** From the connection to the first request that the desktop take the window's size (see attempt()). */
const resizeAfterMs = 1000;

export const closeCodes = { sessionEnded: 4000, shareRevoked: 4001, unavailable: 1011 } as const;
const maxDelaySeconds = 30;

export interface DesktopStream {
  readonly rfb: RFB | null;
  readonly state: StreamState;
  /** Stops the stream (the visitor closed the view); no reconnection follows. */
  close(): void;
  /** Skips the wait of a pending reconnection. */
  retryNow(): void;
}

/** The noVNC module, loaded on first use (its chunk is most of the pages' weight). */
let rfbClass: Promise<typeof RFB> | null = null;
/** The same once loaded: a stream then opens its socket at once, in the caller's task. */
let rfbLoaded: typeof RFB | null = null;
export function loadNoVnc(): Promise<typeof RFB> {
  rfbClass ??= import('@novnc/novnc').then((m) => (rfbLoaded = m.default));
  return rfbClass;
}

export function openStream(o: StreamOptions): DesktopStream {
  let rfb: RFB | null = null;
  let state: StreamState = { kind: 'connecting' };
  let failures = 0;
  let everOpened = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const set = (s: StreamState) => {
    state = s;
    o.onState(s);
  };
  const end = (reason: EndReason) => {
    stopped = true;
    clearTimeout(timer);
    window.removeEventListener('online', onOnline);
    set({ kind: 'ended', reason });
  };

  async function attempt(): Promise<void> {
    if (stopped) return;
    // No await when noVNC is there already: the socket is opened before the page goes on
    // drawing, and the server's handshakes run meanwhile.
    const RFB = rfbLoaded ?? (await loadNoVnc());
    if (stopped) return;
    if (state.kind !== 'reconnecting') set({ kind: 'connecting' });
    // Our own socket, so the close code is ours to read (noVNC's disconnect event only says "clean").
    const ws = new WebSocket(o.url(), o.protocols);
    let opened = false;
    let close: CloseEvent | null = null;
    ws.addEventListener('open', () => {
      opened = true;
    });
    ws.addEventListener('close', (e) => {
      close = e;
    });
    holdEarlyMessages(ws);
    const r = new RFB(o.screen, ws, { shared: true });
    rfb = r;
    r.viewOnly = o.viewOnly;
    r.scaleViewport = true;
    // The desktop follows the window, but only once its first frame is drawn: asked at
    // once, Xvnc resizes and the desktop redraws everything before a full frame comes
    // (about half a second on a loaded host). Until then the frame is scaled to fit.
    r.resizeSession = false;
    r.focusOnClick = !o.viewOnly;
    r.background = 'transparent';
    r.qualityLevel = 6;
    r.compressionLevel = 2;
    r.addEventListener('connect', () => {
      failures = 0;
      everOpened = true;
      set({ kind: 'connected' });
      if (o.resize && !o.viewOnly) setTimeout(() => rfb === r && (r.resizeSession = true), resizeAfterMs);
    });
    r.addEventListener('clipboard', (e) => o.onClipboard?.((e as CustomEvent<{ text: string }>).detail.text));
    r.addEventListener('credentialsrequired', () => {
      // Winux authenticates to the desktop itself; a password prompt means something is wrong, not a question for the visitor.
      end('credentials');
      r.disconnect();
    });
    r.addEventListener('disconnect', () => {
      if (rfb === r) rfb = null;
      // The socket's close event may come a moment after noVNC's: read it in the next task.
      setTimeout(() => failed(close, opened), 0);
    });
  }

  async function failed(close: CloseEvent | null, opened: boolean): Promise<void> {
    if (stopped) return;
    const code = close?.code ?? 0;
    if (code === closeCodes.sessionEnded) return end('session_ended');
    if (code === closeCodes.shareRevoked) return end('share_revoked');
    failures++;
    const unavailable = code === closeCodes.unavailable;
    if (!unavailable && o.diagnose) {
      let verdict: Verdict = 'retry';
      try {
        verdict = await o.diagnose(failures, everOpened || opened);
      } catch {
        /* the API is unreachable too: a network blip, try again */
      }
      if (stopped) return;
      if (verdict !== 'retry') return end(verdict);
    }
    const delay = Math.min(maxDelaySeconds, 2 ** (failures - 1)) * 1000 * (0.8 + Math.random() * 0.4);
    set({ kind: 'reconnecting', at: performance.now() + delay, unavailable });
    clearTimeout(timer);
    timer = setTimeout(attempt, delay);
  }

  // Back on the network: no reason to wait out the backoff.
  const onOnline = () => stream.retryNow();
  window.addEventListener('online', onOnline);

  const stream: DesktopStream = {
    get rfb() {
      return rfb;
    },
    get state() {
      return state;
    },
    close() {
      stopped = true;
      clearTimeout(timer);
      window.removeEventListener('online', onOnline);
      rfb?.disconnect();
      rfb = null;
    },
    retryNow() {
      if (stopped || state.kind !== 'reconnecting') return;
      clearTimeout(timer);
      attempt();
    },
  };
  attempt();
  return stream;
}

/**
 * noVNC attaches to a socket it is given one task after its constructor, by setting
 * `onmessage`; a server that speaks first (RFB does: "RFB 003.008") may be heard
 * before that, and the message would be lost. Messages are held until noVNC's
 * handler is set, then handed to it, in order, once its attach has finished.
 */
function holdEarlyMessages(ws: WebSocket): void {
  const early: MessageEvent[] = [];
  const hold = (e: MessageEvent) => early.push(e);
  let handler: ((this: WebSocket, e: MessageEvent) => unknown) | null = null;
  ws.addEventListener('message', hold);
  ws.addEventListener('message', (e) => {
    if (early.length === 0 || !early.includes(e)) handler?.call(ws, e);
  });
  Object.defineProperty(ws, 'onmessage', {
    configurable: true,
    get: () => handler,
    set: (h: typeof handler) => {
      handler = h;
      // A microtask: after noVNC's attach (and its "socket open" step) completes, before any other message event.
      queueMicrotask(() => {
        ws.removeEventListener('message', hold);
        for (const e of early.splice(0)) h?.call(ws, e);
      });
    },
  });
}

/** A same-origin WebSocket URL for an API path (ws: or wss: as the page is served). */
export function wsUrl(path: string): string {
  const u = new URL(path, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}
