// winux cleanup — ends every expired session now (the seed's POST /cleanup).
import type { Command } from 'commander';
import type { CliContext } from './main.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('cleanup')
    .description('end every expired session now (talks to a running server)')
    .action(async () => {
      const result = await ctx.client().call('POST', '/cleanup', {});
      ctx.print(ctx.json() ? JSON.stringify(result) : `Ended ${result.destroyed} expired session(s).`);
    });
}
