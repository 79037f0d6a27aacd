// A still picture of a desktop, read over RFB from its VNC server the way a
// viewer would (VNC authentication with the session password, raw 32-bit
// pixels): what `winux template build` shows on the page for each desktop.
// Only what a screenshot needs: full-frame updates in the Raw encoding.
import type { Duplex } from 'node:stream';
import { ByteQueue, handshakeWithDesktop, RfbError } from './rfb.ts';

export interface Frame {
  width: number;
  height: number;
  /** width × height × 3 bytes, RGB, rows top to bottom. */
  rgb: Buffer;
}

const bytesPerPixel = 4;

/** SetPixelFormat (§7.5.1): 32 bits, depth 24, little-endian, true colour, red at bit 16, green 8, blue 0. */
function setPixelFormat(): Buffer {
  const b = Buffer.alloc(20);
  b[0] = 0;
  b[4] = 32;
  b[5] = 24;
  b[6] = 0;
  b[7] = 1;
  b.writeUInt16BE(255, 8);
  b.writeUInt16BE(255, 10);
  b.writeUInt16BE(255, 12);
  b[14] = 16;
  b[15] = 8;
  b[16] = 0;
  return b;
}

/** SetEncodings (§7.5.2): Raw only, so every rectangle is plain pixels. */
function setEncodings(): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 2;
  b.writeUInt16BE(1, 2);
  b.writeInt32BE(0, 4);
  return b;
}

function updateRequest(width: number, height: number): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 3;
  b[1] = 0; // not incremental: the whole screen
  b.writeUInt16BE(width, 6);
  b.writeUInt16BE(height, 8);
  return b;
}

/** Reads one whole frame: sends a full update request and applies the update's rectangles. */
async function readFrame(input: ByteQueue, write: (b: Buffer) => void, width: number, height: number): Promise<Frame> {
  const rgb = Buffer.alloc(width * height * 3);
  write(updateRequest(width, height));
  for (;;) {
    const type = (await input.read(1))[0]!;
    if (type === 2) continue; // Bell
    if (type === 3) {
      // ServerCutText: skip the text.
      const len = (await input.read(7)).readUInt32BE(3);
      await input.read(len);
      continue;
    }
    if (type === 1) {
      // SetColourMapEntries: never sent for true colour; read past it all the same.
      const n = (await input.read(5)).readUInt16BE(3);
      await input.read(n * 6);
      continue;
    }
    if (type !== 0) throw new RfbError(`unexpected server message ${type}`);
    const rects = (await input.read(3)).readUInt16BE(1);
    for (let r = 0; r < rects; r++) {
      const head = await input.read(12);
      const [x, y, w, h] = [head.readUInt16BE(0), head.readUInt16BE(2), head.readUInt16BE(4), head.readUInt16BE(6)];
      const encoding = head.readInt32BE(8);
      if (encoding !== 0) throw new RfbError(`unexpected encoding ${encoding} (only Raw was asked for)`);
      if (x + w > width || y + h > height) throw new RfbError('a rectangle outside the screen');
      const pixels = await input.read(w * h * bytesPerPixel);
      for (let row = 0; row < h; row++) {
        for (let col = 0; col < w; col++) {
          const from = (row * w + col) * bytesPerPixel;
          const to = ((y + row) * width + x + col) * 3;
          rgb[to] = pixels[from + 2]!;
          rgb[to + 1] = pixels[from + 1]!;
          rgb[to + 2] = pixels[from]!;
        }
      }
    }
    return { width, height, rgb };
  }
}

/**
 * Connects through `stream` (the desktop's VNC server) and returns a frame once
 * the screen has settled: two full frames `settleMs` apart that are equal (a
 * panel still drawing its icons changes between them), or the last one at `timeoutMs`.
 */
export async function captureDesktop(stream: Duplex, password: string, options: { settleMs?: number; timeoutMs?: number } = {}): Promise<Frame> {
  const settleMs = options.settleMs ?? 2000;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const input = new ByteQueue();
  stream.on('data', (chunk: Buffer) => input.push(chunk));
  stream.on('error', (err) => input.fail(err));
  stream.on('close', () => input.fail(new RfbError('the desktop closed the connection')));
  const write = (b: Buffer) => void stream.write(b);
  try {
    const init = await handshakeWithDesktop(input, write, password);
    const width = init.readUInt16BE(0);
    const height = init.readUInt16BE(2);
    write(setPixelFormat());
    write(setEncodings());
    let last = await readFrame(input, write, width, height);
    for (;;) {
      await new Promise((r) => setTimeout(r, settleMs));
      const next = await readFrame(input, write, width, height);
      if (next.rgb.equals(last.rgb) || Date.now() > deadline) return next;
      last = next;
    }
  } finally {
    stream.destroy();
  }
}

/** Halves a frame (each output pixel the mean of a 2 × 2 block): a preview for the page at a quarter of the bytes. */
export function halve(frame: Frame): Frame {
  const width = Math.floor(frame.width / 2);
  const height = Math.floor(frame.height / 2);
  const rgb = Buffer.alloc(width * height * 3);
  const at = (x: number, y: number, c: number) => frame.rgb[(y * frame.width + x) * 3 + c]!;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        rgb[(y * width + x) * 3 + c] = (at(2 * x, 2 * y, c) + at(2 * x + 1, 2 * y, c) + at(2 * x, 2 * y + 1, c) + at(2 * x + 1, 2 * y + 1, c) + 2) >> 2;
      }
    }
  }
  return { width, height, rgb };
}
