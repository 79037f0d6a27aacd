// A throwaway PostgreSQL server that a drill can take down and bring back on the
// same data (test/support/postgres.ts removes its data when stopped). Listens on
// 127.0.0.1 only, runs as the `postgres` user (the server refuses root).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RestartablePostgres {
  url: string;
  /** Stops the server now (`immediate`: like a crash) or politely (`fast`: terminates sessions). */
  down(mode?: 'fast' | 'immediate'): void;
  up(): void;
  remove(): void;
}

export function postgresInstalled(): boolean {
  return fs.existsSync('/usr/lib/postgresql') && fs.readdirSync('/usr/lib/postgresql').length > 0;
}

export async function startRestartablePostgres(): Promise<RestartablePostgres> {
  const root = '/usr/lib/postgresql';
  const bin = path.join(root, fs.readdirSync(root).sort((a, b) => Number(b) - Number(a))[0], 'bin');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'winux-pg-drill-'));
  fs.chmodSync(dir, 0o755);
  execFileSync('chown', ['postgres:postgres', dir]);
  const data = path.join(dir, 'data');
  const run = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args], { stdio: 'pipe' });
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await new Promise<number>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const up = () =>
    run('pg_ctl', ['-D', data, '-w', '-l', path.join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  up();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    down: (mode = 'fast') => {
      run('pg_ctl', ['-D', data, '-w', '-m', mode, 'stop']);
    },
    up,
    remove() {
      spawnSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'], { stdio: 'ignore' });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
