// winux serve — the composition root: configuration, host preparation (local
// LXC), provider, then the server with graceful shutdown on SIGTERM/SIGINT.
import type { Command } from 'commander';
import type { CliContext } from './main.ts';

export function register(program: Command, ctx: CliContext): void {
  program.command('serve')
    .description('run the Winux server (page, API and background loops)')
    .option('--no-prepare', 'skip host preparation (local LXC: packages, bridge, template)')
    .action(async (opts: { prepare: boolean }) => {
      const config = ctx.config();
      const { createLogger } = await import('../logger.ts');
      const logger = createLogger(config.logLevel);
      if (config.provider === 'lxc' && opts.prepare) {
        const { prepareLxcHost } = await import('../providers/lxc/setup.ts');
        await prepareLxcHost(config, logger, (line: string) => process.stderr.write(`${line}\n`));
      }
      const { createProvider } = await import('../providers/index.ts');
      const provider = await createProvider(config, logger);
      const { startServer } = await import('../server.ts');
      const server = await startServer({ config, provider, logger });
      logger.info({ url: server.url, provider: provider.name }, `Winux is serving: open ${server.url}/winux/`);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down: finishing in-flight work');
        await server.close();
        logger.info('stopped');
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
    });
}
