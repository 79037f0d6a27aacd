// winux doctor — checks the store, the provider, the template and the port, and
// says what to fix for each problem.
import fs from 'node:fs';
import net from 'node:net';
import type { Command } from 'commander';
import type { Config } from '../config.ts';
import type { Provider } from '../core/provider-port.ts';
import type { CliContext } from './main.ts';
import { adminTokenPath, readAdminToken } from '../admin-token.ts';

interface Check {
  name: string;
  ok: boolean;
  unknown?: boolean;
  detail: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('check the store, provider, template and ports, start a test desktop, and say what to fix')
    .option('--no-desktop', 'skip starting a test desktop (local LXC)')
    .action(async (opts: { desktop: boolean }) => {
      const config = ctx.config();
      const checks: Check[] = [];
      checks.push(dataDirCheck(config.dataDir));
      checks.push(
        readAdminToken(config) || config.adminToken
          ? { name: 'admin token', ok: true, detail: config.adminToken ? 'from WINUX_ADMIN_TOKEN' : `in ${adminTokenPath(config)}` }
          : { name: 'admin token', ok: true, detail: 'not generated yet: "winux serve" creates it on first start' },
      );
      checks.push(await storeCheck(config.databaseUrl));
      const server = await serverCheck(ctx, config.host, config.port);
      checks.push(server.check);
      try {
        const { silentLogger } = await import('../logger.ts');
        const { createProvider } = await import('../providers/index.ts');
        const provider = await createProvider(config, silentLogger);
        const providerChecks = await provider.check();
        for (const c of providerChecks) checks.push({ ...c, name: `${provider.name}: ${c.name}` });
        if (provider.name === 'lxc' && opts.desktop) {
          checks.push(
            await firstDesktopCheck(
              config,
              provider,
              server.running,
              providerChecks.every((c) => c.ok),
            ),
          );
        }
        await provider.close?.();
      } catch (error) {
        checks.push({ name: `provider ${config.provider}`, ok: false, detail: (error as Error).message });
      }
      if (ctx.json()) ctx.print(JSON.stringify(checks, null, 2));
      // '?': the check could not tell (e.g. permissions unreadable): not counted as a problem.
      else for (const c of checks) ctx.print(`${c.ok ? '✓' : c.unknown ? '?' : '✗'} ${c.name}: ${c.detail}`);
      const failed = checks.filter((c) => !c.ok && !c.unknown).length;
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

async function serverCheck(ctx: CliContext, host: string, port: number): Promise<{ check: Check; running: boolean }> {
  const client = ctx.client();
  try {
    const health = await client.call('GET', '/health');
    const problems = [
      health.store?.ok === false ? `store: ${health.store.detail}` : '',
      health.provider?.ok === false ? `provider: ${health.provider.detail}` : '',
    ].filter(Boolean);
    return {
      running: true,
      check: {
        name: 'server',
        ok: health.status === 'ok',
        detail: `answers at ${client.base}: ${health.status}${problems.length ? ` (${problems.join('; ')})` : ''}`,
      },
    };
  } catch {
    const free = await portFree(host, port);
    return {
      running: false,
      check: free
        ? { name: 'server', ok: true, detail: `not running; port ${port} is free for "winux serve"` }
        : { name: 'server', ok: false, detail: `port ${port} is taken by another program: stop it or set WINUX_PORT` },
    };
  }
}

/**
 * The same check `winux serve` makes before serving: a test desktop starts and
 * answers RDP. With a server running it only reads the server's last result,
 * since a test desktop could then take an id the server is handing out.
 */
async function firstDesktopCheck(config: Config, provider: Provider, serverRunning: boolean, hostOk: boolean): Promise<Check> {
  const name = 'lxc: first desktop';
  const { templateState } = await import('../providers/lxc/template.ts');
  const { proveFirstDesktop, provenFor } = await import('./first-desktop.ts');
  const { hash } = await templateState(config, config.defaultDesktop);
  const proof = provenFor(config, provider.name, hash);
  if (serverRunning) {
    return proof
      ? {
          name,
          ok: true,
          detail: `a test desktop answered RDP in ${proof.seconds.toFixed(1)} s at ${proof.provedAt} (template ${hash}); not re-run while the server runs`,
        }
      : { name, ok: false, detail: `not checked for template ${hash}: restart "winux serve" (it checks before serving), or stop it and run "winux doctor"` };
  }
  if (!hostOk) return { name, ok: false, detail: 'not tried: fix the lxc problems above first' };
  try {
    const fresh = await proveFirstDesktop(config, provider, hash);
    return { name, ok: true, detail: `a test desktop started and answered RDP in ${fresh.seconds.toFixed(1)} s, then was removed` };
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message.replace(/\n\s*/g, ' ') };
  }
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
