// The template screenshot's pieces on a real VNC server (TigerVNC's Xtigervnc,
// no LXC): captureDesktop reads what the X display shows (as ImageMagick's
// import reads it from the X server itself), after VNC
// authentication with the password, and refuses a wrong one; encodePng writes
// a file ImageMagick reads back pixel for pixel; halve averages 2 × 2 blocks.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { encodePng } from '../../src/desktop/png.ts';
import { captureDesktop, halve } from '../../src/desktop/snapshot.ts';
import { tempDir } from '../support/server.ts';
import { VncDesktop } from '../support/vnc-desktop.ts';

const password = 'snapshot-secret-1';
let desktop: VncDesktop;
before(async () => {
  desktop = await new VncDesktop().start(password, '320x200');
});
after(async () => {
  await desktop?.stop();
});

test('captureDesktop reads what the X display shows, once it has settled', async () => {
  const frame = await captureDesktop(await desktop.connect(), password, { settleMs: 200 });
  assert.equal(frame.width, 320);
  assert.equal(frame.height, 200);
  // The same screen read straight from the X server (ImageMagick's import), not over RFB.
  const x = spawnSync('import', ['-display', `:${desktop.display}`, '-window', 'root', '-depth', '8', 'rgb:-'], { maxBuffer: 1 << 24 });
  assert.equal(x.status, 0, String(x.stderr));
  assert.equal(x.stdout.length, 320 * 200 * 3);
  // Xvnc draws the pointer into the frames of a client that did not ask for it as a pseudo-encoding: a cursor's worth may differ.
  let differing = 0;
  for (let i = 0; i < x.stdout.length; i += 3) if (x.stdout.compare(frame.rgb, i, i + 3, i, i + 3) !== 0) differing++;
  assert.ok(differing < 320 * 200 * 0.005, `${differing} pixels of the RFB frame differ from the X display`);
  assert.ok(new Set(frame.rgb).size > 1, 'a stippled root, not a blank frame');
});

test('a wrong password gets no frame', async () => {
  await assert.rejects(captureDesktop(await desktop.connect(), 'not-the-password', { settleMs: 200 }), /refused the session password/);
});

test('encodePng writes what ImageMagick reads back; halve averages each 2 × 2 block', () => {
  // 2 × 2: red, green / blue, white.
  const rgb = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
  const file = path.join(tempDir('winux-png-'), 'four.png');
  writeFileSync(file, encodePng(2, 2, rgb));
  const read = spawnSync('convert', [file, '-depth', '8', 'rgb:-']);
  assert.equal(read.status, 0, String(read.stderr));
  assert.deepEqual([...read.stdout], [...rgb]);
  const half = halve({ width: 2, height: 2, rgb });
  assert.equal(half.width, 1);
  assert.deepEqual([...half.rgb], [128, 128, 128]);
  assert.throws(() => encodePng(2, 2, Buffer.alloc(5)), /expected 12 bytes/);
});
