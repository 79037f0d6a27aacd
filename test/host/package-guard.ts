// The package guard: finds every host program and file Winux, its setup, template
// build, tests and benchmarks use, and checks with dpkg that each one belongs to a
// package the project installs (scripts/packages/*.txt), so a package that is only
// installed here by chance (a recommendation, a hand install) fails the suite.
//
// "Belongs" means: owned by a listed package, or by a package a listed one hard-
// depends on (Depends/Pre-Depends, first alternative: what `apt-get install
// --no-install-recommends` of the lists brings on a fresh machine), or by an
// Essential / Priority-required package (on every Debian; read from dpkg, not a
// hand list). A Recommends (lxc → lxc-templates, the round-1 bug) does not count.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { absentOnPurpose, containerPrograms, dynamicCallSites, hostPrograms } from './manifest.ts';

export const root = path.resolve(import.meta.dirname, '../..');

export type Side = 'host' | 'container';
export interface Usage {
  kind: 'program' | 'file';
  /** Program name or absolute path. */
  name: string;
  side: Side;
  /** Where it was found (file:line, or "manifest: why"). */
  where: string[];
  /** Explicit location (manifest), for programs not on the standard PATH. */
  path?: string;
}

// ---------------------------------------------------------------- package lists

export const listFiles = {
  host: 'scripts/packages/host.txt',
  testTools: 'scripts/packages/test-tools.txt',
  testToolsBackports: 'scripts/packages/test-tools-backports.txt',
  ansible: 'scripts/packages/ansible.txt',
  test: 'scripts/packages/test.txt',
  template: 'template/packages.txt',
} as const;

/** Each desktop's own package list (template/desktops/<name>/packages.txt), installed on top of the base one. */
export const desktopListFiles: string[] = fs
  .readdirSync(path.join(root, 'template/desktops'))
  .sort()
  .map((d) => `template/desktops/${d}/packages.txt`);

/** Same rules as the scripts' sed: `#` starts a comment, blank lines skipped. */
export function parseList(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').replace(/\s+/g, ''))
    .filter(Boolean);
}

export function readList(file: string): string[] {
  return parseList(fs.readFileSync(path.join(root, file), 'utf8'));
}

/** The host install lists, by file (what setup-host.sh, install-deps.sh and setup-test-host.sh install). */
export function hostLists(): Map<string, string[]> {
  return new Map([listFiles.host, listFiles.testTools, listFiles.testToolsBackports, listFiles.ansible, listFiles.test].map((f) => [f, readList(f)]));
}

// ---------------------------------------------------------------- scanning

function walk(dir: string, keep: (file: string) => boolean, out: string[] = []): string[] {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'dist' && !e.name.startsWith('.')) walk(p, keep, out);
    } else if (keep(p)) out.push(p);
  }
  return out;
}

class Found {
  readonly usages = new Map<string, Usage>();
  readonly dynamic = new Map<string, string[]>();
  add(kind: Usage['kind'], name: string, side: Side, where: string, explicitPath?: string): void {
    if (absentOnPurpose[name] !== undefined) return;
    const key = `${side}:${kind}:${name}`;
    const u = this.usages.get(key) ?? { kind, name, side, where: [], path: explicitPath };
    if (!u.where.includes(where)) u.where.push(where);
    u.path ??= explicitPath;
    this.usages.set(key, u);
  }
}

const callRe = /(?<![.\w])(?:run|spawn|spawnSync|execFile|execFileSync|execSync|exec)\(\s*(?:'([^']+)'|"([^"]+)"|([^'"\s,()][^,()]*(?:\([^)]*\))?))/g;
const afterDashDash = /'--',\s*(?:'([^']+)'|([^'\s\]][^,\]()]*(?:\([^)]*\))?))/g;
const absPath = /'(\/(?:usr|bin|sbin|lib)\/[^'\s:$]*)'/g;
const lxcInclude = /lxc\.include\s*=\s*(\S+?)['",`]?$/;
const lxcCreateTemplate = /'lxc-create'.*'-t',\s*'([a-z0-9-]+)'/;

/** What scanCode finds in one source text (for tests of the scanner itself). */
export function scanSource(file: string, text: string): { usages: Usage[]; dynamic: string[] } {
  const found = new Found();
  scanCode(found, path.join(root, file), text);
  return { usages: [...found.usages.values()], dynamic: [...found.dynamic.keys()] };
}

/** TypeScript/JavaScript: calls with a literal program, `--` wrappers, lxc-attach, absolute paths, lxc.include. */
function scanCode(found: Found, file: string, text: string): void {
  const rel = path.relative(root, file);
  const physical = text.split('\n');
  // Calls are read on logical lines (a formatted call spans several); files and
  // includes on physical lines. A line belongs to the container side when its
  // logical line runs lxc-attach.
  const containerLine = new Set<number>();
  for (const { line, i, end } of logicalLines(text)) {
    if (line.includes('lxc-attach')) for (let k = i; k <= end; k++) containerLine.add(k);
  }
  for (const { line, i } of logicalLines(text)) {
    const where = `${rel}:${i + 1}`;
    if (line.trim().startsWith('//') || line.trim().startsWith('*')) continue;
    const inContainer = containerLine.has(i);
    for (const m of line.matchAll(callRe)) {
      if (/\bfunction\s+$/.test(line.slice(0, m.index))) continue; // a wrapper's definition, not a call
      const literal = m[1] ?? m[2];
      if (literal !== undefined) found.add('program', literal, 'host', where);
      else {
        const arg = m[3]!.trim();
        if (arg === 'process.execPath') continue; // Node itself: the machine brings it
        const key = `${rel}: ${arg}`;
        found.dynamic.set(key, [...(found.dynamic.get(key) ?? []), where]);
      }
    }
    for (const m of line.matchAll(afterDashDash)) {
      if (m[1] !== undefined) {
        const ours = m[1].startsWith('/usr/local/') && recipePath(m[1]) !== null;
        if (!m[1].startsWith('-')) found.add('program', m[1], inContainer || ours ? 'container' : 'host', where); // `npm start -- --flag`: an argument
      } else {
        const arg = m[2]!.trim();
        if (arg === 'process.execPath') continue;
        const key = `${rel}: ${arg}`;
        found.dynamic.set(key, [...(found.dynamic.get(key) ?? []), where]);
      }
    }
  }
  physical.forEach((line, i) => {
    const where = `${rel}:${i + 1}`;
    const trimmed = line.trim();
    if (trimmed.startsWith('//') || trimmed.startsWith('*')) return;
    const inContainer = containerLine.has(i);
    for (const m of line.matchAll(absPath)) {
      // An absolute path after lxc-attach's `--` is a container program (added above).
      if (inContainer) continue;
      // Our own files in the template (template/files/usr/local/..., a desktop's files/) live in the container.
      if (m[1]!.startsWith('/usr/local/') && recipePath(m[1]!)) found.add('file', m[1]!, 'container', where);
      else found.add('file', m[1]!, 'host', where);
    }
    const inc = lxcInclude.exec(trimmed.replace(/['",`]+$/, ''));
    if (inc) found.add('file', inc[1]!, 'host', where);
    const tpl = lxcCreateTemplate.exec(line);
    if (tpl) found.add('file', `/usr/share/lxc/templates/lxc-${tpl[1]}`, 'host', where);
  });
}

/**
 * Lines joined while a call's parentheses or brackets are open, so a call the
 * formatter spread over several lines (`run('lxc-attach', [\n …, '--', prog])`)
 * is read as one; `i` is the index of its first line. Whole-line comments inside
 * are dropped; braces do not join (a function body stays line by line).
 */
function logicalLines(text: string): Array<{ line: string; i: number; end: number }> {
  const out: Array<{ line: string; i: number; end: number }> = [];
  let current: { line: string; i: number; end: number } | null = null;
  let depth = 0;
  text.split('\n').forEach((raw, i) => {
    if (current && /^\s*(\/\/|\*)/.test(raw)) return;
    const code = raw
      .replace(/'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|`(?:\\.|[^`\\])*`/g, "''")
      .replace(/([=(,:!&|?]\s*)\/(?:\\.|\[(?:\\.|[^\]])*\]|[^/\\\n])+\/[a-z]*/g, '$1/re/') // regex literals
      .replace(/\s\/\/.*$/, '');
    for (const ch of code) {
      if (ch === '(' || ch === '[') depth++;
      else if ((ch === ')' || ch === ']') && depth > 0) depth--;
    }
    // Joined as the code would read on one line: no space after an opening bracket.
    if (current) {
      current.line += /[([]$/.test(current.line) ? raw.trim() : ` ${raw.trim()}`;
      current.end = i;
    } else current = { line: raw, i, end: i };
    // A bracket the rough lexer above misread must not swallow the rest of the file.
    if (depth === 0 || current.end - current.i >= 12) {
      out.push(current);
      current = null;
      depth = 0;
    }
  });
  if (current) out.push(current);
  return out;
}

const shellKeywords = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', 'in', 'esac', 'time', '!', '{', '}', 'function']);
const shellBuiltins = new Set([
  'echo',
  'printf',
  'cd',
  'exit',
  'set',
  'export',
  'read',
  'mapfile',
  'readarray',
  'test',
  '[',
  '[[',
  ']]',
  'true',
  'false',
  'shift',
  'local',
  'return',
  'source',
  '.',
  'eval',
  'trap',
  'wait',
  'kill',
  'command',
  'type',
  'declare',
  'unset',
  'break',
  'continue',
  'getopts',
  'exec',
  'umask',
  'pwd',
  'hash',
  'let',
  ':',
  'readonly',
  'ulimit',
  'builtin',
  'shopt',
]);

/**
 * Replaces quoted text and comments with spaces, keeping `$(…)` inside double quotes
 * as code. The quote marks stay, so a quoted word (`"$real" "$@"`) is still a word,
 * one that cannot be a program name (the scanner skips such commands).
 */
export function shellCode(src: string): string {
  let out = '';
  const stack: Array<'code' | 'sub' | 'paren' | 'dq'> = ['code'];
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    const top = stack[stack.length - 1]!;
    const blank = (s: string) => s.replace(/[^\n]/g, ' ');
    /** Blanks from here to the end of `close` and returns the index of its last character. */
    const blankThrough = (close: string) => {
      const j = src.indexOf(close, i);
      out += blank(src.slice(i, j + close.length));
      return j + close.length - 1;
    };
    // $( opens a command substitution in code and inside double quotes alike (in code, $(( is arithmetic: below).
    if (c === '$' && src[i + 1] === '(' && (top === 'dq' || src[i + 2] !== '(')) {
      stack.push('sub');
      out += ' ;';
      i++;
      continue;
    }
    if (top === 'dq') {
      if (c === '\\') {
        out += '  ';
        i++;
        continue;
      }
      if (c === '"') {
        stack.pop();
        out += '"';
        continue;
      }
      out += c === '\n' ? '\n' : ' ';
      continue;
    }
    if (c === '\\') {
      out += src[i + 1] === '\n' ? '  ' : ' ';
      i++;
      if (src[i] !== '\n') out += ' ';
      continue;
    }
    if (c === "'") {
      const j = src.indexOf("'", i + 1);
      const end = j < 0 ? src.length - 1 : j;
      out += `'${blank(src.slice(i + 1, end))}'`;
      i = end;
      continue;
    }
    if (c === '"') {
      stack.push('dq');
      out += '"';
      continue;
    }
    if (c === '#' && (i === 0 || /[\s;]/.test(src[i - 1]!))) {
      const j = src.indexOf('\n', i);
      i = (j < 0 ? src.length : j) - 1;
      continue;
    }
    if (c === '$' && src.startsWith('((', i + 1)) {
      i = blankThrough('))'); // $(( arithmetic )): no commands
      continue;
    }
    if (c === '$' && src[i + 1] === '{') {
      i = blankThrough('}'); // ${…} is a parameter, not a group
      continue;
    }
    if (c === '(') {
      stack.push('paren');
      out += ';';
      continue;
    }
    if (c === ')') {
      if (stack.length > 1) stack.pop();
      out += ';';
      continue;
    }
    out += c;
  }
  return out;
}

/** First words of the commands of a shell script (heredoc bodies skipped). */
export function shellCommands(src: string): Array<{ word: string; line: number }> {
  const lines = src.split('\n');
  const kept: string[] = [];
  let heredoc: string | null = null;
  let inCase = 0;
  for (const line of lines) {
    if (heredoc !== null) {
      kept.push('');
      if (line.trim() === heredoc) heredoc = null;
      continue;
    }
    const h = /<<-?\s*['"]?([A-Za-z_]\w*)['"]?/.exec(line);
    if (h) heredoc = h[1]!;
    if (/^\s*case\b.*\bin\s*$/.test(line)) inCase++;
    else if (/^\s*esac\b/.test(line)) inCase--;
    // A case pattern (`--check)`, `''|root)`) is not a command.
    kept.push(inCase > 0 ? line.replace(/^\s*\(?[^()]*?\)(?!\))/, '') : line);
  }
  // Redirection targets (`> /etc/default/locale`, `2>/dev/null`, `< file`) are files, not commands.
  const code = shellCode(kept.join('\n')).replace(/\d*(?:>>?|<)&?\s*[^\s;&|]+/g, ' ');
  const functions = new Set([...code.matchAll(/^\s*([A-Za-z_][\w-]*)\s*;\s*;/gm)].map((m) => m[1]!)); // `name() {` after shellCode
  const out: Array<{ word: string; line: number }> = [];
  code.split('\n').forEach((l, i) => {
    for (const seg of l.split(/&&|\|\||[;|&{}`<>]/)) {
      const words = seg.trim().split(/\s+/).filter(Boolean);
      let k = 0;
      for (;;) {
        while (k < words.length && (shellKeywords.has(words[k]!) || /^[A-Za-z_]\w*(\[[^\]]*\])?\+?=/.test(words[k]!) || words[k] === 'exec')) k++;
        // A wrapper that runs the next word (`setsid dbus-launch …`): both are commands.
        if (!prefixWrappers.has(words[k] ?? '')) break;
        out.push({ word: words[k]!, line: i + 1 });
        k++;
      }
      const w = words[k];
      if (!w || ['for', 'case', 'select'].includes(w)) continue;
      if (/^\d/.test(w) || words[k - 1] === 'for') continue;
      if (shellBuiltins.has(w) || functions.has(w)) continue;
      if (/^(?:[A-Za-z][\w.+-]*|\/[\w./+-]+)$/.test(w)) out.push({ word: w, line: i + 1 });
    }
  });
  return out;
}

/** Programs that run the command written after them, with no options in between as used here. */
const prefixWrappers = new Set(['setsid', 'nohup']);

/** The recipe's directories copied over a template's root filesystem: the base's, then each desktop's. */
const recipeFileDirs = ['template/files', ...fs.readdirSync(path.join(root, 'template/desktops')).map((d) => `template/desktops/${d}/files`)];

/** Where the recipe itself ships `name` into a template (template/files/, or a desktop's files/), or null. */
function recipePath(name: string): string | null {
  if (!name.startsWith('/')) return null;
  const dir = recipeFileDirs.find((d) => fs.existsSync(path.join(root, d, name)));
  return dir ? `${dir}${name}` : null;
}

/** Shell files and which side their commands run on. */
function shellFiles(): Array<{ file: string; side: Side }> {
  const isShell = (f: string) => f.endsWith('.sh') || /^#!.*\b(ba)?sh\b/.test(fs.readFileSync(f, 'utf8').split('\n', 1)[0]!);
  const host = [
    ...walk(path.join(root, 'scripts'), (f) => f.endsWith('.sh')),
    ...walk(path.join(root, 'ansible'), (f) => f.endsWith('.sh')),
    path.join(root, 'template/build.sh'),
    ...walk(path.join(root, 'deploy'), (f) => f.endsWith('.sh')),
    ...walk(path.join(root, 'bench'), (f) => f.endsWith('.sh')),
  ];
  const desktops = path.join(root, 'template/desktops');
  const container = [
    path.join(root, 'template/configure.sh'),
    path.join(root, 'template/first-login.sh'),
    ...walk(path.join(root, 'template/files'), isShell),
    ...walk(desktops, (f) => f.endsWith('/configure.sh') || (f.includes('/files/') && isShell(f))),
  ];
  return [...host.map((file) => ({ file, side: 'host' as const })), ...container.map((file) => ({ file, side: 'container' as const }))];
}

export interface Scan {
  usages: Usage[];
  /** Dynamic call sites the manifest does not acknowledge. */
  unknownDynamic: string[];
  /** Manifest entries for dynamic call sites that no longer exist (stale). */
  staleDynamic: string[];
}

export function scan(): Scan {
  const found = new Found();
  const self = new Set([path.join(root, 'test/host')]);
  const code = ['src', 'test', 'bench', 'bin', 'deploy'].flatMap((d) =>
    walk(path.join(root, d), (f) => /\.(ts|js|mjs)$/.test(f) && ![...self].some((s) => f.startsWith(s))),
  );
  for (const f of code) scanCode(found, f, fs.readFileSync(f, 'utf8'));
  // Each desktop's session program, named in its desktop.conf and started by startwm.sh through a variable.
  for (const d of fs.readdirSync(path.join(root, 'template/desktops'))) {
    const conf = path.join(root, 'template/desktops', d, 'files/etc/winux/desktop.conf');
    const m = /^WINUX_DESKTOP_SESSION=(\S+)$/m.exec(fs.existsSync(conf) ? fs.readFileSync(conf, 'utf8') : '');
    if (m && recipePath(m[1]!)) found.add('file', m[1]!, 'container', path.relative(root, conf));
    else if (m) found.add('program', path.basename(m[1]!), 'container', path.relative(root, conf));
  }
  // lxc.include lines anywhere in the recipe, scripts and deploy files too
  for (const f of [
    ...walk(path.join(root, 'template'), () => true),
    ...walk(path.join(root, 'scripts'), () => true),
    ...walk(path.join(root, 'deploy'), () => true),
  ]) {
    fs.readFileSync(f, 'utf8')
      .split('\n')
      .forEach((l, i) => {
        const m = lxcInclude.exec(l.trim());
        if (m) found.add('file', m[1]!, 'host', `${path.relative(root, f)}:${i + 1}`);
      });
  }
  for (const { file, side } of shellFiles()) {
    if (!fs.existsSync(file)) continue;
    for (const { word, line } of shellCommands(fs.readFileSync(file, 'utf8'))) {
      found.add('program', word, side, `${path.relative(root, file)}:${line}`);
    }
  }
  for (const p of hostPrograms) found.add('program', p.name, 'host', `manifest: ${p.why}`, p.path?.());
  const unknownDynamic: string[] = [];
  for (const [key, where] of found.dynamic) {
    const programs = dynamicCallSites[key];
    if (programs === undefined) unknownDynamic.push(`${key} (${where.join(', ')})`);
    else for (const p of programs) if (!hostPrograms.some((h) => h.name === p)) found.add('program', p, 'host', where[0]!);
  }
  const staleDynamic = Object.keys(dynamicCallSites).filter((k) => !found.dynamic.has(k));
  // Files an lxc.include pulls in include others (debian.common.conf → common.conf).
  for (const u of [...found.usages.values()]) followIncludes(found, u);
  return { usages: [...found.usages.values()], unknownDynamic, staleDynamic };
}

function followIncludes(found: Found, u: Usage, depth = 0): void {
  if (u.kind !== 'file' || !u.name.startsWith('/usr/share/lxc/config/') || depth > 5 || !fs.existsSync(u.name) || !fs.statSync(u.name).isFile()) return;
  for (const l of fs.readFileSync(u.name, 'utf8').split('\n')) {
    const m = /^\s*lxc\.(?:include|hook\.[a-z.-]+)\s*=\s*(\/\S+)/.exec(l);
    // A missing include *directory* is allowed by LXC (userns.conf.d/ ships empty, so dpkg has no trace of it).
    if (m && m[1]!.endsWith('/') && !fs.existsSync(m[1]!)) continue;
    if (m && !found.usages.has(`host:file:${m[1]}`)) {
      found.add('file', m[1]!, 'host', `${u.name} (included)`);
      followIncludes(found, found.usages.get(`host:file:${m[1]}`)!, depth + 1);
    }
  }
}

// ---------------------------------------------------------------- dpkg

export interface PackageInfo {
  essential: boolean;
  priority: string;
  installed: boolean;
  deps: string[];
}

export interface Dpkg {
  info: Map<string, PackageInfo>;
  /** dpkg -S for many paths at once: path → owning packages (empty when none). */
  owners(paths: string[]): Map<string, string[]>;
}

/** dpkg's view of this host, or of a root filesystem's database (`admindir`: ROOTFS/var/lib/dpkg). */
export function loadDpkg(admindir?: string): Dpkg {
  const base = admindir ? [`--admindir=${admindir}`] : [];
  const r = spawnSync('dpkg-query', [...base, '-W', '-f=${Package}\t${Essential}\t${Priority}\t${db:Status-Abbrev}\t${Pre-Depends}\t${Depends}\n'], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`dpkg-query failed: ${r.stderr}`);
  const info = new Map<string, PackageInfo>();
  for (const line of r.stdout.split('\n')) {
    const [name, essential, priority, status, pre, deps] = line.split('\t');
    if (!name) continue;
    // The first alternative of each clause: what apt installs when none is present.
    const first = [pre, deps]
      .filter(Boolean)
      .join(', ')
      .split(',')
      .map((c) => c.split('|')[0]!.trim().split(/[\s(]/)[0]!.replace(/:\w+$/, ''))
      .filter(Boolean);
    info.set(name, { essential: essential === 'yes', priority: priority ?? '', installed: (status ?? '').startsWith('ii'), deps: first });
  }
  const cache = new Map<string, string[]>();
  return {
    info,
    owners(paths) {
      const todo = [...new Set(paths)].filter((p) => !cache.has(p));
      if (todo.length) {
        const s = spawnSync('dpkg-query', [...base, '-S', ...todo], { encoding: 'utf8', maxBuffer: 1 << 26 });
        for (const p of todo) cache.set(p, []);
        for (const line of s.stdout.split('\n')) {
          if (!line || line.startsWith('diversion ')) continue;
          const at = line.indexOf(': /');
          if (at < 0) continue;
          const file = line.slice(at + 2);
          if (cache.has(file))
            cache.set(
              file,
              line
                .slice(0, at)
                .split(', ')
                .map((p) => p.replace(/:[\w-]+$/, '')),
            );
        }
      }
      return new Map(paths.map((p) => [p, cache.get(p)!]));
    },
  };
}

/** Every package the lists bring: the listed ones and their hard dependencies, transitively. */
export function closure(listed: Iterable<string>, dpkg: Dpkg): Map<string, string> {
  const via = new Map<string, string>(); // package → the listed package that brings it
  const queue: Array<[string, string]> = [...listed].map((p) => [p, p]);
  while (queue.length) {
    const [p, from] = queue.shift()!;
    if (via.has(p)) continue;
    via.set(p, from);
    const info = dpkg.info.get(p);
    if (info?.installed) for (const d of info.deps) if (dpkg.info.get(d)?.installed && !via.has(d)) queue.push([d, from]);
  }
  return via;
}

const systemDirs = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** With merged /usr, dpkg may know a file under /bin or under /usr/bin: ask for both. */
function aliases(p: string): string[] {
  const m = /^\/usr\/(bin|sbin|lib\w*)\/(.*)$/.exec(p);
  if (m) return [p, `/${m[1]}/${m[2]}`];
  const n = /^\/(bin|sbin|lib\w*)\/(.*)$/.exec(p);
  return n ? [p, `/usr/${n[1]}/${n[2]}`] : [p];
}

/** The program's path on the standard system PATH (never /usr/local or a home directory). */
export function locate(u: Usage): string | null {
  if (u.path) return fs.existsSync(u.path) ? u.path : null;
  if (u.name.startsWith('/')) return fs.existsSync(u.name) ? u.name : null;
  for (const d of systemDirs) {
    const p = path.join(d, u.name);
    try {
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

export interface Verdict {
  usage: Usage;
  ok: boolean;
  /** How it is satisfied, or what is wrong. */
  detail: string;
}

const nodeItself = new Set(['node', 'npm', 'npx', '/usr/bin/node', process.execPath]);

/**
 * Checks host usages against the lists. The symlink chain's first and last files
 * must both be owned (alternatives links in /etc/alternatives are not packaged).
 */
export function checkHost(usages: Usage[], lists: Map<string, string[]>, dpkg: Dpkg): Verdict[] {
  const brought = closure([...lists.values()].flat(), dpkg);
  const listedIn = (pkg: string) => [...lists].filter(([, ps]) => ps.includes(pkg)).map(([f]) => f);
  const hostUsages = usages.filter((u) => u.side === 'host');
  const located = new Map(hostUsages.map((u) => [u, nodeItself.has(u.name) ? null : locate(u)]));
  const chains = new Map<Usage, string[]>();
  for (const [u, p] of located) {
    if (!p) continue;
    const real = fs.realpathSync(p);
    chains.set(u, [...new Set([p, real])]);
  }
  const owners = dpkg.owners([...chains.values()].flat().flatMap(aliases));
  return hostUsages.map((u): Verdict => {
    if (nodeItself.has(u.name)) return { usage: u, ok: true, detail: 'Node.js itself (the machine brings it)' };
    const chain = chains.get(u);
    if (!chain) {
      return {
        usage: u,
        ok: false,
        detail:
          u.kind === 'program'
            ? `not found in ${systemDirs.join(':')}: install its package (and list it in scripts/packages/), or say in test/host/manifest.ts where it lives`
            : 'file not found: install the package that ships it and list it in scripts/packages/',
      };
    }
    const parts: string[] = [];
    let ok = true;
    for (const [i, file] of chain.entries()) {
      const pkgs = [...new Set(aliases(file).flatMap((a) => owners.get(a) ?? []))];
      const isLink = i === 0 && chain.length > 1;
      if (!pkgs.length) {
        if (isLink) continue; // e.g. /usr/bin/convert → /etc/alternatives → the real file, checked next
        ok = false;
        parts.push(`${file} belongs to no Debian package (dpkg -S)`);
        continue;
      }
      const good = pkgs
        .map((pkg) => {
          const info = dpkg.info.get(pkg);
          if (listedIn(pkg).length) return `${pkg} (${listedIn(pkg).join(', ')})`;
          if (info?.essential) return `${pkg} (Essential: yes)`;
          if (info?.priority === 'required') return `${pkg} (Priority: required)`;
          if (brought.has(pkg)) return `${pkg} (hard dependency of listed ${brought.get(pkg)})`;
          return null;
        })
        .filter((x): x is string => x !== null);
      if (good.length) parts.push(`${file}: ${good[0]}`);
      else {
        ok = false;
        parts.push(`${file} is owned by ${pkgs.join(', ')}, which no install list names (nor brings as a hard dependency): add it to scripts/packages/`);
      }
    }
    return { usage: u, ok, detail: parts.join('; ') };
  });
}

/**
 * The template's packages and their hard dependencies, from apt's index (the same
 * Debian 12 the template's debootstrap uses): `apt-cache depends --recurse` without
 * recommends. Empty when apt has no index (the check then says so).
 */
export function templateClosure(templatePackages: string[]): Set<string> {
  const r = spawnSync(
    'apt-cache',
    ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...templatePackages],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  return new Set(
    r.status === 0
      ? r.stdout
          .split('\n')
          .filter((l) => /^[a-z0-9]/.test(l))
          .map((l) => l.trim())
      : [],
  );
}

/** Files the host expects inside the container: shipped by the recipe (template/files/, a desktop's files/). */
function recipeFile(u: Usage): Verdict {
  const shipped = recipePath(u.name);
  return { usage: u, ok: shipped !== null, detail: shipped ? `${shipped} (the recipe)` : `not in template/files: nothing puts ${u.name} into the template` };
}

/** Container usages: each program must be mapped to a package the template installs (or one on every Debian). */
export function checkContainer(usages: Usage[], templatePackages: string[], dpkg: Dpkg, brought = templateClosure(templatePackages)): Verdict[] {
  return usages
    .filter((u) => u.side === 'container')
    .map((u): Verdict => {
      if (u.kind === 'file') return recipeFile(u);
      const name = path.basename(u.name);
      if (recipePath(u.name)) return recipeFile(u);
      const pkg = containerPrograms[name];
      if (!pkg)
        return {
          usage: u,
          ok: false,
          detail: `runs inside the container: add "${name}" to containerPrograms in test/host/manifest.ts with its template package`,
        };
      if (templatePackages.includes(pkg)) return { usage: u, ok: true, detail: `${pkg} (template/packages.txt)` };
      const info = dpkg.info.get(pkg);
      if (info?.essential) return { usage: u, ok: true, detail: `${pkg} (Essential: yes, per this host's dpkg)` };
      if (info?.priority === 'required') return { usage: u, ok: true, detail: `${pkg} (Priority: required, per this host's dpkg)` };
      if (brought.has(pkg)) return { usage: u, ok: true, detail: `${pkg} (hard dependency of template/packages.txt, per apt-cache depends)` };
      return {
        usage: u,
        ok: false,
        detail: `${pkg} is neither in template/packages.txt, nor Essential/required, nor a hard dependency of them${brought.size ? '' : ' (apt has no package index here: apt-get update)'}`,
      };
    });
}

/** containerPrograms entries nothing uses any more (keep the manifest honest). */
export function staleContainerPrograms(usages: Usage[]): string[] {
  const used = new Set(usages.filter((u) => u.side === 'container').map((u) => path.basename(u.name)));
  return Object.keys(containerPrograms).filter((n) => !used.has(n));
}

/** The built template's root filesystem (from its LXC config), or null when there is none yet. */
export function templateRootfs(): string | null {
  const config = path.join(process.env.WINUX_LXC_PATH ?? '/var/lib/lxc', process.env.WINUX_LXC_TEMPLATE ?? 'winux-template', 'config');
  if (!fs.existsSync(config)) return null;
  const m = /^lxc\.rootfs\.path\s*=\s*(?:dir:)?(\S+)/m.exec(fs.readFileSync(config, 'utf8'));
  return m && fs.existsSync(path.join(m[1]!, 'var/lib/dpkg/status')) ? m[1]! : null;
}

/** Follows symlinks inside `rootfs` (absolute links point into it, not to the host). */
function resolveInside(rootfs: string, p: string): string | null {
  for (let hops = 0; hops < 40; hops++) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path.join(rootfs, p));
    } catch {
      return null;
    }
    if (!st.isSymbolicLink()) return p;
    const target = fs.readlinkSync(path.join(rootfs, p));
    p = target.startsWith('/') ? target : path.posix.join(path.posix.dirname(p), target);
  }
  return null;
}

/**
 * Container programs checked against the built template itself: the program exists
 * there, dpkg (the template's database) names its owner, and that owner is the one
 * the manifest says, and a template package, one of their hard dependencies, or
 * Essential/required. Catches a wrong mapping in containerPrograms.
 */
export function checkContainerInRootfs(usages: Usage[], templatePackages: string[], rootfs: string): Verdict[] {
  const db = loadDpkg(path.join(rootfs, 'var/lib/dpkg'));
  const brought = closure(templatePackages, db);
  const programs = usages.filter((u) => u.side === 'container' && u.kind === 'program' && !recipePath(u.name));
  const chains = new Map<Usage, string[]>();
  for (const u of programs) {
    const candidates = u.name.startsWith('/') ? [u.name] : systemDirs.map((d) => `${d}/${u.name}`);
    const first = candidates.find((c) => resolveInside(rootfs, c) !== null && fs.statSync(path.join(rootfs, resolveInside(rootfs, c)!)).isFile());
    if (first) chains.set(u, [...new Set([first, resolveInside(rootfs, first)!])]);
  }
  const owners = db.owners([...chains.values()].flat().flatMap(aliases));
  return programs.map((u): Verdict => {
    const chain = chains.get(u);
    if (!chain) return { usage: u, ok: false, detail: `not found in the template (${rootfs})` };
    const real = chain[chain.length - 1]!;
    const pkgs = [...new Set(aliases(real).flatMap((a) => owners.get(a) ?? []))];
    const expected = containerPrograms[path.basename(u.name)];
    if (!pkgs.length) return { usage: u, ok: false, detail: `${real} belongs to no package in the template` };
    if (expected && !pkgs.includes(expected))
      return { usage: u, ok: false, detail: `${real} is owned by ${pkgs.join(', ')} in the template, not ${expected} as test/host/manifest.ts says` };
    const pkg = pkgs[0]!;
    const info = db.info.get(pkg);
    if (templatePackages.includes(pkg)) return { usage: u, ok: true, detail: `${real}: ${pkg} (template/packages.txt)` };
    if (info?.essential || info?.priority === 'required')
      return { usage: u, ok: true, detail: `${real}: ${pkg} (${info.essential ? 'Essential: yes' : 'Priority: required'})` };
    if (brought.has(pkg)) return { usage: u, ok: true, detail: `${real}: ${pkg} (hard dependency of ${brought.get(pkg)})` };
    return { usage: u, ok: false, detail: `${real}: ${pkg} is not brought by template/packages.txt` };
  });
}
