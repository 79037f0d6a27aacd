// The local provider's default capacity follows the host: the id range, the
// memory all sessions may use together, and the free disk, whichever is
// smallest. No containers here: the figures come from this host's
// /proc/meminfo and df, and the API shows the result.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfig } from '../../../src/config.ts';
import { hostCapacity, sessionCapacity, withHostCapacity } from '../../../src/providers/lxc/cgroups.ts';
import { startTestServer } from '../../support/server.ts';

const memTotalMb = Math.floor(Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024);
const lxcPath = loadConfig({ WINUX_PROVIDER: 'lxc' }).lxc.path;
/** df's own figure, not the code's statfs. */
function dfFreeGb(dir: string): number {
  const out = execFileSync('df', ['--output=avail', '-B1', dir], { encoding: 'utf8' });
  return Number(out.trim().split('\n').pop()) / 2 ** 30;
}

test('the smallest of ids, memory and disk wins, and says which', () => {
  // The host: 24 GiB, 1 GiB per session, 999 ids.
  const base = { ids: 999, sessionsMemoryMb: Math.floor(24_576 * 0.9), sessionMemoryMb: 1024, diskFreeGb: 500, sessionDiskGb: 10 };
  assert.deepEqual(sessionCapacity(base), { max: 21, by: 'memory' });
  assert.deepEqual(sessionCapacity({ ...base, diskFreeGb: 76 }), { max: 7, by: 'disk' });
  assert.deepEqual(sessionCapacity({ ...base, ids: 5 }), { max: 5, by: 'ids' });
  assert.deepEqual(sessionCapacity({ ...base, sessionsMemoryMb: 512 }), { max: 0, by: 'memory' });
});

test("on this host the default follows its memory and disk, not the id range; an admin's WINUX_MAX_SESSIONS is kept", () => {
  const config = loadConfig({ WINUX_PROVIDER: 'lxc', WINUX_DISK_ESTIMATE_GB: '2' });
  const cap = hostCapacity(config);
  assert.equal(cap.sessionsMemoryMb, Math.floor(memTotalMb * 0.9), 'all sessions together get 90 % of MemTotal');
  assert.ok(Math.abs(cap.diskFreeGb - dfFreeGb(lxcPath)) < 1, `free disk ${cap.diskFreeGb.toFixed(1)} GiB, df says ${dfFreeGb(lxcPath).toFixed(1)}`);
  const expected = Math.min(999, Math.floor((memTotalMb * 0.9) / 1024), Math.floor(dfFreeGb(lxcPath) / 2));
  assert.equal(withHostCapacity(config).maxSessions, expected);
  assert.ok(expected < 999, 'this host holds fewer desktops than the id range');
  assert.equal(withHostCapacity(loadConfig({ WINUX_PROVIDER: 'lxc', WINUX_MAX_SESSIONS: '50' })).maxSessions, 50);
  assert.equal(withHostCapacity(loadConfig({ WINUX_PROVIDER: 'lxc', WINUX_SESSIONS_MEMORY_MB: '4096', WINUX_DISK_ESTIMATE_GB: '1' })).maxSessions, 4);
});

test('the API shows the true number: capacity and free come from the host capacity', async () => {
  const max = withHostCapacity(loadConfig({ WINUX_PROVIDER: 'lxc' })).maxSessions;
  const s = await startTestServer({ config: { maxSessions: max } });
  try {
    // The details of /health are the admin's (issue 14 item 7).
    const res = await s.request('GET', '/api/winux/health', { token: s.adminToken });
    const body = res.body as { capacity: { max: number; free: number } };
    assert.equal(body.capacity.max, max);
    assert.equal(body.capacity.free, max);
  } finally {
    await s.close();
  }
});
