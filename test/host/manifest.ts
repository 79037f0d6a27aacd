// What the scanner in package-guard.ts cannot find by itself, said once, with why.
// Everything else is discovered from the code (calls with a literal program name,
// `lxc.include` lines, absolute /usr paths, commands of the shell scripts).
import fs from 'node:fs';
import path from 'node:path';

/** Newest installed PostgreSQL's bin directory (what test/support/postgres.ts picks). */
function pgBin(program: string): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  return path.join(root, versions[0] ?? 'NOT-INSTALLED', 'bin', program);
}

export interface HostProgram {
  /** A program name (looked up in /usr/sbin, /usr/bin, /sbin, /bin) or an absolute path. */
  name: string;
  /** Where it lives when it is not on the standard PATH. */
  path?: () => string;
  why: string;
}

/** Host programs no literal call names. */
export const hostPrograms: HostProgram[] = [
  { name: 'zstd', why: "tar's --use-compress-program=zstd (template archive; src/providers/lxc/template.ts, tests)" },
  { name: 'bridge', why: "`winux doctor`'s tool check (src/providers/lxc/index.ts) and bridge port isolation" },
  { name: 'newuidmap', why: 'lxc-start / lxc-usernsexec run it for unprivileged containers' },
  { name: 'newgidmap', why: 'lxc-start / lxc-usernsexec run it for unprivileged containers' },
  { name: 'initdb', path: () => pgBin('initdb'), why: 'test/support/postgres.ts and postgres-outage.ts: asPostgres(...) / run(...) via runuser' },
  { name: 'pg_ctl', path: () => pgBin('pg_ctl'), why: 'same: starts and stops the throwaway cluster' },
  { name: 'postgres', path: () => pgBin('postgres'), why: 'the server pg_ctl starts' },
  { name: 'ssh', why: 'ansible connects to Proxmox nodes for `pct exec` (ansible/*.yml)' },
];

/**
 * Call sites whose program is not a string literal. A new one fails the guard until
 * it is listed here with the programs it can run (so nothing is missed silently).
 * Key: `file: first argument` as the scanner prints it.
 */
export const dynamicCallSites: Record<string, string[]> = {
  'src/providers/lxc/exec.ts: file': [], // run() itself: every caller passes a literal, scanned
  'test/providers/ansible/proxmoxer.test.ts: python': ['/usr/bin/python3'],
  'test/support/postgres.ts: path.join(bin, cmd)': ['initdb', 'pg_ctl'],
  "test/support/postgres.ts: path.join(bin, 'pg_ctl')": ['pg_ctl'],
  'test/hardening/support/postgres-outage.ts: path.join(bin, cmd)': ['initdb', 'pg_ctl'],
  "test/hardening/support/postgres-outage.ts: path.join(bin, 'pg_ctl')": ['pg_ctl'],
  'test/providers/lxc/provider.test.ts: ...command': [], // inside the container (lxc-attach): see containerPrograms
  'test/providers/lxc/helpers.ts: ...args': [], // inside the container (lxc-attach)
  'test/deploy/proxies.ts: command': ['caddy', 'nginx'], // its run() wrapper; the callers pass literals, scanned
  'test/support/watched-process.ts: command': ['npm'], // spawnWatched(): test/cli/service.test.ts runs `npm start`; the others run node itself (process.execPath)
  'test/support/vnc-desktop.ts: program': ['xev'], // VncDesktop.client(): X clients on the test desktop
  'test/providers/lxc/helpers.ts: program': ['xfreerdp', 'xfreerdp3'], // startXfreerdp(): FreeRDP 2 or 3
};

/**
 * Programs the host runs *inside* a session or template container (lxc-attach, the
 * template's chroot, the template's own scripts), with the template package that
 * provides them. They must come from template/packages.txt, or from a package that
 * is Essential or Priority required (debootstrap's minbase installs those).
 */
export const containerPrograms: Record<string, string> = {
  // lxc-attach from src/, test/ and bench/
  chpasswd: 'passwd', // container.ts sets the session password
  sh: 'dash',
  systemctl: 'systemd',
  'systemd-analyze': 'systemd', // bench/lxc-phases.ts
  openssl: 'openssl', // the session's TLS key (winux-session-init), certificate checks in tests
  cat: 'coreutils',
  sha256sum: 'coreutils', // winux-session-init derives the view-only VNC password
  timeout: 'coreutils', // test/hardening/isolation.test.ts bounds what a visitor runs
  // template/configure.sh (in the build chroot) and template/files/ (at boot and login)
  'locale-gen': 'locales',
  adduser: 'adduser', // not listed in template/packages.txt: comes as a hard dependency of xrdp
  sed: 'sed',
  grep: 'grep',
  dpkg: 'dpkg',
  'apt-get': 'apt',
  rm: 'coreutils',
  mkdir: 'coreutils',
  ln: 'coreutils',
  basename: 'coreutils',
  id: 'coreutils',
  chown: 'coreutils',
  chmod: 'coreutils',
  install: 'coreutils',
  sleep: 'coreutils',
  useradd: 'passwd',
  passwd: 'passwd',
  hostname: 'hostname',
  xset: 'x11-xserver-utils', // startwm.sh, winux-desktop, first-login.sh
  // template/first-login.sh (in the build chroot): the desktop user's first login
  'dbus-uuidgen': 'dbus-bin',
  pkill: 'procps',
  usermod: 'passwd', // the login's stand-in ids
  groupmod: 'passwd',
  ls: 'coreutils',
  tail: 'coreutils',
  // each desktop's session (template/desktops/<name>/files/etc/winux/desktop.conf) and its configure.sh
  'xfce4-session': 'xfce4-session', // winux-xfce-session
  xrdb: 'x11-xserver-utils', // winux-xfce-session merges XFCE's Xft settings
  'mate-session': 'mate-session-manager',
  startlxqt: 'lxqt-session',
  'glib-compile-schemas': 'libglib2.0-bin',
  gsettings: 'libglib2.0-bin',
  ps: 'procps', // test/providers/lxc/desktops.test.ts: which desktop's programs run
  // the desktop (winux-desktop) and winux-session-init
  Xtigervnc: 'tigervnc-standalone-server',
  tigervncpasswd: 'tigervnc-tools',
  xauth: 'xauth',
  mcookie: 'util-linux',
  'xrdp-chansrv': 'xrdp',
  'dbus-launch': 'dbus-x11',
  getent: 'libc-bin',
  cut: 'coreutils',
  mv: 'coreutils',
  pgrep: 'procps',
  su: 'util-linux', // bench/browser-desktop.ts opens a terminal as the desktop user
  // inside the desktop (issue 16): winux-session-set, winux-timeleft(-notify), winux-files
  setsid: 'util-linux', // winux-desktop: the session in its own process group
  setxkbmap: 'x11-xkb-utils', // the keyboard layout of the visitor's language
  runuser: 'util-linux', // winux-session-set acts as the desktop user
  dirname: 'coreutils',
  mktemp: 'coreutils',
  wc: 'coreutils',
  find: 'findutils',
  zip: 'zip',
  'notify-send': 'libnotify-bin',
};

/** Paths the code names on purpose without using them (tests of what happens when they are missing). */
export const absentOnPurpose: Record<string, string> = {
  '/usr/bin/no-such-node': 'test/cli/service.test.ts: the unit check must fail for a node that does not exist',
  '/usr/share/lxc/config/winux-missing.common.conf': 'test/providers/lxc/first-desktop.test.ts: a template config that cannot load',
};
