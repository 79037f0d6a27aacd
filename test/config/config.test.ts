// Configuration: defaults, the seed's names, and errors that name the variable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.ts';

test('defaults follow DESIGN.md and the seed', () => {
  const c = loadConfig({});
  assert.equal(c.port, 5000);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.provider, 'lxc');
  assert.equal(c.sessionMinutes, 30);
  assert.equal(c.maxSessionMinutes, 240);
  assert.equal(c.containerIdMin, 30001);
  assert.equal(c.containerIdMax, 30999);
  assert.equal(c.maxSessions, 999);
  assert.equal(c.sessionsPerVisitor, 1);
  assert.deepEqual(c.resources, { memoryMb: 1024, cores: 2, diskGb: 10, pidsMax: 2048 });
  assert.match(c.databaseUrl, /^sqlite:.*winux\.db$/);
  assert.equal(c.dataDir, path.resolve('data'), 'a data dir of its own, not /tmp');
  assert.deepEqual(c.allowedNetworks, [], 'sessions reach no local network unless an admin says so');
  assert.deepEqual(loadConfig({ WINUX_ALLOWED_NETWORKS: ' 192.168.10.0/24, 10.1.2.3/32 ' }).allowedNetworks, ['192.168.10.0/24', '10.1.2.3/32']);
});

test("the seed's proxmox_* names select the Proxmox provider; the token id is combined", () => {
  const c = loadConfig({
    proxmox_api_host: 'pve.example',
    proxmox_api_user: 'winux@pve',
    proxmox_api_token_id: 'api',
    proxmox_api_token_secret: 's',
    proxmox_node: 'pve1,pve2',
  });
  assert.equal(c.provider, 'proxmox');
  assert.equal(c.proxmox.tokenId, 'winux@pve!api');
  assert.deepEqual(c.proxmox.nodes, ['pve1', 'pve2']);
  assert.equal(c.proxmox.port, 8006);
  const full = loadConfig({ proxmox_api_host: 'pve', proxmox_api_user: 'root@pam!winux', proxmox_api_token_secret: 's' });
  assert.equal(full.proxmox.tokenId, 'root@pam!winux');
  assert.deepEqual(full.proxmox.nodes, ['auto']);
});

test('bad values name the variable and the expected form, never the value', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ WINUX_PORT: 'abc' }, /WINUX_PORT: expected a whole number between 0 and 65535/],
    [{ WINUX_PORT: '70000' }, /WINUX_PORT/],
    [{ WINUX_SESSION_MINUTES: '-5' }, /WINUX_SESSION_MINUTES/],
    [{ WINUX_PROVIDER: 'docker' }, /WINUX_PROVIDER: expected one of lxc, proxmox, ansible/],
    [{ WINUX_ALLOWED_NETWORKS: '192.168.1.0/24,fileserver' }, /WINUX_ALLOWED_NETWORKS: expected comma-separated IPv4 networks/],
    [{ WINUX_ALLOWED_NETWORKS: '192.168.1.300/24' }, /WINUX_ALLOWED_NETWORKS/],
    [{ WINUX_CONTAINER_ID_MIN: '500', WINUX_CONTAINER_ID_MAX: '400' }, /WINUX_CONTAINER_ID_MIN: expected a value not above WINUX_CONTAINER_ID_MAX/],
    [{ WINUX_SESSION_MINUTES: '300' }, /WINUX_SESSION_MINUTES: expected a value not above WINUX_MAX_SESSION_MINUTES/],
    [{ WINUX_DESKTOP_USER: 'root' }, /WINUX_DESKTOP_USER/],
    [{ WINUX_ADMIN_TOKEN: 'short-secret' }, /WINUX_ADMIN_TOKEN: expected at least 16 characters/],
    [{ WINUX_PROVIDER: 'proxmox' }, /proxmox_api_host/],
    [{ proxmox_api_insecure: 'maybe' }, /proxmox_api_insecure/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => loadConfig(env),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, message);
        assert.ok(!e.message.includes('short-secret'), 'never echoes a value');
        return true;
      },
      JSON.stringify(env),
    );
  }
});

test('winux serve with a bad value stops with the message and exit code 2', () => {
  const bin = path.resolve(import.meta.dirname, '../../bin/winux.js');
  const r = spawnSync(process.execPath, [bin, 'serve'], { env: { ...process.env, WINUX_PORT: 'eighty' }, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /WINUX_PORT: expected a whole number/);
});

test('every variable Winux reads is in the README configuration table', async () => {
  const { configVariables } = await import('../../src/config.ts');
  const fs = await import('node:fs');
  const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const table = readme.split('\n## Configuration')[1]!.split('\n## ')[0]!;
  const rows = table.split('\n').filter((l) => l.startsWith('| `'));
  const named = new Set(rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`([A-Za-z_]+)`/g)].map((m) => m[1]!)));
  // `_MAX`-style suffix rows ("`WINUX_CONTAINER_ID_MIN` / `_MAX`") name their full variable through the prefix.
  for (const row of rows) {
    const cell = row.split('|')[1]!;
    const first = /`(WINUX_[A-Z_]+?)_[A-Z]+`/.exec(cell)?.[1];
    for (const m of cell.matchAll(/`(_[A-Z_]+)`/g)) if (first) named.add(`${first}${m[1]}`);
  }
  const missing = configVariables.filter((v) => !named.has(v));
  assert.deepEqual(missing, [], 'variables read by src/config.ts but not in the README table');
});

test('WINUX_DESKTOPS and WINUX_POOL_SIZES: XFCE alone by default, sizes per desktop, WINUX_POOL_SIZE for the default one', () => {
  const plain = loadConfig({});
  assert.deepEqual(plain.desktops, ['xfce']);
  assert.equal(plain.defaultDesktop, 'xfce');
  assert.deepEqual(plain.pool.sizes, { xfce: 0 });
  const three = loadConfig({ WINUX_DESKTOPS: 'mate, xfce,lxqt', WINUX_POOL_SIZE: '3', WINUX_POOL_SIZES: 'mate:1,lxqt:0' });
  assert.deepEqual(three.desktops, ['mate', 'xfce', 'lxqt']);
  assert.equal(three.defaultDesktop, 'xfce', 'XFCE stays the default when offered');
  assert.deepEqual(three.pool.sizes, { xfce: 3, mate: 1, lxqt: 0 });
  assert.equal(loadConfig({ WINUX_POOL_SIZE: '3', WINUX_POOL_SIZES: 'xfce:2' }).pool.size, 2, 'WINUX_POOL_SIZES wins for XFCE too');
  // Members in English too: a language after the desktop (French is the default, named or not).
  assert.deepEqual(loadConfig({ WINUX_POOL_SIZES: 'xfce/fr:2,xfce/en:1' }).pool.sizes, { xfce: 2, 'xfce/en': 1 });
  const noXfce = loadConfig({ WINUX_DESKTOPS: 'lxqt,mate', WINUX_POOL_SIZE: '1' });
  assert.equal(noXfce.defaultDesktop, 'lxqt');
  assert.deepEqual(noXfce.pool.sizes, { lxqt: 1 });
  for (const [env, message] of [
    [{ WINUX_DESKTOPS: 'xfce,gnome' }, /WINUX_DESKTOPS: expected comma-separated desktops among xfce, mate, lxqt/],
    [{ WINUX_DESKTOPS: ',' }, /WINUX_DESKTOPS/],
    [{ WINUX_POOL_SIZES: 'mate:1' }, /WINUX_POOL_SIZES: expected only desktops enabled by WINUX_DESKTOPS \(xfce\), got mate/],
    [{ WINUX_POOL_SIZES: 'xfce=1' }, /WINUX_POOL_SIZES: expected desktop:size pairs/],
    [{ WINUX_POOL_SIZES: 'xfce:5000' }, /WINUX_POOL_SIZES: expected sizes from 0 to 1000/],
    [{ WINUX_POOL_SIZES: 'xfce/de:1' }, /WINUX_POOL_SIZES: expected desktop:size pairs.*languages fr, en/],
    [{ WINUX_POOL_SIZES: 'mate/en:1' }, /WINUX_POOL_SIZES: expected only desktops enabled by WINUX_DESKTOPS \(xfce\), got mate/],
  ] as const) {
    assert.throws(
      () => loadConfig(env),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
  }
});
