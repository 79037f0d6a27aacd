// A simulated CT's desktop as Winux reaches it on Proxmox: TigerVNC's Xvnc run
// by winux-desktop with `-SecurityTypes VncAuth -rfbport 5900` and, after
// winux-session-init --vnc-network, listening on the CT's address. Like the RDP
// stand-in it binds the CT's loopback address only, so no test packet leaves
// the machine. What it does, as Xvnc does (RFC 6143):
//   - RFB 3.8 (3.7 accepted), one security type: VNC authentication (§7.2.2):
//     a random 16-byte challenge, answered with DES under the password's first
//     8 bytes, each byte's bits mirrored. The password is read at each
//     connection (Xvnc rereads ~/.vnc/passwd), so a new password applies to the next
//     one and the old password is refused from then on;
//   - a failed authentication gets SecurityResult 1 and a reason, then the close;
//   - ServerInit with a small framebuffer, then raw FramebufferUpdates in the
//     client's pixel format. The picture is a gradient whose blue channel is the
//     vmid's low byte, so a test can tell whose desktop it sees;
//   - the password file's second line is the view-only password
//     (winux-session-init writes one): a viewer authenticated with it has its
//     input ignored, as Xvnc does;
//   - input (keys, pointer, clipboard, resize) is recorded, not acted on.
// Independent of Winux's own RFB code on purpose: the simulator must not agree
// with a bug in it. (The real-Xvnc check of Winux's side is the LXC desktop test.)
import { createCipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';

export interface VncInput {
  type: 'key' | 'pointer' | 'cut-text' | 'resize';
  detail: number[] | string;
}

export interface VncDesktop {
  vmid: number;
  width: number;
  height: number;
  /** The password Xvnc's password file holds now; undefined: none set yet (every answer is refused). */
  password(): string | undefined;
  /** The password file's view-only password, if it has one. */
  viewOnlyPassword(): string | undefined;
  /** Everything viewers sent that would change the desktop, oldest first. */
  input: VncInput[];
  /** Authentications refused (wrong or old password). */
  authFailures: number;
  /** Accepted authentications, by password: the full one or the view-only one. */
  logins?: Array<'full' | 'view-only'>;
}

/** RFC 6143 §7.2.2 from the spec's words, not from Winux's code: DES-ECB with a bit-mirrored 8-byte key. */
export function desChallengeAnswer(password: string, challenge: Buffer): Buffer {
  const key = Buffer.alloc(8);
  for (let i = 0; i < 8 && i < password.length; i++) {
    const byte = password.charCodeAt(i) & 0xff;
    key[i] = Number.parseInt(byte.toString(2).padStart(8, '0').split('').reverse().join(''), 2);
  }
  // Single DES = EDE with K1 = K2 = K3 (OpenSSL 3 keeps plain des-ecb in its legacy provider).
  const cipher = createCipheriv('des-ede3-ecb', Buffer.concat([key, key, key]), null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(challenge), cipher.final()]);
}

interface PixelFormat {
  bpp: number;
  bigEndian: boolean;
  max: [number, number, number];
  shift: [number, number, number];
}

const defaultFormat: PixelFormat = { bpp: 32, bigEndian: false, max: [255, 255, 255], shift: [16, 8, 0] };

function serverInit(d: VncDesktop): Buffer {
  const name = Buffer.from('Winux', 'utf8');
  const b = Buffer.alloc(24 + name.length);
  b.writeUInt16BE(d.width, 0);
  b.writeUInt16BE(d.height, 2);
  b[4] = 32;
  b[5] = 24;
  b[6] = 0; // little-endian
  b[7] = 1; // true colour
  b.writeUInt16BE(255, 8);
  b.writeUInt16BE(255, 10);
  b.writeUInt16BE(255, 12);
  b.set([16, 8, 0], 14);
  b.writeUInt32BE(name.length, 20);
  name.copy(b, 24);
  return b;
}

function rgbAt(d: VncDesktop, x: number, y: number): [number, number, number] {
  return [Math.round((x * 255) / Math.max(1, d.width - 1)), Math.round((y * 255) / Math.max(1, d.height - 1)), d.vmid & 0xff];
}

function rawRect(d: VncDesktop, pf: PixelFormat, x: number, y: number, w: number, h: number): Buffer {
  const bytes = pf.bpp / 8;
  const out = Buffer.alloc(w * h * bytes);
  let at = 0;
  for (let row = y; row < y + h; row++) {
    for (let col = x; col < x + w; col++) {
      const rgb = rgbAt(d, col, row);
      let v = 0;
      for (let c = 0; c < 3; c++) v += Math.round((rgb[c]! * pf.max[c]!) / 255) * 2 ** pf.shift[c]!;
      for (let i = 0; i < bytes; i++) {
        const byte = Math.floor(v / 2 ** (8 * i)) & 0xff;
        out[at + (pf.bigEndian ? bytes - 1 - i : i)] = byte;
      }
      at += bytes;
    }
  }
  return out;
}

function update(d: VncDesktop, pf: PixelFormat, req: Buffer): Buffer {
  const x = Math.min(req.readUInt16BE(2), d.width);
  const y = Math.min(req.readUInt16BE(4), d.height);
  const w = Math.min(req.readUInt16BE(6), d.width - x);
  const h = Math.min(req.readUInt16BE(8), d.height - y);
  const head = Buffer.alloc(4 + 12);
  head[0] = 0;
  head.writeUInt16BE(1, 2);
  head.writeUInt16BE(x, 4);
  head.writeUInt16BE(y, 6);
  head.writeUInt16BE(w, 8);
  head.writeUInt16BE(h, 10);
  head.writeInt32BE(0, 12); // raw
  return Buffer.concat([head, rawRect(d, pf, x, y, w, h)]);
}

/** Serves one viewer connection; ends it on anything Xvnc would refuse. */
function serve(socket: net.Socket, d: VncDesktop): void {
  let buf = Buffer.alloc(0);
  let stage: 'version' | 'security' | 'auth' | 'init' | 'messages' = 'version';
  let challenge = Buffer.alloc(0);
  let viewOnly = false;
  let pf = defaultFormat;
  const refuse = (reason: string) => {
    const r = Buffer.from(reason, 'utf8');
    const b = Buffer.alloc(8 + r.length);
    b.writeUInt32BE(1, 0);
    b.writeUInt32BE(r.length, 4);
    r.copy(b, 8);
    socket.end(b);
    stage = 'version';
    buf = Buffer.alloc(0);
    socket.removeAllListeners('data');
  };
  socket.write('RFB 003.008\n');
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (stage === 'version') {
        if (buf.length < 12) return;
        const v = buf.subarray(0, 12).toString('latin1');
        buf = buf.subarray(12);
        if (v !== 'RFB 003.008\n' && v !== 'RFB 003.007\n') return void socket.destroy();
        socket.write(Buffer.from([1, 2])); // one security type: VNC authentication
        stage = 'security';
      } else if (stage === 'security') {
        if (buf.length < 1) return;
        const chosen = buf[0];
        buf = buf.subarray(1);
        if (chosen !== 2) return refuse('Security type not supported');
        challenge = randomBytes(16);
        socket.write(challenge);
        stage = 'auth';
      } else if (stage === 'auth') {
        if (buf.length < 16) return;
        const answer = buf.subarray(0, 16);
        buf = buf.subarray(16);
        const matches = (p: string | undefined) => p !== undefined && timingSafeEqual(answer, desChallengeAnswer(p, challenge));
        const full = matches(d.password());
        if (!full && !matches(d.viewOnlyPassword())) {
          d.authFailures++;
          return refuse('Authentication failure'); // TigerVNC's text (sim-vnc.test.ts compares)
        }
        viewOnly = !full;
        (d.logins ??= []).push(full ? 'full' : 'view-only');
        socket.write(Buffer.from([0, 0, 0, 0]));
        stage = 'init';
      } else if (stage === 'init') {
        if (buf.length < 1) return;
        buf = buf.subarray(1); // shared flag: Xvnc runs with -AlwaysShared
        socket.write(serverInit(d));
        stage = 'messages';
      } else {
        const length = messageLength(buf);
        if (length === null) return void socket.destroy(); // a type Xvnc does not know
        if (length === undefined || buf.length < length) return;
        const m = buf.subarray(0, length);
        buf = buf.subarray(length);
        handle(m);
      }
    }
  });
  const handle = (m: Buffer) => {
    if (viewOnly && [4, 5, 6, 251].includes(m[0]!)) return; // Xvnc ignores a view-only viewer's input
    switch (m[0]) {
      case 0:
        if (m[7] !== 1 || ![8, 16, 32].includes(m[4]!)) return void socket.destroy(); // true colour only, as Winux's viewers ask
        pf = {
          bpp: m[4]!,
          bigEndian: m[6] !== 0,
          max: [m.readUInt16BE(8), m.readUInt16BE(10), m.readUInt16BE(12)],
          shift: [m[14]!, m[15]!, m[16]!],
        };
        return;
      case 3:
        socket.write(update(d, pf, m));
        return;
      case 4:
        d.input.push({ type: 'key', detail: [m[1]!, m.readUInt32BE(4)] });
        return;
      case 5:
        d.input.push({ type: 'pointer', detail: [m[1]!, m.readUInt16BE(2), m.readUInt16BE(4)] });
        return;
      case 6:
        d.input.push({ type: 'cut-text', detail: m.subarray(8).toString('latin1') });
        return;
      case 251:
        d.input.push({ type: 'resize', detail: [m.readUInt16BE(2), m.readUInt16BE(4)] });
        return;
      default:
        return; // SetEncodings, continuous updates, fences, xvp: nothing to show for them here
    }
  };
}

/** The length of the client message at the start of `b`; undefined: more bytes needed; null: unknown type. */
function messageLength(b: Buffer): number | undefined | null {
  if (b.length < 1) return undefined;
  const at = (n: number) => (b.length >= n ? b : undefined);
  switch (b[0]) {
    case 0:
      return 20;
    case 2:
      return at(4) && 4 + 4 * b.readUInt16BE(2);
    case 3:
      return 10;
    case 4:
      return 8;
    case 5:
      return 6;
    case 6:
      return at(8) && 8 + Math.abs(b.readInt32BE(4));
    case 150:
      return 10;
    case 248:
      return at(9) && 9 + b[8]!;
    case 250:
      return 4;
    case 251:
      return at(8) && 8 + 16 * b[6]!;
    default:
      return null;
  }
}

/**
 * Listens on `ip:port` (a loopback address only). `admit` is the CT firewall's
 * verdict for a connection from `peer`: a refused one is reset before any byte
 * of RFB (a real DROP leaves the SYN unanswered until the client times out; on
 * loopback the kernel has already completed the handshake, so the simulator
 * answers with a reset rather than make tests wait for a timeout).
 */
export function listenVnc(ip: string, port: number, d: VncDesktop, admit: (peer: string) => boolean): Promise<net.Server | null> {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip)) return Promise.resolve(null);
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    const peer = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (!admit(peer)) return void socket.resetAndDestroy();
    socket.setNoDelay(true);
    serve(socket, d);
  });
  return new Promise((resolve) => {
    server.once('error', () => resolve(null));
    server.listen(port, ip, () => resolve(server));
  });
}
