// The template cache and the `winux template` command, on the real template
// (built by the first LXC test run when missing: /var/cache/winux).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { run } from '../../../src/providers/lxc/exec.ts';
import { recipeHash, templateState } from '../../../src/providers/lxc/template.ts';
import { desktopUser, lxcConfig, prepareHost } from './helpers.ts';

const config = lxcConfig();
const winux = path.resolve(import.meta.dirname, '../../../bin/winux.js');
const exec = promisify(execFile);
const out = mkdtempSync(path.join(os.tmpdir(), 'winux-vztmpl-'));

before(
  async () => {
    await prepareHost(config);
  },
  { timeout: 45 * 60_000 },
);
after(() => {
  rmSync(out, { recursive: true, force: true });
});

test('the recipe hash covers the mirror and the desktop user, so changing them rebuilds', async () => {
  const base = await recipeHash(config);
  assert.match(base, /^[0-9a-f]{16}$/);
  assert.equal(await recipeHash(lxcConfig()), base, 'stable for the same recipe');
  assert.notEqual(await recipeHash(lxcConfig({ WINUX_MIRROR: 'http://mirror.example/debian' })), base);
  assert.notEqual(await recipeHash(lxcConfig({ WINUX_DESKTOP_USER: 'eleve' })), base);
});

test("the XFCE template holds its user's first login (template/first-login.sh) and nothing else of that session", async () => {
  const { rootfs } = await templateState(config);
  const home = path.join(rootfs, 'home', desktopUser);
  const channels = path.join('.config', 'xfce4', 'xfconf', 'xfce-perchannel-xml');
  // What XFCE writes at a first start: the shortcuts copied to the user's own, with the
  // mark that says so (without it every session's start copies them again), the panel's
  // layout migrated from Winux's default.xml (the time left, plugin 23).
  const shortcuts = readFileSync(path.join(home, channels, 'xfce4-keyboard-shortcuts.xml'), 'utf8');
  assert.match(shortcuts, /<property name="custom" type="empty">[\s\S]*<property name="override" type="bool" value="true"\/>/);
  assert.match(readFileSync(path.join(home, channels, 'xfce4-panel.xml'), 'utf8'), /<property name="plugin-23" type="string" value="genmon"\/>/);
  // Nothing of the login's session: no caches, sockets, X or VNC credentials, bus files.
  assert.deepEqual(readdirSync(home).sort(), ['.bash_logout', '.bashrc', '.config', '.profile']);
  assert.deepEqual(readdirSync(path.join(home, '.config')).sort(), ['Thunar', 'xfce4']);
  assert.equal(existsSync(path.join(home, '.config', 'xfce4', 'desktop')), false, "the login's screen-size icon layout");
  // The login ran under a stand-in uid (no host user's): the user's own ids are back, on all its files.
  assert.match(readFileSync(path.join(rootfs, 'etc', 'passwd'), 'utf8'), new RegExp(`^${desktopUser}:x:1000:1000:`, 'm'));
  const owner = statSync(path.join(home, '.bashrc'));
  for (const file of [home, ...readdirSync(home, { recursive: true }).map((f) => path.join(home, String(f)))]) {
    const st = statSync(file);
    assert.deepEqual([st.uid, st.gid], [owner.uid, owner.gid], file);
  }
  // Every clone makes its own machine id at boot: the login's temporary one is gone.
  assert.equal(readFileSync(path.join(rootfs, 'etc', 'machine-id'), 'utf8'), '');
  assert.equal(existsSync(path.join(rootfs, 'tmp', 'winux-first-login')), false);
});

test('`winux template build` on an unchanged recipe does nothing and says so', { timeout: 120_000 }, async () => {
  const { stdout } = await exec(process.execPath, [winux, 'template', 'build'], { env: { ...process.env } });
  assert.match(stdout, /already built for this recipe/);
  assert.match(stdout, /root filesystem .*: \d+ MB/);
  const status = await exec(process.execPath, [winux, 'template', 'status']);
  assert.match(status.stdout, new RegExp(`Template ${(await templateState(config)).hash} installed`));
});

test('`--format proxmox` writes a vztmpl archive of the same root filesystem', { timeout: 300_000 }, async () => {
  const { stdout } = await exec(process.execPath, [winux, 'template', 'build', '--format', 'proxmox', '--output', out]);
  const file = /Proxmox CT template: (\S+)/.exec(stdout)?.[1];
  assert.ok(file, stdout);
  assert.match(path.basename(file!), /^debian-12-winux_[0-9a-f]{16}_amd64\.tar\.zst$/);
  assert.ok(statSync(file!).size > 50e6);
  const { stdout: listing } = await run('tar', ['--use-compress-program=zstd -d', '-tvf', file!], { timeoutMs: 240_000 });
  const names = listing.split('\n');
  assert.ok(
    names.some((l) => l.endsWith(' ./usr/local/sbin/winux-session-init')),
    'no winux-session-init in the archive',
  );
  // Proxmox detects the distribution from these.
  assert.ok(
    names.some((l) => / \.\/etc\/os-release( -> .*)?$/.test(l)),
    'no /etc/os-release',
  );
  assert.ok(
    names.some((l) => l.endsWith(' ./etc/debian_version')),
    'no /etc/debian_version',
  );
  assert.ok(
    names.some((l) => l.startsWith('-') && / (root\/root|0\/0) .* \.\/etc\/passwd$/.test(l)),
    'files are not owned by root as Proxmox expects',
  );
  assert.ok(!names.some((l) => l.endsWith(' ./etc/xrdp/key.pem')), 'a TLS key is baked into the archive');
  assert.ok(!names.some((l) => /^[cb]/.test(l)), 'device nodes in the archive');
});
