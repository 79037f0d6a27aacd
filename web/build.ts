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
 * The pages. `html` is where the page lands in web/dist, `url` the folder src/http
 * serves it at (under /winux/): share.html and view.html sit flat in web/dist but are
 * served at /winux/share/ and /winux/view/, so they name their files as ../share.js etc.
 * `body` is the page's own markup under web/pages/; the shell around it (the head, the
 * live regions every page announces through) is written once, in pageShell().
 * The two viewers are one markup with another entry module.
 */
interface Page {
  html: string;
  url: string;
  body: string;
  entry: string;
  script: string;
  styles: string[];
  title: string;
  description?: string;
  /** Pages with a secret in their address or no public content: not indexed, no Referer sent on. */
  private?: 'noindex' | 'noindex, no-referrer';
  bodyClass?: string;
  /**
   * The page shows a desktop: its head names noVNC's chunk as a modulepreload, so the
   * browser fetches and compiles it while the page loads, off the main thread, instead
   * of at the click that opens the desktop (0.1–0.25 s of the warm "click → first
   * frame" on a 2-core host, bench/README.md).
   */
  desktop?: boolean;
}
const viewer: Pick<Page, 'body' | 'styles' | 'title' | 'private' | 'bodyClass' | 'desktop'> = {
  body: 'viewer.html',
  styles: ['winux.css', 'desktop.css'],
  title: 'Winux',
  private: 'noindex, no-referrer',
  bodyClass: 'desktop-open',
  desktop: true,
};
const pages: Page[] = [
  {
    html: 'index.html',
    url: '',
    body: 'visitor.html',
    entry: 'src/winux/main.ts',
    script: 'winux.js',
    styles: ['winux.css', 'desktop.css'],
    title: 'Winux — un bureau Linux en un clic',
    description: 'Un bureau Linux XFCE temporaire, isolé et accessible par RDP, en un clic.',
    desktop: true,
  },
  { ...viewer, html: 'share.html', url: 'share', entry: 'src/share/main.ts', script: 'share.js' },
  { ...viewer, html: 'view.html', url: 'view', entry: 'src/view/main.ts', script: 'view.js' },
  {
    html: 'admin/index.html',
    url: 'admin',
    body: 'admin.html',
    entry: 'src/admin/main.ts',
    script: 'admin/admin.js',
    styles: ['admin/admin.css'],
    title: "Winux — console d'administration",
    private: 'noindex',
  },
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
  // lands in a chunk of its own, which the pages import() when they connect. The pages
  // that show a desktop also name it as a modulepreload (pageShell): it is fetched
  // beside the page's own script, which stays small and draws the page without
  // waiting for it. noVNC 1.7 uses top-level await: es2022 output.
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
    metafile: true,
  });
  // The chunk that holds noVNC: pages that show a desktop name it in their head (see pageShell).
  const noVncChunk = Object.entries(js.metafile.outputs).find(
    ([file, o]) => file.endsWith('.js') && Object.keys(o.inputs).some((input) => input.includes('node_modules/@novnc/novnc/')),
  )?.[0];
  if (!noVncChunk) throw new Error('web build: no chunk holds noVNC');
  for (const f of js.outputFiles) out.set(path.relative(distDir, f.path), Buffer.from(f.contents));
  for (const style of new Set(pages.flatMap((p) => p.styles))) {
    const css = await esbuild.transform(fs.readFileSync(path.join(webDir, style), 'utf8'), { loader: 'css', minify: true, target: 'chrome100' });
    out.set(style, Buffer.from(css.code));
  }
  for (const page of pages) {
    // Cache busting: the HTML is revalidated on every load, the files it names carry their content's hash.
    const hashed = (file: string) => `${href(page, file)}?v=${createHash('sha256').update(out.get(file)!).digest('base64url').slice(0, 10)}`;
    out.set(page.html, Buffer.from(pageShell(page, hashed, path.relative(distDir, path.resolve(noVncChunk)))));
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

/** A file of web/dist as the page names it: relative to the folder the page is served at. */
function href(page: Page, file: string): string {
  return path.posix.relative(page.url, file);
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The one page shell: the head every page shares, its own markup, the live regions of web/src/shared/dom.ts. */
function pageShell(page: Page, hashed: (file: string) => string, noVncChunk: string): string {
  const body = fs.readFileSync(path.join(webDir, 'pages', page.body), 'utf8').replace(/^<!--[\s\S]*?-->\n/, '');
  const head = [
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    ...(page.description ? [`<meta name="description" content="${escapeHtml(page.description)}">`] : []),
    ...(page.private?.includes('no-referrer') ? ['<meta name="referrer" content="no-referrer">'] : []),
    ...(page.private ? ['<meta name="robots" content="noindex">'] : []),
    `<title>${escapeHtml(page.title)}</title>`,
    `<link rel="icon" href="${href(page, 'favicon.svg')}" type="image/svg+xml">`,
    ...page.styles.map((file) => `<link rel="stylesheet" href="${hashed(file)}">`),
    `<script type="module" src="${hashed(page.script)}"></script>`,
    // Named as the page's import() names it (no ?v=: the chunk's name is its hash), so the module map reuses it.
    ...(page.desktop ? [`<link rel="modulepreload" href="${href(page, noVncChunk)}">`] : []),
  ];
  return [
    '<!doctype html>',
    '<html lang="fr">',
    '<head>',
    ...head,
    '</head>',
    page.bodyClass ? `<body class="${page.bodyClass}">` : '<body>',
    `${body}<div id="announcer" class="sr-only" aria-live="polite" aria-atomic="true"></div>`,
    '<div id="alerter" class="sr-only" aria-live="assertive" aria-atomic="true"></div>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
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
