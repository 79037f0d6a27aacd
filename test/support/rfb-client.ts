// A small RFB client for tests and benchmarks: speaks to Winux's desktop
// WebSocket (security type None) the way noVNC does, asks for raw 32-bit
// pixels, keeps a framebuffer, and sends keys, pointer and clipboard — so a
// test can see what a viewer sees and act like a (possibly hostile) client.
import { WebSocket } from 'ws';

export interface RfbClientOptions {
  url: string;
  headers?: Record<string, string>;
  protocols?: string[];
}

const encodings = { raw: 0, copyRect: 1, desktopSize: -223 } as const;

export class RfbClient {
  width = 0;
  height = 0;
  name = '';
  /** BGRX pixels, width × height × 4. */
  pixels = Buffer.alloc(0);
  updates = 0;
  bytesReceived = 0;
  /** The desktop's clipboard texts (ServerCutText) seen so far, oldest first. */
  cutTexts: string[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private closedPromise: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.bytesReceived += data.length;
      this.buffer = Buffer.concat([this.buffer, data]);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closedPromise = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        for (const w of this.waiters.splice(0)) w();
        resolve();
      });
    });
  }

  /** Opens the WebSocket and runs the handshake; rejects with the HTTP status when the upgrade is refused. */
  static async connect(options: RfbClientOptions): Promise<RfbClient> {
    const ws = new WebSocket(options.url, options.protocols ?? ['binary'], { headers: options.headers, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode })));
      ws.once('error', reject);
    });
    const client = new RfbClient(ws);
    await client.handshake();
    return client;
  }

  private async read(n: number, timeoutMs = 15_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffer.length < n) {
      if (this.closeCode !== undefined) throw new Error(`closed (${this.closeCode} ${this.closeReason})`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} bytes`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  private send(b: Buffer): void {
    this.ws.send(b);
  }

  private async handshake(): Promise<void> {
    const version = (await this.read(12)).toString('latin1');
    if (version !== 'RFB 003.008\n') throw new Error(`unexpected version ${JSON.stringify(version)}`);
    this.send(Buffer.from('RFB 003.008\n', 'latin1'));
    const count = (await this.read(1))[0]!;
    const types = [...(await this.read(count))];
    if (!types.includes(1)) throw new Error(`security None not offered (${types.join(',')})`);
    this.send(Buffer.from([1]));
    if ((await this.read(4)).readUInt32BE(0) !== 0) throw new Error('security result not OK');
    this.send(Buffer.from([1])); // shared
    const init = await this.read(24);
    this.width = init.readUInt16BE(0);
    this.height = init.readUInt16BE(2);
    this.name = (await this.read(init.readUInt32BE(20))).toString('utf8');
    this.pixels = Buffer.alloc(this.width * this.height * 4);
    // 32 bpp, depth 24, little-endian, true colour: blue at shift 0, green 8, red 16.
    const pf = Buffer.alloc(20);
    pf[0] = 0;
    pf.set([32, 24, 0, 1], 4);
    pf.writeUInt16BE(255, 8);
    pf.writeUInt16BE(255, 10);
    pf.writeUInt16BE(255, 12);
    pf.set([16, 8, 0], 14);
    this.send(pf);
    const encs = [encodings.raw, encodings.copyRect, encodings.desktopSize];
    const se = Buffer.alloc(4 + 4 * encs.length);
    se[0] = 2;
    se.writeUInt16BE(encs.length, 2);
    for (const [i, e] of encs.entries()) se.writeInt32BE(e, 4 + 4 * i);
    this.send(se);
  }

  /** Asks for an update (incremental or whole) and reads server messages until one framebuffer update is complete. */
  async update(incremental = false, timeoutMs = 15_000): Promise<void> {
    const req = Buffer.alloc(10);
    req[0] = 3;
    req[1] = incremental ? 1 : 0;
    req.writeUInt16BE(this.width, 6);
    req.writeUInt16BE(this.height, 8);
    this.send(req);
    for (;;) {
      const type = (await this.read(1, timeoutMs))[0];
      if (type === 0) return this.readFramebufferUpdate(timeoutMs);
      if (type === 2) continue; // bell
      if (type === 3) {
        const head = await this.read(7, timeoutMs);
        this.cutTexts.push((await this.read(head.readUInt32BE(3), timeoutMs)).toString('latin1')); // the desktop's clipboard
        continue;
      }
      throw new Error(`unexpected server message ${type}`);
    }
  }

  private async readFramebufferUpdate(timeoutMs: number): Promise<void> {
    const head = await this.read(3, timeoutMs);
    const rects = head.readUInt16BE(1);
    for (let i = 0; i < rects; i++) {
      const r = await this.read(12, timeoutMs);
      const x = r.readUInt16BE(0);
      const y = r.readUInt16BE(2);
      const w = r.readUInt16BE(4);
      const h = r.readUInt16BE(6);
      const enc = r.readInt32BE(8);
      if (enc === encodings.raw) {
        const data = await this.read(w * h * 4, timeoutMs);
        for (let row = 0; row < h; row++) data.copy(this.pixels, ((y + row) * this.width + x) * 4, row * w * 4, (row + 1) * w * 4);
      } else if (enc === encodings.copyRect) {
        const src = await this.read(4, timeoutMs);
        const sx = src.readUInt16BE(0);
        const sy = src.readUInt16BE(2);
        const copy = Buffer.alloc(w * h * 4);
        for (let row = 0; row < h; row++) this.pixels.copy(copy, row * w * 4, ((sy + row) * this.width + sx) * 4, ((sy + row) * this.width + sx + w) * 4);
        for (let row = 0; row < h; row++) copy.copy(this.pixels, ((y + row) * this.width + x) * 4, row * w * 4, (row + 1) * w * 4);
      } else if (enc === encodings.desktopSize) {
        this.width = w;
        this.height = h;
        this.pixels = Buffer.alloc(w * h * 4);
      } else {
        throw new Error(`unexpected encoding ${enc}`);
      }
    }
    this.updates++;
  }

  /** How many distinct colours the framebuffer holds (a blank or black screen has one or two). */
  distinctColours(limit = 10_000): number {
    const seen = new Set<number>();
    for (let i = 0; i < this.pixels.length && seen.size < limit; i += 4) seen.add(this.pixels.readUInt32LE(i) & 0xffffff);
    return seen.size;
  }

  key(keysym: number, down: boolean): void {
    const b = Buffer.alloc(8);
    b[0] = 4;
    b[1] = down ? 1 : 0;
    b.writeUInt32BE(keysym, 4);
    this.send(b);
  }

  /** Types text as key presses (Latin-1 keysyms are the code points; others are 0x01000000 + code point). */
  type(text: string): void {
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      const keysym = ch === '\n' ? 0xff0d : cp < 0x100 ? cp : cp === 0x20ac ? 0x20ac : 0x01000000 + cp;
      this.key(keysym, true);
      this.key(keysym, false);
    }
  }

  pointer(x: number, y: number, buttons = 0): void {
    const b = Buffer.alloc(6);
    b[0] = 5;
    b[1] = buttons;
    b.writeUInt16BE(x, 2);
    b.writeUInt16BE(y, 4);
    this.send(b);
  }

  clipboard(text: string): void {
    const data = Buffer.from(text, 'latin1');
    const b = Buffer.alloc(8 + data.length);
    b[0] = 6;
    b.writeInt32BE(data.length, 4);
    data.copy(b, 8);
    this.send(b);
  }

  resize(width: number, height: number): void {
    const b = Buffer.alloc(8 + 16);
    b[0] = 251;
    b.writeUInt16BE(width, 2);
    b.writeUInt16BE(height, 4);
    b[6] = 1;
    b.writeUInt16BE(width, 8 + 8);
    b.writeUInt16BE(height, 8 + 10);
    this.send(b);
  }

  /** Raw bytes, as a hostile client might send. */
  sendRaw(b: Buffer): void {
    this.send(b);
  }

  closed(): Promise<void> {
    return this.closedPromise;
  }

  close(): void {
    this.ws.close();
  }
}
