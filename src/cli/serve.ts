// winux serve — the composition root: configuration, host preparation (local
// LXC), provider, the first-desktop check, then the server with graceful
// shutdown on SIGTERM/SIGINT. This process is the one a supervisor starts and
// signals (systemd runs it directly; `npm start` execs it).
import type { Command } from 'commander';
import type { Config } from '../config.ts';
import type { Provider } from '../core/provider-port.ts';
import type { CliContext } from './main.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('run the Winux server (page, API and background loops)')
    .option('--no-prepare', 'skip host preparation (local LXC: packages, bridge, template)')
    .action(async (opts: { prepare: boolean }) => {
      let config = ctx.config();
      // Bad certificate files stop start-up before minutes of host preparation, not after.
      if (config.tls) (await import('../http/tls.ts')).readTlsPair(config.tls);
      const { createLogger } = await import('../logger.ts');
      const logger = createLogger(config.logLevel);
      if (config.provider === 'lxc' && opts.prepare) {
        const { prepareLxcHost } = await import('../providers/lxc/setup.ts');
        await prepareLxcHost(config, logger, (line: string) => process.stderr.write(`${line}\n`));
      }
      if (config.provider === 'lxc') {
        // The default capacity is what this host holds (memory, disk), not the id range.
        const { withHostCapacity } = await import('../providers/lxc/cgroups.ts');
        config = withHostCapacity(config);
        logger.info({ maxSessions: config.maxSessions }, 'capacity');
      }
      const { createProvider } = await import('../providers/index.ts');
      const provider = await createProvider(config, logger);
      if (config.provider === 'lxc' && opts.prepare) await checkFirstDesktop(config, provider);
      const { startServer } = await import('../server.ts');
      const server = await startServer({ config, provider, logger });
      logger.info({ url: server.url, provider: provider.name }, `Winux is serving: open ${server.url}/winux/`);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down: finishing in-flight work');
        await server.close({ graceMs: 500 });
        logger.info('stopped');
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
    });
}

/** Proves one desktop starts when the template is new to this data dir; later starts skip it. */
async function checkFirstDesktop(config: Config, provider: Provider): Promise<void> {
  const { ensureDataDir } = await import('../admin-token.ts');
  const { templateState } = await import('../providers/lxc/template.ts');
  const { proveFirstDesktop, provenFor } = await import('./first-desktop.ts');
  const { hash } = await templateState(config, config.defaultDesktop);
  if (provenFor(config, provider.name, hash)) return;
  ensureDataDir(config);
  const proof = await proveFirstDesktop(config, provider, hash, (line) => process.stderr.write(`${line}\n`));
  process.stderr.write(`first desktop: works (${proof.seconds.toFixed(1)} s); checked again when the template changes\n`);
}
