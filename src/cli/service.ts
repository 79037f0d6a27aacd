// winux service install|print — runs Winux as a systemd service from this
// checkout: the unit shipped in deploy/winux.service, with this checkout's path
// and this node, plus a settings file for the environment.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import type { CliContext } from './main.ts';

const checkout = path.resolve(import.meta.dirname, '..', '..');
export const shippedUnit = path.join(checkout, 'deploy', 'winux.service');

/** The shipped unit with this checkout's directory and this node's path. */
export function renderUnit(dir = checkout, node = process.execPath): string {
  return readFileSync(shippedUnit, 'utf8').replaceAll('/opt/winux', dir).replaceAll('/usr/bin/node', node);
}

const envFileText = `# Winux settings for the systemd service (see the configuration table in the README).
# One VARIABLE=value per line; restart after a change: systemctl restart winux
# This file may hold secrets (admin token, Proxmox token): keep it mode 600.
#WINUX_PORT=5000
#WINUX_PUBLIC_HOST=desktops.example.org
#WINUX_TLS_CERT=/etc/letsencrypt/live/desktops.example.org/fullchain.pem
#WINUX_TLS_KEY=/etc/letsencrypt/live/desktops.example.org/privkey.pem
#WINUX_POOL_SIZE=2
`;

export function register(program: Command, ctx: CliContext): void {
  const service = program.command('service').description('run Winux as a systemd service');

  service
    .command('print')
    .description('print the systemd unit for this checkout')
    .action(() => ctx.print(renderUnit().trimEnd()));

  service
    .command('install')
    .description('install the systemd unit (data in /var/lib/winux, logs in the journal) and start it')
    .option('--unit-dir <dir>', 'where the unit goes', '/etc/systemd/system')
    .option('--env-dir <dir>', 'where the settings file goes', '/etc/winux')
    .option('--no-start', 'only write the files')
    .action(async (opts: { unitDir: string; envDir: string; start: boolean }) => {
      const unitPath = path.join(opts.unitDir, 'winux.service');
      mkdirSync(opts.unitDir, { recursive: true });
      writeFileSync(unitPath, renderUnit(), { mode: 0o644 });
      ctx.print(`wrote ${unitPath}`);
      const envPath = path.join(opts.envDir, 'winux.env');
      mkdirSync(opts.envDir, { recursive: true, mode: 0o700 });
      // An admin's settings are never overwritten by a re-install or an upgrade.
      if (!existsSync(envPath)) {
        writeFileSync(envPath, envFileText, { mode: 0o600 });
        ctx.print(`wrote ${envPath} (settings; mode 600)`);
      } else {
        ctx.print(`kept ${envPath}`);
      }
      if (existsSync(path.join(checkout, 'data', 'admin-token'))) {
        ctx.print(
          `note: ${path.join(checkout, 'data')} holds an earlier "npm start"'s data; the service uses /var/lib/winux. To keep it: cp -a ${path.join(checkout, 'data')}/. /var/lib/winux/`,
        );
      }
      if (!opts.start) return;
      // /run/systemd/system exists only when systemd is PID 1 (sd_booted()).
      if (!existsSync('/run/systemd/system')) {
        ctx.print('systemd is not running on this machine (PID 1 is something else): start Winux another way, e.g. "npm start".');
        process.exitCode = 1;
        return;
      }
      const run = promisify(execFile);
      await run('systemctl', ['daemon-reload']);
      await run('systemctl', ['enable', '--now', 'winux.service']);
      ctx.print('winux.service enabled and started: systemctl status winux, journalctl -u winux -f');
    });
}
