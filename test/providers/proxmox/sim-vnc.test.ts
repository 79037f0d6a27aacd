// The simulator's VNC server checked against the real one: TigerVNC's Xvnc
// (the CTs' desktop server) must accept exactly the answers the simulator
// accepts. The simulator computes VNC authentication from RFC 6143's words,
// independently of Winux's code; if its DES convention were wrong, the real
// Xvnc would refuse it here, and the Proxmox desktop tests would prove nothing.
// Also compared: the greeting, the security types offered, the refusal text.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { desChallengeAnswer, listenVnc, type VncDesktop } from '../../support/proxmox-sim/vnc-server.ts';
import { waitFor } from '../../support/server.ts';

const password = 'Sim-Vnc-Pw-1';

interface Exchange {
  greeting: string;
  types: number[];
  result: number;
  reason: string;
}

/** Version, security types, VNC authentication with `pw`, SecurityResult (and its reason when refused). */
function authenticate(connect: () => net.Socket, pw: string): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect();
    let buf = Buffer.alloc(0);
    let step = 0;
    const out: Partial<Exchange> = {};
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer (step ${step})`));
    }, 10_000);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out as Exchange);
    };
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (step === 0 && buf.length >= 12) {
          out.greeting = buf.subarray(0, 12).toString('latin1');
          buf = buf.subarray(12);
          socket.write('RFB 003.008\n');
          step = 1;
        } else if (step === 1 && buf.length >= 1 && buf.length >= 1 + buf[0]!) {
          out.types = [...buf.subarray(1, 1 + buf[0]!)];
          buf = buf.subarray(1 + buf[0]!);
          socket.write(Buffer.from([2]));
          step = 2;
        } else if (step === 2 && buf.length >= 16) {
          socket.write(desChallengeAnswer(pw, buf.subarray(0, 16)));
          buf = buf.subarray(16);
          step = 3;
        } else if (step === 3 && buf.length >= 4) {
          out.result = buf.readUInt32BE(0);
          buf = buf.subarray(4);
          if (out.result === 0) {
            out.reason = '';
            return done();
          }
          step = 4;
        } else if (step === 4 && buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
          out.reason = buf.subarray(4, 4 + buf.readUInt32BE(0)).toString('utf8');
          return done();
        } else {
          return;
        }
      }
    });
  });
}

describe("the simulator's VNC server against TigerVNC's Xvnc", () => {
  let dir: string;
  let xvnc: ChildProcess;
  let sock: string;
  let sim: net.Server | null;
  const simDesktop: VncDesktop = {
    vmid: 30700,
    width: 64,
    height: 48,
    password: () => password,
    viewOnlyPassword: () => undefined,
    input: [],
    authFailures: 0,
  };
  const simIp = `127.${64 + Math.floor(Math.random() * 180)}.250.1`;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'winux-sim-vnc-'));
    const hashed = spawnSync('tigervncpasswd', ['-f'], { input: `${password}\n` });
    assert.equal(hashed.status, 0, String(hashed.stderr));
    writeFileSync(path.join(dir, 'passwd'), hashed.stdout, { mode: 0o600 });
    sock = path.join(dir, 'vnc.sock');
    // A display number nobody else on this machine is likely to hold; Xvnc only listens on the Unix socket.
    const display = `:${400 + Math.floor(Math.random() * 500)}`;
    xvnc = spawn(
      'Xtigervnc',
      [
        display,
        '-rfbport',
        '-1',
        '-rfbunixpath',
        sock,
        '-SecurityTypes',
        'VncAuth',
        '-rfbauth',
        path.join(dir, 'passwd'),
        '-nolisten',
        'tcp',
        '-nolisten',
        'unix',
        '-geometry',
        '64x48',
        '-depth',
        '24',
      ],
      { stdio: 'ignore' },
    );
    await waitFor(() => existsSync(sock) || xvnc.exitCode !== null, 10_000, 'Xvnc to listen');
    assert.equal(xvnc.exitCode, null, 'Xvnc started');
    sim = await listenVnc(simIp, 5900, simDesktop, () => true);
    assert.ok(sim, 'the simulated desktop listens');
  });
  after(async () => {
    xvnc?.kill('SIGTERM');
    await new Promise<void>((r) => sim?.close(() => r()) ?? r());
    rmSync(dir, { recursive: true, force: true });
  });

  const real = () => net.connect({ path: sock });
  const simulated = () => net.connect({ host: simIp, port: 5900 });

  it('the right password: both accept the simulator’s DES answer', async () => {
    const r = await authenticate(real, password);
    const s = await authenticate(simulated, password);
    assert.deepEqual(r, { greeting: 'RFB 003.008\n', types: [2], result: 0, reason: '' });
    assert.deepEqual(s, r);
  });

  it('only the first 8 characters count, as in Xvnc', async () => {
    const longer = `${password.slice(0, 8)}-anything-else`;
    assert.equal((await authenticate(real, longer)).result, 0);
    assert.equal((await authenticate(simulated, longer)).result, 0);
  });

  it('a wrong password: both refuse with SecurityResult 1 and the same reason', async () => {
    const r = await authenticate(real, 'Wrong-pw-9');
    const s = await authenticate(simulated, 'Wrong-pw-9');
    assert.equal(r.result, 1);
    assert.deepEqual(s, r);
  });
});
