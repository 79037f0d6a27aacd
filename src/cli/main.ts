// The `winux` command line: one file per command, each loading what it needs
// only when it runs.
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { ApiError, createApiClient } from './api-client.ts';
import { version } from '../version.ts';

export interface CliContext {
  config(): Config;
  client(): ReturnType<typeof createApiClient>;
  json(): boolean;
  print(text: string): void;
}

const commandModules = ['./serve.ts', './sessions.ts', './cleanup.ts', './doctor.ts', './template.ts', './service.ts'];

export async function main(argv: string[]): Promise<void> {
  const program = new Command('winux')
    .description('Winux: temporary Linux desktops on demand')
    .version(version)
    .option('--url <url>', 'server to talk to (default: http://127.0.0.1:$WINUX_PORT)')
    .option('--token <token>', 'admin token (default: the one in the data dir)')
    .option('--json', 'print JSON');
  let config: Config | undefined;
  const ctx: CliContext = {
    config: () => (config ??= loadConfig()),
    client: () => createApiClient(ctx.config(), { url: program.opts().url, token: program.opts().token }),
    json: () => Boolean(program.opts().json),
    print: (text) => process.stdout.write(`${text}\n`),
  };
  for (const file of commandModules) {
    const mod = await import(file).catch((error) => {
      // A command whose module is missing must not take the others down.
      if (error?.code === 'ERR_MODULE_NOT_FOUND') return undefined;
      throw error;
    });
    mod?.register(program, ctx);
  }
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = exitCodeFor(error);
  }
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode;
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    return 2;
  }
  if (error instanceof ApiError) {
    process.stderr.write(`winux: ${error.message}${error.status ? ` (HTTP ${error.status}, ${error.code})` : ''}\n`);
    return 1;
  }
  process.stderr.write(`winux: ${(error as Error)?.message ?? String(error)}\n`);
  return 1;
}
