// Each session's own uid range (idmap.ts): derived from the container id alone,
// never shared, inside the space reserved in /etc/subuid, and the template
// rootfs a session's shifted view is made of is never removed as unused.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/logger.ts';
import { sessionIdMap, sessionIdSlots, sessionIdSpace } from '../../../src/providers/lxc/idmap.ts';
import { removeUnusedRootfs } from '../../../src/providers/lxc/template.ts';

const config = loadConfig({});

test('session uid ranges come from the container id alone, never overlap, and stay in the reserved space below 2^31', () => {
  const space = sessionIdSpace();
  assert.ok(space.start >= 1_000_000_000, 'above the ranges useradd hands out');
  assert.ok(space.start + space.count <= 2 ** 31, 'ids stay positive for tools that read them as signed');
  const starts = new Set<number>();
  for (let id = config.containerIdMin; id <= config.containerIdMax; id++) {
    const map = sessionIdMap(config, id);
    assert.equal(map.count, 65_536);
    assert.equal(map.uid, map.gid);
    assert.equal(map.uid % 65_536, space.start % 65_536, 'ranges are aligned, so distinct starts never overlap');
    assert.ok(map.uid >= space.start && map.uid + map.count <= space.start + space.count, `${id}: outside the reserved space`);
    assert.ok(map.uid >= 100_000 + 65_536, "a session's range is not the template's");
    starts.add(map.uid);
  }
  assert.equal(starts.size, config.containerIdMax - config.containerIdMin + 1);
  // A test server with its own id range next to a real one: the same id gets the same range, other ids others.
  const other = loadConfig({ WINUX_CONTAINER_ID_MIN: '30851', WINUX_CONTAINER_ID_MAX: '30856' });
  assert.deepEqual(sessionIdMap(other, 30851), sessionIdMap(config, 30851));
  assert.notDeepEqual(sessionIdMap(other, 30851), sessionIdMap(config, 30001));
});

test('an id range wider than the uid ranges available is refused', () => {
  const wide = loadConfig({ WINUX_CONTAINER_ID_MIN: '100000', WINUX_CONTAINER_ID_MAX: String(100_000 + sessionIdSlots) });
  assert.throws(() => sessionIdMap(wide, 100_000), /WINUX_CONTAINER_ID_MIN\.\.MAX spans more ids than there are session uid ranges/);
});

test("an older template rootfs stays while a session's shifted view is made of it, and goes once no session uses it", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'winux-lxcpath-'));
  try {
    const cfg = loadConfig({ WINUX_LXC_PATH: dir });
    const template = path.join(dir, cfg.lxc.template);
    for (const hash of ['old', 'new']) mkdirSync(path.join(template, `rootfs-${hash}`, 'etc'), { recursive: true });
    const session = path.join(dir, 'winux-30001');
    mkdirSync(session);
    // What cloneFromTemplate writes: the overlay's lower layer is the session's own mount, the rootfs behind it recorded.
    writeFileSync(path.join(session, 'config'), `lxc.rootfs.path = overlay:${session}/lower:${session}/overlay/delta\n`);
    writeFileSync(path.join(session, 'template-rootfs'), `${path.join(template, 'rootfs-old')}\n`);
    await removeUnusedRootfs(cfg, 'new', silentLogger);
    assert.ok(existsSync(path.join(template, 'rootfs-old', 'etc')), "the running session's template files were removed");
    rmSync(session, { recursive: true });
    await removeUnusedRootfs(cfg, 'new', silentLogger);
    assert.equal(existsSync(path.join(template, 'rootfs-old')), false, 'an unused old rootfs is kept');
    assert.ok(existsSync(path.join(template, 'rootfs-new')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
