// One viewer's WebSocket joined to the session's desktop: Winux authenticates
// to the desktop with the session password (a view-only viewer with the
// view-only one, so the desktop itself refuses its input and sends it no
// clipboard), greets the browser with security type None, then relays —
// screen updates as they come, the viewer's messages through
// ClientMessageFilter (which drops a view-only viewer's input).
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { viewOnlyDesktopPassword } from '../core/credentials.ts';
import { ByteQueue, ClientMessageFilter, handshakeWithDesktop, handshakeWithViewer, RfbError, type ViewerMode } from './rfb.ts';

/** WebSocket close codes the pages understand (4000–4999 are the application's). */
export const closeCodes = {
  sessionEnded: 4000,
  shareRevoked: 4001,
  desktopUnavailable: 1011,
  protocolError: 1002,
} as const;

/** Above this many bytes waiting for a slow viewer, reading from the desktop pauses (back-pressure). */
const highWaterBytes = 4 * 1024 * 1024;

export interface BridgeOptions {
  ws: WebSocket;
  desktop: Duplex;
  password: string;
  mode: ViewerMode;
  /** How long the two handshakes may take together. */
  handshakeTimeoutMs?: number;
  onError?: (err: Error) => void;
}

export interface Bridge {
  /** Resolves once the viewer sees the desktop (ServerInit sent). */
  ready: Promise<void>;
  /** Resolves when either side has closed. */
  closed: Promise<void>;
  close(code: number, reason: string): void;
  readonly bytesToViewer: number;
  readonly droppedInputs: number;
}

export function bridgeViewer(options: BridgeOptions): Bridge {
  const { ws, desktop, password, mode } = options;
  const fromDesktop = new ByteQueue();
  const fromViewer = new ByteQueue();
  const filter = new ClientMessageFilter(mode);
  let relaying = false;
  let ended = false;
  let bytesToViewer = 0;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });

  const close = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    fromDesktop.fail(new RfbError('closed'));
    fromViewer.fail(new RfbError('closed'));
    desktop.destroy();
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
    resolveClosed();
  };
  const fail = (err: Error, code: number) => {
    if (!ended) options.onError?.(err);
    close(code, err instanceof RfbError ? 'protocol_error' : 'desktop_unavailable');
  };

  const toViewer = (chunk: Buffer) => {
    bytesToViewer += chunk.length;
    ws.send(chunk, { binary: true });
    if (ws.bufferedAmount > highWaterBytes && !desktop.isPaused()) {
      desktop.pause();
      const resume = setInterval(() => {
        if (ended || ws.bufferedAmount < highWaterBytes / 2) {
          clearInterval(resume);
          desktop.resume();
        }
      }, 10);
    }
  };

  desktop.on('data', (chunk: Buffer) => (relaying ? toViewer(chunk) : fromDesktop.push(chunk)));
  desktop.on('error', (err) => fail(err, closeCodes.desktopUnavailable));
  desktop.on('close', () => close(closeCodes.desktopUnavailable, 'desktop_closed'));
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return fail(new RfbError('text frame on an RFB stream'), closeCodes.protocolError);
    if (!relaying) return fromViewer.push(data);
    try {
      const forward = filter.accept(data);
      if (forward.length) desktop.write(forward);
    } catch (err) {
      fail(err as Error, closeCodes.protocolError);
    }
  });
  ws.on('close', () => close(1000, 'viewer_left'));
  ws.on('error', () => close(1000, 'viewer_left'));

  const timer = setTimeout(() => fail(new RfbError('handshake timed out'), closeCodes.desktopUnavailable), options.handshakeTimeoutMs ?? 15_000);
  const ready = (async () => {
    // Both at once: the viewer is greeted while Winux authenticates to the desktop.
    const desktopPassword = mode === 'view-only' ? viewOnlyDesktopPassword(password) : password;
    const serverInit = handshakeWithDesktop(fromDesktop, (b) => desktop.write(b), desktopPassword);
    serverInit.catch(() => {}); // a failure of either ends both, through `ready` below
    await Promise.all([serverInit, handshakeWithViewer(fromViewer, (b) => ws.send(b, { binary: true }), serverInit)]);
    clearTimeout(timer);
    relaying = true;
    // Bytes that arrived with the handshake's last read belong to the relay.
    const early = fromDesktop.drain();
    if (early.length) toViewer(early);
    const pending = fromViewer.drain();
    if (pending.length) {
      const forward = filter.accept(pending);
      if (forward.length) desktop.write(forward);
    }
  })();
  ready.catch((err: Error) => {
    clearTimeout(timer);
    fail(err, err instanceof RfbError && /refused the session password/.test(err.message) ? closeCodes.desktopUnavailable : closeCodes.protocolError);
  });
  closed.then(() => clearTimeout(timer));

  return {
    ready,
    closed,
    close,
    get bytesToViewer() {
      return bytesToViewer;
    },
    get droppedInputs() {
      return filter.dropped;
    },
  };
}
