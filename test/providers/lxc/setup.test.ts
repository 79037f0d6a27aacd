// What a person sees when the host cannot run local sessions: a clear message,
// not a stack trace from lxc-start. Checked by really running as another user.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { chmodSync, statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { hostProblems } from '../../../src/providers/lxc/setup.ts';
import { lxcConfig } from './helpers.ts';

// The unprivileged runs below read this checkout as `nobody`. A checkout in a
// private directory (mktemp -d is 0700) is opened for them while the tests run.
const repoRoot = path.resolve(import.meta.dirname, '../../..');
const opened: { dir: string; mode: number }[] = [];
before(() => {
  for (let dir = repoRoot; ; dir = path.dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o005) !== 0o005) {
      opened.push({ dir, mode });
      chmodSync(dir, mode | 0o005);
    }
    if (dir === path.dirname(dir)) break;
  }
});
after(() => {
  for (const { dir, mode } of opened) chmodSync(dir, mode);
});

const exec = promisify(execFile);
const setup = path.resolve(import.meta.dirname, '../../../src/providers/lxc/setup.ts');

test('as root on this Linux host there is nothing in the way', () => {
  assert.equal(process.getuid?.(), 0, 'the LXC tests run as root');
  assert.deepEqual(hostProblems(), []);
});

test('not root: the message says root is needed and what to do instead', { timeout: 60_000 }, async () => {
  const script = `import(${JSON.stringify(setup)}).then((m) => console.log(JSON.stringify(m.hostProblems())))`;
  const { stdout } = await exec(
    'setpriv',
    ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: path.resolve(import.meta.dirname, '../../..') },
  );
  const problems = JSON.parse(stdout.trim().split('\n').pop()!) as string[];
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /needs root/);
  assert.match(problems[0]!, /sudo/);
  assert.match(problems[0]!, /Proxmox/);
});

test('prepareLxcHost refuses early with that message instead of failing half-way', { timeout: 60_000 }, async () => {
  const script = `import(${JSON.stringify(setup)}).then((m) => m.prepareLxcHost(${JSON.stringify(lxcConfig())}, { info() {}, warn() {}, error() {}, child() { return this; } }))
    .then(() => console.log('prepared'), (e) => console.log(e.name + ': ' + e.message))`;
  const { stdout } = await exec(
    'setpriv',
    ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: path.resolve(import.meta.dirname, '../../..') },
  );
  assert.match(stdout, /^HostSetupError: Winux's local provider needs root/m);
});
