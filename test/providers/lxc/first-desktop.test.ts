// `winux serve` proves one desktop starts before it says it is serving, and
// `winux doctor` makes the same check. Real LXC: the template, a throwaway
// container, its RDP endpoint. The broken case is round 1's fresh-machine bug: a
// template whose LXC config includes a file the host does not have.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { templatePaths, templateState } from '../../../src/providers/lxc/template.ts';
import { spawnWatched } from '../../support/watched-process.ts';
import { lxcConfig, prepareHost } from './helpers.ts';

const run = promisify(execFile);
const bin = path.resolve(import.meta.dirname, '../../../bin/winux.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'winux-first-desktop-'));
// Ids and ports of their own, so nothing here meets another test's containers.
const range = { WINUX_CONTAINER_ID_MIN: '39911', WINUX_CONTAINER_ID_MAX: '39912', WINUX_RDP_PORT_MIN: '39911', WINUX_RDP_PORT_MAX: '39912' };
const brokenTemplate = 'winux-broken-check';

function serve(env: Record<string, string>) {
  const { child, exited, output, waitForOutput } = spawnWatched(process.execPath, [bin, 'serve'], {
    env: { ...process.env, WINUX_PROVIDER: 'lxc', WINUX_HOST: '127.0.0.1', WINUX_PORT: '0', ...range, ...env },
  });
  return {
    exited,
    output,
    /** Resolves once serving, or rejects with the output if the process ended first. */
    serving: () => waitForOutput(/Winux is serving/, 240_000, 'winux serve did not serve'),
    async stop(): Promise<void> {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function sessionContainersLeft(): Promise<string[]> {
  const { stdout } = await run('lxc-ls', ['-1']);
  return stdout.split('\n').filter((n) => /^winux-3991[12]$/.test(n));
}

describe('first desktop check', () => {
  before(async () => {
    await prepareHost(lxcConfig());
  });
  after(async () => {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(path.join('/var/lib/lxc', brokenTemplate), { recursive: true, force: true });
  });

  test('serve starts a test desktop, waits for RDP, removes it, then serves; the next start skips it', { timeout: 300_000 }, async () => {
    const dataDir = path.join(tmp, 'data-ok');
    const first = serve({ WINUX_DATA_DIR: dataDir });
    await first.serving();
    const out = first.output();
    assert.match(out, /first desktop: starting a test desktop \(container 39912\)/);
    assert.match(out, /first desktop: RDP answers on port 39912/);
    assert.ok(out.indexOf('first desktop: works') < out.indexOf('Winux is serving'), 'checked before serving');
    assert.deepEqual(await sessionContainersLeft(), [], 'the test desktop was removed');
    await first.stop();
    const proof = JSON.parse(readFileSync(path.join(dataDir, 'first-desktop.json'), 'utf8'));
    assert.equal(proof.recipe, (await templateState(lxcConfig())).hash);

    const second = serve({ WINUX_DATA_DIR: dataDir });
    await second.serving();
    assert.doesNotMatch(second.output(), /first desktop:/, 'proven for this template already');
    await second.stop();
  });

  test('a template whose LXC config cannot load: serve says what failed and what to do, and does not serve', { timeout: 300_000 }, async () => {
    // The real template's files under another name, with an include the host lacks (as lxc-templates missing was).
    const config = lxcConfig();
    const { hash } = await templateState(config);
    const real = templatePaths(config, hash);
    const dir = path.join('/var/lib/lxc', brokenTemplate);
    mkdirSync(dir, { recursive: true });
    symlinkSync(real.rootfs, path.join(dir, `rootfs-${hash}`));
    writeFileSync(path.join(dir, 'winux-recipe-hash'), `${hash}\n`);
    writeFileSync(
      path.join(dir, 'config'),
      readFileSync(real.config, 'utf8').replace('/usr/share/lxc/config/debian.common.conf', '/usr/share/lxc/config/winux-missing.common.conf'),
    );

    const dataDir = path.join(tmp, 'data-broken');
    const broken = serve({ WINUX_DATA_DIR: dataDir, WINUX_LXC_TEMPLATE: brokenTemplate });
    const code = await broken.exited;
    const out = broken.output();
    assert.equal(code, 1, out);
    assert.match(out, /The first desktop did not start on this host: .*winux-39912/);
    assert.match(out, /winux doctor/);
    assert.match(out, /winux template build --force/);
    assert.doesNotMatch(out, /Winux is serving/);
    assert.equal(existsSync(path.join(dataDir, 'first-desktop.json')), false, 'a failure is not remembered as a success');
    assert.deepEqual(await sessionContainersLeft(), []);

    // doctor (no server running) makes the same check and reports the same failure.
    const doctor = await run(process.execPath, [bin, '--json', 'doctor'], {
      env: { ...process.env, WINUX_PROVIDER: 'lxc', WINUX_PORT: '39913', WINUX_DATA_DIR: dataDir, WINUX_LXC_TEMPLATE: brokenTemplate, ...range },
    }).catch((e) => e);
    const checks = JSON.parse(doctor.stdout);
    const desktop = checks.find((c: { name: string }) => c.name === 'lxc: first desktop');
    assert.equal(desktop.ok, false);
    assert.match(desktop.detail, /did not start/);
    assert.equal(doctor.code, 1);
  });

  test('doctor with no server running starts a test desktop and reports it', { timeout: 300_000 }, async () => {
    const dataDir = path.join(tmp, 'data-doctor');
    const r = await run(process.execPath, [bin, '--json', 'doctor'], {
      env: { ...process.env, WINUX_PROVIDER: 'lxc', WINUX_PORT: '39914', WINUX_DATA_DIR: dataDir, ...range },
    }).catch((e) => e);
    const desktop = JSON.parse(r.stdout).find((c: { name: string }) => c.name === 'lxc: first desktop');
    assert.equal(desktop.ok, true, desktop.detail);
    assert.match(desktop.detail, /answered RDP in \d+\.\d s, then was removed/);
    assert.deepEqual(await sessionContainersLeft(), []);
  });
});
