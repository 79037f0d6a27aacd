// Builds the pages into web/dist (not committed) with esbuild: each page's
// TypeScript bundled and minified into one ES module, its CSS minified, its HTML
// pointing at them with a content hash (`winux.js?v=…`), the SVGs copied, and a
// brotli and a gzip copy of every text file for @fastify/static's preCompressed.
//
//   node --import tsx web/build.ts            build now
//   node --import tsx web/build.ts --if-stale build only when a source is newer than the last build
//
// `npm start` and `npm test` run it (scripts/ensure-deps.sh); the server builds
// too when web/dist is missing or stale (ensureWebBuilt).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';

export const webDir = import.meta.dirname;
export const distDir = path.join(webDir, 'dist');
/** Written last: a build is complete when it exists, and fresh when no source is newer. */
const stampFile = path.join(distDir, '.built');

/**
 * The pages: an HTML file, its entry module and its style sheets (paths under web/
 * and web/dist alike). share.html and view.html sit flat in web/dist; src/http
 * serves them at /winux/share/ and /winux/view/ (they name their files as
 * ../share.js etc.). The admin console lives in admin/, served at /winux/admin/.
 */
const pages = [
  { html: 'index.html', entry: 'src/winux/main.ts', script: 'winux.js', styles: ['winux.css', 'desktop.css'] },
  { html: 'share.html', entry: 'src/share/main.ts', script: 'share.js', styles: ['winux.css', 'desktop.css'] },
  { html: 'view.html', entry: 'src/view/main.ts', script: 'view.js', styles: ['winux.css', 'desktop.css'] },
  { html: 'admin/index.html', entry: 'src/admin/main.ts', script: 'admin/admin.js', styles: ['admin/admin.css'] },
];
/** Folders of web/dist a page lives in (kept by the clean-up of stale files). */
const pageDirs = ['admin'];
const copied = /\.svg$/;
const compressible = /\.(html|js|css|svg)$/;

export interface BuildResult {
  ms: number;
  files: Record<string, number>;
}

export async function buildWeb(): Promise<BuildResult> {
  const started = performance.now();
  const esbuild = await import('esbuild');
  const out = new Map<string, Buffer>();
  // One build for every page, split: noVNC (large, and only needed once a desktop opens)
  // lands in a chunk the pages load with import() when they connect, so the visitor
  // page's first load stays small. noVNC 1.7 uses top-level await: es2022 output.
  const js = await esbuild.build({
    entryPoints: Object.fromEntries(pages.map((p) => [p.script.replace(/\.js$/, ''), path.join(webDir, p.entry)])),
    bundle: true,
    splitting: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    sourcemap: 'linked',
    outdir: distDir,
    entryNames: '[dir]/[name]',
    chunkNames: 'chunk-[hash]',
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  for (const f of js.outputFiles) out.set(path.relative(distDir, f.path), Buffer.from(f.contents));
  for (const style of new Set(pages.flatMap((p) => p.styles))) {
    const css = await esbuild.transform(fs.readFileSync(path.join(webDir, style), 'utf8'), { loader: 'css', minify: true, target: 'chrome100' });
    out.set(style, Buffer.from(css.code));
  }
  for (const page of pages) {
    // Cache busting: the HTML is revalidated on every load, the files it names carry their content's hash.
    let html = fs.readFileSync(path.join(webDir, page.html), 'utf8');
    for (const file of [page.script, ...page.styles]) {
      const hash = createHash('sha256').update(out.get(file)!).digest('base64url').slice(0, 10);
      // The HTML names its files relative to itself.
      const name = path.relative(path.dirname(page.html), file);
      const before = html;
      html = html.replace(new RegExp(`(src|href)="((?:\\.\\./)?)${name.replace('.', '\\.')}"`), `$1="$2${name}?v=${hash}"`);
      if (html === before) throw new Error(`web/${page.html} does not reference ${name}`);
    }
    out.set(page.html, Buffer.from(html));
  }
  for (const name of fs.readdirSync(webDir)) if (copied.test(name)) out.set(name, fs.readFileSync(path.join(webDir, name)));

  fs.mkdirSync(distDir, { recursive: true });
  const files: Record<string, number> = {};
  for (const [name, body] of out) {
    writeAtomically(name, body);
    files[name] = body.length;
    if (!compressible.test(name)) continue;
    writeAtomically(`${name}.br`, brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length } }));
    writeAtomically(`${name}.gz`, gzipSync(body, { level: 9 }));
  }
  // Files a previous build made that this one did not (a renamed page or asset).
  const keep = new Set([...out.keys()].flatMap((n) => (compressible.test(n) ? [n, `${n}.br`, `${n}.gz`] : [n])));
  for (const dir of ['', ...pageDirs]) {
    for (const entry of fs.readdirSync(path.join(distDir, dir))) {
      const name = path.join(dir, entry);
      if (pageDirs.includes(name) || keep.has(name) || entry.startsWith('.') || entry.endsWith('.tmp')) continue;
      fs.rmSync(path.join(distDir, name), { force: true, recursive: true });
    }
  }
  writeAtomically('.built', Buffer.from(`${new Date().toISOString()}\n`));
  return { ms: performance.now() - started, files };
}

/** Several processes may build at once (test runs side by side): each file is replaced whole. */
function writeAtomically(name: string, body: Buffer): void {
  const file = path.join(distDir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, body);
  fs.renameSync(tmp, file);
}

/** Newest modification time among the build's inputs: web/ (sources, HTML, CSS, SVGs, this script) and the lock file (esbuild's version). */
function newestInput(): number {
  let newest = fs.statSync(path.join(webDir, '..', 'package-lock.json'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'dist' || e.name.startsWith('.')) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(webDir);
  return newest;
}

/** True when web/dist is missing, incomplete, or older than one of its sources. */
export function webIsStale(): boolean {
  const built = fs.statSync(stampFile, { throwIfNoEntry: false });
  return !built || built.mtimeMs < newestInput();
}

/** Builds web/dist when it is missing or stale; says why it could not, naming the command to run. */
export async function ensureWebBuilt(log: (message: string) => void = () => {}): Promise<void> {
  if (!webIsStale()) return;
  try {
    const r = await buildWeb();
    log(`built the pages into web/dist in ${Math.round(r.ms)} ms`);
  } catch (e) {
    throw new Error(
      `The pages in web/dist are missing or out of date and could not be built (${(e as Error).message}). Run \`npm run build:web\` and look at its output.`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  if (process.argv.includes('--if-stale') && !webIsStale()) process.exit(0);
  try {
    const r = await buildWeb();
    const total = Object.values(r.files).reduce((a, b) => a + b, 0);
    console.log(`web/dist built in ${Math.round(r.ms)} ms: ${Object.keys(r.files).length} files, ${total} bytes before compression`);
  } catch (e) {
    console.error(`Building the pages failed: ${(e as Error).message}`);
    process.exit(1);
  }
}
