// winux template build|push|status — the desktop template of the local LXC provider
// (and the same root filesystem as a Proxmox CT template).
import type { Command } from 'commander';
import { defaultDesktop, desktopNames, isDesktopName, type DesktopName } from '../core/desktops.ts';
import type { CliContext } from './main.ts';

const desktopHelp = `which desktop's template: ${desktopNames.join(', ')}`;

function desktopOption(value: string): DesktopName {
  if (!isDesktopName(value)) throw new Error(`--desktop: expected one of ${desktopNames.join(', ')}, got ${value}`);
  return value;
}

/** One line that rewrites itself on a terminal; plain step lines in a log. */
function progressDisplay(tty: boolean) {
  const started = Date.now();
  let step = '';
  let stepStarted = started;
  let lastPlain = 0;
  const elapsed = (from: number) => `${((Date.now() - from) / 1000).toFixed(1)} s`;
  const clear = () => {
    if (tty) process.stderr.write('\r\x1b[2K');
  };
  return {
    update(e: { step: string; detail?: string }) {
      if (e.step !== step) {
        clear();
        if (step) process.stderr.write(`✓ ${step} (${elapsed(stepStarted)})\n`);
        step = e.step;
        stepStarted = Date.now();
        if (!tty) process.stderr.write(`… ${step}\n`);
      }
      if (tty) {
        const width = (process.stderr.columns || 100) - 1;
        const line = `⏳ ${step} ${elapsed(stepStarted)}  ${e.detail ?? ''}`;
        process.stderr.write(`\r\x1b[2K${line.slice(0, width)}`);
      } else if (e.detail && Date.now() - lastPlain > 10_000) {
        lastPlain = Date.now();
        process.stderr.write(`    ${e.detail}\n`);
      }
    },
    end() {
      clear();
      if (step) process.stderr.write(`✓ ${step}\n`);
      process.stderr.write(`total ${elapsed(started)}\n`);
    },
  };
}

export function register(program: Command, ctx: CliContext): void {
  const template = program.command('template').description('the desktop template (local LXC provider, Proxmox CT template)');

  template
    .command('build')
    .description('build the desktop template from template/ (cached: instant when the recipe did not change)')
    .option('--force', 'rebuild from the recipe even if a cached archive exists (downloads stay cached)')
    .option('--format <format>', 'lxc: install the local template container; proxmox: write a vztmpl .tar.zst', 'lxc')
    .option('--output <dir>', 'where --format proxmox writes the archive', '.')
    .option('--desktop <name>', desktopHelp, defaultDesktop)
    .action(async (opts: { force?: boolean; format: string; output: string; desktop: string }) => {
      const desktop = desktopOption(opts.desktop);
      const config = ctx.config();
      const { createLogger } = await import('../logger.ts');
      const logger = createLogger(process.env.WINUX_LOG_LEVEL ?? 'warn');
      const { ensureSubIds, hostProblems } = await import('../providers/lxc/setup.ts');
      const problems = hostProblems();
      if (problems.length) throw new Error(problems.join('\n'));
      // Installing the template shifts its files into root's sub-id range: on a fresh
      // machine (before any "winux serve") that range must be given first.
      if (await ensureSubIds()) logger.info('added root:100000:65536 to /etc/subuid and /etc/subgid');
      const tpl = await import('../providers/lxc/template.ts');
      const display = progressDisplay(Boolean(process.stderr.isTTY));
      if (opts.format === 'proxmox') {
        const file = await tpl.exportProxmoxTemplate(config, logger, opts.output, { force: opts.force, onProgress: display.update, desktop });
        display.end();
        const { statSync } = await import('node:fs');
        const size = statSync(file).size;
        ctx.print(
          ctx.json()
            ? JSON.stringify({ file, bytes: size })
            : `Proxmox CT template: ${file} (${(size / 1e6).toFixed(0)} MB)\nUpload it to a storage's vztmpl/ and set WINUX_PROXMOX_OSTEMPLATE=<storage>:vztmpl/${file.split('/').pop()}`,
        );
        return;
      }
      if (opts.format !== 'lxc') throw new Error(`--format: expected lxc or proxmox, got ${opts.format}`);
      const result = await tpl.ensureTemplate(config, logger, { force: opts.force, onProgress: display.update, desktop });
      // The page's picture of this desktop, from a session of the fresh template (once per recipe).
      display.update({ step: 'screenshot' });
      const { ensureScreenshot } = await import('../providers/lxc/template-screenshot.ts');
      const shot = await ensureScreenshot(config, logger, desktop, { force: opts.force });
      display.end();
      const rootfsBytes = await tpl.rootfsBytes(result.rootfs);
      if (ctx.json()) {
        ctx.print(JSON.stringify({ ...result, rootfsBytes, screenshot: shot.file }));
      } else {
        const what = { nothing: 'already built for this recipe', 'installed-from-cache': 'installed from the cached archive', built: 'built from the recipe' }[
          result.did
        ];
        ctx.print(
          `Template ${result.hash} (${desktop}): ${what} in ${result.seconds.toFixed(1)} s\n  root filesystem ${result.rootfs}: ${(rootfsBytes / 1e6).toFixed(0)} MB\n  archive ${result.archive}: ${(result.archiveBytes / 1e6).toFixed(0)} MB\n  screenshot ${shot.file}${shot.taken ? '' : ' (kept)'}`,
        );
      }
    });

  template
    .command('push <archive>')
    .description('Proxmox: upload a vztmpl archive (from "template build --format proxmox") and make it the CT template tagged winux-template')
    .option('--nodes <list>', 'nodes to install it on (comma-separated), or "all"; default: proxmox_node')
    .option('--storage <id>', 'storage holding vztmpl archives', 'local')
    .option('--desktop <name>', `${desktopHelp} (the archive's; its CT template is tagged winux-template-<name>, winux-template for xfce)`, defaultDesktop)
    .action(async (archive: string, opts: { nodes?: string; storage: string; desktop: string }) => {
      const desktop = desktopOption(opts.desktop);
      const config = ctx.config();
      if (config.provider !== 'proxmox')
        throw new Error('template push needs the Proxmox settings (proxmox_api_host, proxmox_api_user, proxmox_api_token_secret).');
      const { createLogger } = await import('../logger.ts');
      const { pushTemplate } = await import('../providers/proxmox/template-push.ts');
      const nodes = opts.nodes
        ?.split(',')
        .map((n) => n.trim())
        .filter(Boolean);
      const pushed = await pushTemplate(config, createLogger(process.env.WINUX_LOG_LEVEL ?? 'warn'), archive, { nodes, storage: opts.storage, desktop });
      if (ctx.json()) return ctx.print(JSON.stringify(pushed, null, 2));
      for (const t of pushed) {
        ctx.print(`${t.node}: ${desktop} CT template ${t.vmid} from ${t.volid}${t.replaced.length ? ` (replaces ${t.replaced.join(', ')})` : ''}`);
      }
    });

  template
    .command('status')
    .description('is the template for the current recipe built?')
    .option('--desktop <name>', desktopHelp, defaultDesktop)
    .action(async (opts: { desktop: string }) => {
      const config = ctx.config();
      const tpl = await import('../providers/lxc/template.ts');
      const state = await tpl.templateState(config, desktopOption(opts.desktop));
      if (ctx.json()) ctx.print(JSON.stringify(state));
      else
        ctx.print(
          state.installed
            ? `Template ${state.hash} installed (${state.rootfs}).`
            : `Template for recipe ${state.hash} not installed${state.archiveCached ? ' (archive cached: building takes seconds)' : ''}. Run: winux template build`,
        );
      process.exitCode = state.installed ? 0 : 1;
    });
}
