// winux sessions list|show|create|delete — through a running server's API.
import type { Command } from 'commander';
import type { CliContext } from './main.ts';
import { minutesLeft, table } from './format.ts';

export function register(program: Command, ctx: CliContext): void {
  const sessions = program.command('sessions').description('list, show, create or end sessions (talks to a running server)');

  sessions
    .command('list')
    .description('live sessions (all of them with --all)')
    .option('--all', 'include ended and failed sessions')
    .option('--pool', "list the warm pool's spare desktops instead")
    .action(async (opts: { all?: boolean; pool?: boolean }) => {
      const client = ctx.client();
      const query = new URLSearchParams();
      if (opts.all) query.set('status', 'all');
      if (opts.pool) query.set('pool', 'true');
      const { sessions: list } = await client.call('GET', `/sessions${query.size ? `?${query}` : ''}`);
      if (ctx.json()) return ctx.print(JSON.stringify(list, null, 2));
      ctx.print(
        table(
          // biome-ignore lint/suspicious/noExplicitAny: sessions as the API answers them (JSON)
          list.map((s: any) => ({
            id: s.session_id,
            status: s.status,
            container: s.container_id,
            address: s.host ? `${s.host}:${s.port}` : null,
            left: s.status === 'ready' || s.status === 'creating' ? minutesLeft(s.remaining_seconds) : null,
            error: s.error,
          })),
          ['id', 'status', 'container', 'address', 'left', 'error'],
        ),
      );
    });

  sessions
    .command('show <id>')
    .description('one session with its credentials')
    .action(async (id: string) => {
      const s = await ctx.client().call('GET', `/sessions/${encodeURIComponent(id)}`);
      ctx.print(JSON.stringify(s, null, 2));
    });

  sessions
    .command('create')
    .description('start a session (as the admin) and print it with its token')
    .option('--minutes <n>', 'lifetime in minutes', (v) => Number(v))
    .option('--wait', 'wait until it is ready (or failed)')
    .action(async (opts: { minutes?: number; wait?: boolean }) => {
      const client = ctx.client();
      let s = await client.call('POST', '/sessions', opts.minutes ? { duration_minutes: opts.minutes } : {});
      const token = s.token;
      while (opts.wait && s.status === 'creating') {
        await new Promise((r) => setTimeout(r, 1000));
        s = { ...(await client.call('GET', `/sessions/${s.session_id}`)), token };
      }
      ctx.print(JSON.stringify(s, null, 2));
    });

  sessions
    .command('delete <id>')
    .alias('end')
    .description('end a session now')
    .action(async (id: string) => {
      const s = await ctx.client().call('DELETE', `/sessions/${encodeURIComponent(id)}`);
      ctx.print(ctx.json() ? JSON.stringify(s, null, 2) : `${s.session_id}: ${s.status}`);
    });
}
