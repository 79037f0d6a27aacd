// The package guard (issue 11): every host program and file Winux, its setup, template
// build, tests and benchmarks use must come from a package the project installs
// (scripts/packages/*.txt), checked with dpkg even where the package is installed by
// chance. Round 1 shipped a container config including lxc-templates' files while
// only lxc (which merely recommends lxc-templates) was listed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import {
  checkContainer,
  checkContainerInRootfs,
  checkHost,
  desktopListFiles,
  hostLists,
  listFiles,
  loadDpkg,
  parseList,
  readList,
  root,
  scan,
  scanSource,
  shellCommands,
  staleContainerPrograms,
  templateClosure,
  templateRootfs,
  type Verdict,
} from './package-guard.ts';

const report = (vs: Verdict[]) =>
  vs.map((v) => `  ${v.usage.side} ${v.usage.kind} ${v.usage.name}: ${v.detail}\n    used at ${v.usage.where.slice(0, 3).join(', ')}`).join('\n');

const dpkg = loadDpkg();
const found = scan();
const lists = hostLists();
/** Every template's packages: the base and each desktop's own (a program may come from any desktop's list). */
const template = [listFiles.template, ...desktopListFiles].flatMap(readList);
/** What the built XFCE template must hold: the base and XFCE's (another desktop's programs are in its own template). */
const onlyOtherDesktops = (u: { where: string[] }) => u.where.every((w) => w.startsWith('template/desktops/') && !w.startsWith('template/desktops/xfce/'));

test('the lists parse the same way in the scripts and here', () => {
  for (const file of [...lists.keys(), listFiles.template, ...desktopListFiles]) {
    const r = spawnSync('bash', ['-c', `sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$1"`, 'bash', file], { cwd: root, encoding: 'utf8' });
    assert.deepEqual(r.stdout.split('\n').filter(Boolean), readList(file), file);
  }
  assert.ok(lists.get(listFiles.host)!.includes('lxc-templates'), 'lxc-templates ships the debian.*.conf every container includes');
  for (const p of ['caddy', 'nginx', 'systemd', 'openssl', 'chromium']) assert.ok(lists.get(listFiles.test)!.includes(p), `${p} in ${listFiles.test}`);
});

test('the scanner finds the usages it must (lxc.include, literal calls, shell commands, lxc-attach)', () => {
  const has = (side: string, kind: string, name: string) => found.usages.some((u) => u.side === side && u.kind === kind && u.name === name);
  assert.ok(has('host', 'file', '/usr/share/lxc/config/debian.common.conf'));
  assert.ok(has('host', 'file', '/usr/share/lxc/config/debian.userns.conf'));
  assert.ok(has('host', 'file', '/usr/share/lxc/config/common.conf'), 'includes of included files are followed');
  assert.ok(has('host', 'program', 'lxc-copy'));
  assert.ok(has('host', 'program', 'debootstrap'), 'template/build.sh is scanned');
  assert.ok(has('host', 'program', 'apt-get'), 'scripts/setup-host.sh is scanned');
  assert.ok(has('container', 'program', '/usr/local/sbin/winux-session-init'), 'lxc-attach commands are container-side');
  assert.ok(has('container', 'program', 'locale-gen'), 'template/configure.sh is container-side');
  assert.ok(!has('host', 'program', 'locale-gen'), 'container commands are not required on the host');
  assert.ok(found.usages.length > 50, `only ${found.usages.length} usages found`);
});

test('the scanner reads a new call, a new include and a dynamic call site', () => {
  const s = scanSource(
    'src/new.ts',
    [
      "await run('brand-new-tool', ['-x']);",
      "const child = spawn(tool, ['--help']);",
      "  'lxc.include = /usr/share/lxc/config/brand-new.conf',",
      "await run('lxc-attach', ['-n', name, '--', 'inside-only']);",
    ].join('\n'),
  );
  assert.ok(s.usages.some((u) => u.name === 'brand-new-tool' && u.side === 'host'));
  assert.ok(s.usages.some((u) => u.name === '/usr/share/lxc/config/brand-new.conf' && u.kind === 'file'));
  assert.ok(s.usages.some((u) => u.name === 'inside-only' && u.side === 'container'));
  assert.deepEqual(s.dynamic, ['src/new.ts: tool']);
  const bad = checkHost(s.usages, lists, dpkg)
    .filter((v) => !v.ok)
    .map((v) => v.usage.name);
  assert.deepEqual(bad.sort(), ['/usr/share/lxc/config/brand-new.conf', 'brand-new-tool']);
  assert.deepEqual(
    checkContainer(s.usages, template, dpkg, new Set())
      .filter((v) => !v.ok)
      .map((v) => v.usage.name),
    ['inside-only'],
  );
});

test('the shell scanner takes commands, not data, patterns, redirections or builtins', () => {
  const words = shellCommands(
    [
      'set -euo pipefail',
      'case "$1" in',
      "  --check|'x y') check=1 ;;",
      'esac',
      'echo "it\'s $(uname -s)" >/dev/null 2>&1 && mkdir -p "$d" || rm -f x',
      'chroot "$r" sh -c \'apt-get update\' # comment: curl',
      'n=$((n + 1)); VAR=1 tar -xf a',
      "cat > /etc/x <<'EOF'",
      'notacommand here',
      'EOF',
      'if ! command -v zstd >/dev/null; then exec unshare -m -- bash "$0"; fi',
      '"/etc/init.d/$svc" stop; "$real" "$@"',
    ].join('\n'),
  ).map((w) => w.word);
  assert.deepEqual(words, ['uname', 'mkdir', 'rm', 'chroot', 'tar', 'cat', 'unshare']);
});

test('the manifest has no unknown or stale entries', () => {
  assert.deepEqual(
    found.unknownDynamic,
    [],
    'call sites whose program is not a literal: list them in dynamicCallSites (test/host/manifest.ts) with the programs they run',
  );
  assert.deepEqual(found.staleDynamic, [], 'dynamicCallSites entries that no longer match the code');
  assert.deepEqual(staleContainerPrograms(found.usages), [], 'containerPrograms entries nothing uses');
});

test('every host program and file comes from a package in scripts/packages/ (dpkg -S)', () => {
  const verdicts = checkHost(found.usages, lists, dpkg);
  const bad = verdicts.filter((v) => !v.ok);
  assert.equal(bad.length, 0, `not covered by the install lists:\n${report(bad)}`);
});

test('every program run inside a container comes from the template packages', () => {
  const verdicts = checkContainer(found.usages, template, dpkg);
  const bad = verdicts.filter((v) => !v.ok);
  assert.equal(bad.length, 0, `not covered by template/packages.txt:\n${report(bad)}`);
});

test('and in the built template itself, each container program is where the manifest says', (t) => {
  const rootfs = templateRootfs();
  if (!rootfs) return t.skip('no template built yet (npm start or the LXC tests build it)');
  const bad = checkContainerInRootfs(
    found.usages.filter((u) => !onlyOtherDesktops(u)),
    template,
    rootfs,
  ).filter((v) => !v.ok);
  assert.equal(bad.length, 0, `in ${rootfs}:\n${report(bad)}`);
});

test('the guard bites: without lxc-templates in the lists, the include files fail (lxc only recommends it)', () => {
  const copy = new Map([...lists].map(([f, ps]) => [f, ps.filter((p) => p !== 'lxc-templates')]));
  const bad = checkHost(found.usages, copy, dpkg).filter((v) => !v.ok);
  const names = bad.map((v) => v.usage.name);
  assert.ok(names.includes('/usr/share/lxc/config/debian.common.conf'), report(bad));
  assert.ok(names.includes('/usr/share/lxc/config/debian.userns.conf'));
  assert.ok(
    bad.every((v) => /lxc-templates/.test(v.detail)),
    report(bad),
  );
  assert.ok(lists.get(listFiles.host)!.includes('lxc'), 'lxc stays listed: its Recommends do not count');
});

test('the guard bites through dependencies: without imagemagick, convert (imagemagick-6.q16) fails', () => {
  const copy = new Map([...lists].map(([f, ps]) => [f, ps.filter((p) => p !== 'imagemagick')]));
  const bad = checkHost(found.usages, copy, dpkg)
    .filter((v) => !v.ok)
    .map((v) => v.usage.name);
  assert.ok(bad.includes('convert') && bad.includes('import'), bad.join(', '));
});

test('the guard bites inside too: without xrdp in template/packages.txt, xrdp-chansrv fails', () => {
  const without = template.filter((p) => p !== 'xrdp');
  const bad = checkContainer(found.usages, without, dpkg)
    .filter((v) => !v.ok)
    .map((v) => v.usage.name);
  assert.ok(bad.includes('xrdp-chansrv'), bad.join(', '));
});

test('exemptions come from dpkg: Essential or Priority required only', () => {
  assert.deepEqual(parseList('a # why\n\n  b\n# c\n'), ['a', 'b']);
  const exempt = checkHost(found.usages, lists, dpkg).filter((v) => /Essential|Priority/.test(v.detail));
  for (const v of exempt) {
    const pkg = /: (\S+) \((Essential|Priority)/.exec(v.detail)![1]!;
    const r = spawnSync('dpkg-query', ['-W', '-f=${Essential} ${Priority}', pkg], { encoding: 'utf8' });
    assert.match(r.stdout, /^yes |required$/, `${pkg}: ${r.stdout}`);
  }
  // systemd is Priority important, not required: it must be (and is) listed for systemd-analyze.
  assert.equal(spawnSync('dpkg-query', ['-W', '-f=${Priority}', 'systemd'], { encoding: 'utf8' }).stdout, 'important');
  assert.ok(templateClosure(template).has('adduser'), 'adduser reaches the template through xrdp');
});
