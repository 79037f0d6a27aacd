// winux doctor — checks the store, the provider, the template and the port, and
// says what to fix for each problem.
import fs from 'node:fs';
import net from 'node:net';
import type { Command } from 'commander';
import type { CliContext } from './main.ts';
import { adminTokenPath, readAdminToken } from '../admin-token.ts';

interface Check { name: string; ok: boolean; detail: string }

export function register(program: Command, ctx: CliContext): void {
  program.command('doctor')
    .description('check the store, provider, template and ports, and say what to fix')
    .action(async () => {
      const config = ctx.config();
      const checks: Check[] = [];
      checks.push(dataDirCheck(config.dataDir));
      checks.push(readAdminToken(config) || config.adminToken
        ? { name: 'admin token', ok: true, detail: config.adminToken ? 'from WINUX_ADMIN_TOKEN' : `in ${adminTokenPath(config)}` }
        : { name: 'admin token', ok: true, detail: 'not generated yet: "winux serve" creates it on first start' });
      checks.push(await storeCheck(config.databaseUrl));
      checks.push(await serverCheck(ctx, config.host, config.port));
      try {
        const { silentLogger } = await import('../logger.ts');
        const { createProvider } = await import('../providers/index.ts');
        const provider = await createProvider(config, silentLogger);
        for (const c of await provider.check()) checks.push({ ...c, name: `${provider.name}: ${c.name}` });
        await provider.close?.();
      } catch (error) {
        checks.push({ name: `provider ${config.provider}`, ok: false, detail: (error as Error).message });
      }
      if (ctx.json()) ctx.print(JSON.stringify(checks, null, 2));
      else for (const c of checks) ctx.print(`${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}`);
      const failed = checks.filter((c) => !c.ok).length;
      if (!ctx.json()) ctx.print(failed ? `\n${failed} problem(s) to fix.` : '\nAll checks passed.');
      process.exitCode = failed ? 1 : 0;
    });
}

function dataDirCheck(dir: string): Check {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.accessSync(dir, fs.constants.W_OK);
    const mode = fs.statSync(dir).mode & 0o777;
    if (mode & 0o077) return { name: 'data dir', ok: false, detail: `${dir} is readable by others (mode ${mode.toString(8)}): run chmod 700 ${dir}` };
    return { name: 'data dir', ok: true, detail: `${dir} (mode 700)` };
  } catch (error) {
    return { name: 'data dir', ok: false, detail: `${dir} is not writable (${(error as Error).message}): set WINUX_DATA_DIR to a writable directory` };
  }
}

async function storeCheck(url: string): Promise<Check> {
  const shown = url.replace(/\/\/[^@/]*@/, '//***@');
  try {
    const { Store } = await import('../store/store.ts');
    const store = await Store.open(url);
    try {
      await store.ping();
      await store.checkWritable(Date.now());
    } finally {
      await store.close();
    }
    return { name: 'store', ok: true, detail: `${shown} opens, is migrated and takes writes` };
  } catch (error) {
    return { name: 'store', ok: false, detail: `${shown}: ${(error as Error).message}: check WINUX_DATABASE_URL` };
  }
}

async function serverCheck(ctx: CliContext, host: string, port: number): Promise<Check> {
  const client = ctx.client();
  try {
    const health = await client.call('GET', '/health');
    const problems = [health.store?.ok === false ? `store: ${health.store.detail}` : '', health.provider?.ok === false ? `provider: ${health.provider.detail}` : ''].filter(Boolean);
    return { name: 'server', ok: health.status === 'ok', detail: `answers at ${client.base}: ${health.status}${problems.length ? ` (${problems.join('; ')})` : ''}` };
  } catch {
    const free = await portFree(host, port);
    return free
      ? { name: 'server', ok: true, detail: `not running; port ${port} is free for "winux serve"` }
      : { name: 'server', ok: false, detail: `port ${port} is taken by another program: stop it or set WINUX_PORT` };
  }
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
