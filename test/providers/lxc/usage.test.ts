// The LXC provider's usage reader on a real cgroup where a session's would be
// (winux/winux-<id>, cgroups.ts), holding a real busy process — no container, so
// it runs without the LXC lock. provider.test.ts checks the same against a real
// desktop container (under the lock).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { cgroupVersion, sessionCgroupFile } from '../../../src/providers/lxc/cgroups.ts';
import { containerName } from '../../../src/providers/lxc/naming.ts';
import { createUsageReader } from '../../../src/providers/lxc/usage.ts';

// Outside every test file's container id range: no container of that name ever exists.
const id = 39_997;
const name = containerName(id);
const dirs = (cgroupVersion() === 2 ? ['cpu'] : ['cpuacct', 'memory']).map((c) => path.dirname(sessionCgroupFile(name, c, 'x', 'x')));
const procs = [...new Set(dirs)].map((d) => path.join(d, 'cgroup.procs'));
let child: ReturnType<typeof spawn> | undefined;

after(async () => {
  // A cgroup can only be removed once its last process has exited.
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
  for (const d of new Set(dirs)) if (existsSync(d)) rmdirSync(d);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The process's own CPU time (utime + stime, /proc/<pid>/stat), in seconds (USER_HZ is 100 on Linux). */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

test("CPU from the growth of the cgroup's CPU time, memory from its usage; an unknown container is left out", { timeout: 60_000 }, async () => {
  for (const d of new Set(dirs)) mkdirSync(d, { recursive: true });
  // A process that first holds 64 MiB, then spins.
  child = spawn(
    process.execPath,
    ['-e', 'const b = Buffer.alloc(64 * 2 ** 20, 1); setInterval(() => b[0]++, 1000); process.stdin.once("data", () => { for (;;) b[1]++; });'],
    {
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  for (const f of procs) writeFileSync(f, String(child.pid));
  await sleep(500);
  const usage = createUsageReader();
  const first = await usage([{ containerId: id }, { containerId: id + 1 }]);
  assert.equal(first.has(id + 1), false);
  assert.equal(first.get(id)!.cpuPercent, null, 'no rate from one sample');
  assert.ok(first.get(id)!.memoryBytes > 60 * 2 ** 20, `the 64 MiB held (${first.get(id)!.memoryBytes})`);
  await sleep(1500);
  const quiet = (await usage([{ containerId: id }])).get(id)!.cpuPercent!;
  child.stdin!.write('go\n');
  await sleep(500);
  // The busy figure must match what the kernel counts for the process itself over the
  // same interval (on a loaded machine a spinning process may get less than a core).
  await usage([{ containerId: id }]);
  const from = { cpu: cpuSeconds(child.pid!), at: performance.now() };
  await sleep(2500);
  const busy = (await usage([{ containerId: id }])).get(id)!.cpuPercent!;
  const own = ((cpuSeconds(child.pid!) - from.cpu) / ((performance.now() - from.at) / 1000)) * 100;
  assert.ok(quiet < 10, `idle: ${quiet} %`);
  assert.ok(busy > quiet + 15, `spinning shows (idle ${quiet} %, spinning ${busy} %)`);
  assert.ok(Math.abs(busy - own) < 12, `the cgroup's figure (${busy} %) matches the process's own CPU time (${own.toFixed(1)} %)`);
});
