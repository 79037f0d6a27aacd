// The RFB (VNC) protocol, only as much as Winux's desktop proxy needs:
//   - the client side of the handshake towards the desktop's Xvnc, with VNC
//     authentication by the session password (so no browser ever holds it);
//   - the server side towards the browser, offering security type None (the
//     browser was authorised by Winux before the WebSocket opened);
//   - a reader of client→server messages that knows each message's length, so a
//     view-only viewer's input can be dropped here, on the server: noVNC's own
//     `viewOnly` is only a client-side switch.
// RFC 6143 is the reference; section numbers below point into it.
import { createCipheriv } from 'node:crypto';

export const rfbVersion = Buffer.from('RFB 003.008\n', 'latin1');

const security = { none: 1, vncAuth: 2 } as const;

/** A failure of the RFB conversation (bad peer, refused password): the stream is closed. */
export class RfbError extends Error {
  override name = 'RfbError';
}

/**
 * Reads exact byte counts from a stream of chunks (socket data, WebSocket
 * messages): RFB framing owes nothing to how the transport cut the bytes.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.wake();
  }

  fail(err: Error): void {
    this.failure = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  read(n: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new RfbError('one read at a time'));
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.wake();
    });
  }

  /** Whatever is buffered, emptied (handed on once the handshake is over). */
  drain(): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    return all;
  }

  private wake(): void {
    const w = this.waiter;
    if (!w || this.size < w.n) return;
    this.waiter = undefined;
    const all = Buffer.concat(this.chunks);
    this.chunks = all.length > w.n ? [all.subarray(w.n)] : [];
    this.size = all.length - w.n;
    w.resolve(all.subarray(0, w.n));
  }
}

/**
 * VNC authentication's answer (RFC 6143 §7.2.2): the 16-byte challenge DES-encrypted
 * with the password's first 8 bytes, each byte's bits mirrored (a quirk of the
 * original implementation). Single DES is triple DES with three equal keys, and
 * OpenSSL 3 still offers that (plain `des-ecb` sits in its legacy provider).
 */
export function vncAuthResponse(password: string, challenge: Buffer): Buffer {
  const key = Buffer.alloc(8);
  Buffer.from(password, 'latin1').copy(key, 0, 0, 8);
  for (let i = 0; i < 8; i++) {
    let b = key[i]!;
    let r = 0;
    for (let bit = 0; bit < 8; bit++) {
      r = (r << 1) | (b & 1);
      b >>= 1;
    }
    key[i] = r;
  }
  const cipher = createCipheriv('des-ede3', Buffer.concat([key, key, key]), null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(challenge), cipher.final()]);
}

async function readReason(input: ByteQueue): Promise<string> {
  const len = (await input.read(4)).readUInt32BE(0);
  return (await input.read(Math.min(len, 4096))).toString('utf8');
}

/**
 * Client side of the handshake with the desktop (§7.1–7.3.2), up to and
 * including ServerInit, which is returned verbatim for the browser.
 */
export async function handshakeWithDesktop(input: ByteQueue, write: (b: Buffer) => void, password: string): Promise<Buffer> {
  const version = (await input.read(12)).toString('latin1');
  if (!/^RFB 003\.00[378]\n$/.test(version)) throw new RfbError(`the desktop is not a VNC server (${JSON.stringify(version.slice(0, 12))})`);
  write(rfbVersion);
  const count = (await input.read(1))[0]!;
  if (count === 0) throw new RfbError(`the desktop refused the connection: ${await readReason(input)}`);
  const offered = [...(await input.read(count))];
  if (offered.includes(security.vncAuth)) {
    write(Buffer.from([security.vncAuth]));
    write(vncAuthResponse(password, await input.read(16)));
  } else if (offered.includes(security.none)) {
    write(Buffer.from([security.none]));
  } else {
    throw new RfbError(`the desktop offers no security type Winux speaks (${offered.join(', ')})`);
  }
  if ((await input.read(4)).readUInt32BE(0) !== 0) throw new RfbError(`the desktop refused the session password: ${await readReason(input)}`);
  // ClientInit: shared, so the owner, viewers and an RDP client all see one desktop.
  write(Buffer.from([1]));
  const head = await input.read(24);
  const nameLength = head.readUInt32BE(20);
  if (nameLength > 4096) throw new RfbError('the desktop sent an oversized name');
  return Buffer.concat([head, await input.read(nameLength)]);
}

/**
 * Server side towards the browser (§7.1.1–7.3.1): version 3.8 (or 3.7), security
 * type None, then the desktop's ServerInit once the viewer's ClientInit arrives.
 * `serverInit` may still be on its way: the viewer's side of the handshake runs
 * meanwhile, so the two handshakes' round trips overlap.
 */
export async function handshakeWithViewer(input: ByteQueue, write: (b: Buffer) => void, serverInit: Buffer | Promise<Buffer>): Promise<void> {
  write(rfbVersion);
  const version = (await input.read(12)).toString('latin1');
  const minor = /^RFB 003\.00([78])\n$/.exec(version)?.[1];
  if (!minor) throw new RfbError(`unsupported viewer version ${JSON.stringify(version)}`);
  write(Buffer.from([1, security.none]));
  if ((await input.read(1))[0] !== security.none) throw new RfbError('the viewer chose a security type that was not offered');
  if (minor === '8') write(Buffer.alloc(4)); // SecurityResult OK (3.7 sends none for None)
  await input.read(1); // ClientInit's shared flag: the desktop connection is always shared
  write(await serverInit);
}

/** Client→server message types (§7.5 plus the extensions noVNC and TigerVNC use). */
const clientMessage = {
  setPixelFormat: 0,
  setEncodings: 2,
  framebufferUpdateRequest: 3,
  keyEvent: 4,
  pointerEvent: 5,
  clientCutText: 6,
  enableContinuousUpdates: 150,
  clientFence: 248,
  xvp: 250,
  setDesktopSize: 251,
  qemu: 255,
} as const;

/** Messages that change the desktop: a view-only viewer's are dropped. */
const inputMessages = new Set<number>([
  clientMessage.keyEvent,
  clientMessage.pointerEvent,
  clientMessage.clientCutText,
  clientMessage.setDesktopSize,
  clientMessage.qemu,
  clientMessage.xvp,
]);

/**
 * The length of the client message at the start of `buf`, or undefined when
 * more bytes are needed to know. Throws on a type Winux does not know: it cannot
 * tell where the next message starts, so the stream ends (fail closed).
 */
export function clientMessageLength(buf: Buffer): number | undefined {
  const need = (n: number) => (buf.length >= n ? n : undefined);
  switch (buf[0]) {
    case clientMessage.setPixelFormat:
      return 20;
    case clientMessage.setEncodings:
      return buf.length < 4 ? undefined : 4 + 4 * buf.readUInt16BE(2);
    case clientMessage.framebufferUpdateRequest:
      return 10;
    case clientMessage.keyEvent:
      return 8;
    case clientMessage.pointerEvent:
      return 6;
    case clientMessage.clientCutText:
      // A negative length is the extended clipboard (its size is the absolute value).
      return buf.length < 8 ? undefined : 8 + Math.abs(buf.readInt32BE(4));
    case clientMessage.enableContinuousUpdates:
      return 10;
    case clientMessage.clientFence:
      return need(9) && 9 + buf[8]!;
    case clientMessage.xvp:
      return 4;
    case clientMessage.setDesktopSize:
      return need(8) && 8 + 16 * buf[6]!;
    case clientMessage.qemu:
      if (buf.length < 2) return undefined;
      if (buf[1] === 0) return 12; // extended key event
      throw new RfbError(`unsupported QEMU client message ${buf[1]}`);
    case undefined:
      return undefined;
    default:
      throw new RfbError(`unknown client message type ${buf[0]}`);
  }
}

export type ViewerMode = 'interactive' | 'view-only';

/**
 * Splits a viewer's byte stream into whole messages and returns the bytes to
 * forward to the desktop: everything for an interactive viewer; for a view-only
 * one, everything but input (keys, pointer, clipboard, resize, power actions).
 */
export class ClientMessageFilter {
  private pending: Buffer = Buffer.alloc(0);
  dropped = 0;

  constructor(private readonly mode: ViewerMode) {}

  accept(chunk: Buffer): Buffer {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    let at = 0;
    for (;;) {
      const rest = this.pending.subarray(at);
      const length = clientMessageLength(rest);
      if (length === undefined || rest.length < length) break;
      const message = rest.subarray(0, length);
      if (this.mode === 'view-only' && inputMessages.has(message[0]!)) this.dropped++;
      else out.push(message);
      at += length;
    }
    this.pending = this.pending.subarray(at);
    // A message's length is bounded by its own header (cut text: 2 GiB); refuse to buffer absurd ones.
    if (this.pending.length > 16 * 1024 * 1024) throw new RfbError('client message too large');
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}
