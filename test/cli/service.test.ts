// Running as a service: the shipped systemd unit is valid (systemd-analyze
// verify; PID 1 is not systemd on these machines, so the unit cannot be started
// here), `winux service install` writes it for this checkout, and the process a
// supervisor starts is the one that handles SIGTERM, including under `npm start`.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { renderUnit } from '../../src/cli/service.ts';
import { spawnWatched } from '../support/watched-process.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');
const bin = path.join(root, 'bin', 'winux.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'winux-service-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** systemd-analyze verify reports some mistakes (a bad KillMode) only as a warning: any output is a failure. */
async function verifyUnit(file: string): Promise<string> {
  const r = await run('systemd-analyze', ['verify', file]).catch((e) => e);
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() + (r.code ? ` (exit ${r.code})` : '');
}

describe('systemd unit', () => {
  test('the shipped unit, with this checkout and this node, passes systemd-analyze verify with nothing to say', async () => {
    const file = path.join(tmp, 'winux.service');
    writeFileSync(file, renderUnit());
    assert.equal(await verifyUnit(file), '');
    const unit = readFileSync(file, 'utf8');
    assert.match(unit, new RegExp(`^ExecStart=${process.execPath} ${root}/bin/winux.js serve$`, 'm'), 'node itself, not npm');
    assert.match(unit, /^Environment=WINUX_DATA_DIR=\/var\/lib\/winux$/m);
    assert.match(unit, /^Restart=on-failure$/m);
    assert.match(unit, /^TimeoutStopSec=150s$/m, 'longer than a removal may take (120 s)');
    assert.match(unit, /^KillMode=process$/m, "a restart must not kill the visitors' containers");
  });

  test('the check catches a broken unit (so the test above can fail)', async () => {
    const file = path.join(tmp, 'broken.service');
    writeFileSync(file, renderUnit().replace('KillMode=process', 'KillMode=sometimes'));
    assert.match(await verifyUnit(file), /kill mode/i);
    writeFileSync(file, renderUnit(root, '/usr/bin/no-such-node'));
    assert.match(await verifyUnit(file), /not executable/);
  });

  test('winux service install writes the unit and a private settings file it never overwrites', async () => {
    const unitDir = path.join(tmp, 'units');
    const envDir = path.join(tmp, 'etc-winux');
    const install = () => run(process.execPath, [bin, 'service', 'install', '--unit-dir', unitDir, '--env-dir', envDir, '--no-start']);
    const first = await install();
    assert.match(first.stdout, /wrote .*winux\.service/);
    assert.equal(readFileSync(path.join(unitDir, 'winux.service'), 'utf8'), renderUnit());
    const envFile = path.join(envDir, 'winux.env');
    assert.equal(statSync(envFile).mode & 0o777, 0o600);
    writeFileSync(envFile, 'WINUX_PORT=6000\n');
    const second = await install();
    assert.match(second.stdout, /kept .*winux\.env/);
    assert.equal(readFileSync(envFile, 'utf8'), 'WINUX_PORT=6000\n');
  });
});

describe('signals', () => {
  test('SIGTERM to `npm start` reaches the server, which drains and exits', { timeout: 120_000 }, async (t) => {
    const dataDir = path.join(tmp, 'data');
    // --no-prepare: no host setup or first-desktop check; an id range and ports no other test uses.
    const { child, exited, output, waitForOutput } = spawnWatched('npm', ['start', '--', '--no-prepare'], {
      cwd: root,
      env: {
        ...process.env,
        WINUX_PROVIDER: 'lxc',
        WINUX_DATA_DIR: dataDir,
        WINUX_PORT: '0',
        WINUX_HOST: '127.0.0.1',
        WINUX_LOG_LEVEL: 'info',
        WINUX_CONTAINER_ID_MIN: '39901',
        WINUX_CONTAINER_ID_MAX: '39902',
        WINUX_RDP_PORT_MIN: '39901',
        WINUX_RDP_PORT_MAX: '39902',
      },
    });
    await waitForOutput(/Winux is serving/, 90_000, 'the server did not start');
    const descendants = await descendantsOf(child.pid!);
    assert.ok(descendants.length >= 1, 'npm runs the server');
    t.after(() => {
      for (const pid of [child.pid!, ...descendants]) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
    assert.equal(code, 0, `npm start after SIGTERM: ${code}\n${output()}`);
    assert.match(output(), /shutting down: finishing in-flight work/);
    assert.match(output(), /"msg":"stopped"|stopped/);
    // Every process under npm is gone too (with a shell in between, node would be left running).
    const gone = Date.now() + 15_000;
    while (descendants.some(isAlive)) {
      assert.ok(Date.now() < gone, `processes ${descendants.filter(isAlive).join(', ')} outlived npm`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

test('the server exits on SIGTERM even when nobody reads its output any more (a supervisor or terminal gone)', { timeout: 120_000 }, async (t) => {
  const { child, exited, waitForOutput } = spawnWatched(process.execPath, [bin, 'serve', '--no-prepare'], {
    env: {
      ...process.env,
      WINUX_PROVIDER: 'lxc',
      WINUX_DATA_DIR: path.join(tmp, 'data-epipe'),
      WINUX_PORT: '0',
      WINUX_HOST: '127.0.0.1',
      WINUX_CONTAINER_ID_MIN: '39903',
      WINUX_CONTAINER_ID_MAX: '39904',
      WINUX_RDP_PORT_MIN: '39903',
      WINUX_RDP_PORT_MAX: '39904',
    },
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitForOutput(/Winux is serving/, 90_000, 'the server did not start');
  // Its stdout and stderr now lead nowhere: every log line it writes gets EPIPE.
  child.stdout!.destroy();
  child.stderr!.destroy();
  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
  assert.equal(code, 0, 'it drains and exits instead of retrying its last log line forever');
});

async function descendantsOf(pid: number): Promise<number[]> {
  const { stdout } = await run('pgrep', ['-P', String(pid)]).catch((e) => e);
  const children = String(stdout ?? '')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map(Number);
  return [...children, ...(await Promise.all(children.map(descendantsOf))).flat()];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
