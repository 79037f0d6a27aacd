// The hardening figures for the README: runs the hardening suite (fuzzing and
// failure drills, test/hardening, without the LXC isolation test; the Proxmox session firewall against the
// simulator) and prints what the drills recorded: hostile requests tried, kills survived, containers leaked,
// sessions stuck; and (issue 14) cross-site requests refused, the per-address cap under a cookie-cycling
// script, interleaved extend/expiry and claim/recycle runs with none wrongly ended, passwords at rest.
//   node --import tsx bench/hardening-report.ts            (runs the suite first, ~2-3 min)
//   node --import tsx bench/hardening-report.ts --no-run   (prints the last run's figures)
//   ... --lxc   also runs the LXC isolation test (real containers: IPv6 probes, the
//               sessions' memory total), under the shared lock /tmp/winux-lxc.lock
// The numbers come from test-output/hardening/*.json, written by the tests themselves.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const dir = path.join(root, 'test-output', 'hardening');

// Figures of the LXC isolation test, kept from its last run unless --lxc runs it again.
const lxcFigures = ['ipv6.json', 'memory-total.json'];
if (!process.argv.includes('--no-run')) {
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    if (process.argv.includes('--lxc') || !lxcFigures.includes(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
  // Everything in test/hardening but the LXC isolation test (real containers, figures of its own).
  const words = [
    'hardening/abuse',
    'hardening/access',
    'hardening/secrets',
    'hardening/fuzz',
    'hardening/drill',
    'hardening/races',
    'hardening/at-rest',
    'http/cross-site',
    'providers/proxmox/firewall',
  ];
  const run = spawnSync('bash', ['scripts/test.sh', ...words], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (run.status !== 0) console.log(`(the hardening suite failed: exit ${run.status}; figures below are from the drills that finished)`);
  if (process.argv.includes('--lxc')) {
    const lxc = spawnSync('flock', ['/tmp/winux-lxc.lock', 'bash', 'scripts/test.sh', 'hardening/isolation'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (lxc.status !== 0) console.log(`(the LXC isolation test failed: exit ${lxc.status})`);
  }
}

type Figures = Record<string, number | string>;
const figures: Record<string, Figures> = {};
for (const file of fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : []) {
  const f = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Figures;
  figures[String(f.name)] = f;
}
if (!Object.keys(figures).length) {
  console.log('No figures yet: run without --no-run.');
  process.exit(1);
}

const n = (name: string, key: string) => Number(figures[name]?.[key] ?? 0);
const drills = Object.values(figures).filter((f) => 'containers_leaked' in f);
const leaked = drills.reduce((sum, f) => sum + Number(f.containers_leaked), 0);
const stuck = drills.reduce((sum, f) => sum + Number(f.sessions_stuck), 0);

const rows: [string, string][] = [
  ['hostile requests tried (fuzzing, no 5xx, store unchanged)', figures.fuzz ? String(n('fuzz', 'hostile_requests')) : 'not run'],
  ['SIGKILLs survived (during creations/deletions, restart)', figures.sigkill ? `${n('sigkill', 'kills_survived')} / ${n('sigkill', 'kills')}` : 'not run'],
  [
    'provider failing 30 % of calls: sessions ready / failed and cleaned',
    figures['provider-faults'] ? `${n('provider-faults', 'ready')} / ${n('provider-faults', 'failed_creations')}` : 'not run',
  ],
  ['200 simultaneous POSTs at capacity 10: accepted / refused', figures.stampede ? `${n('stampede', 'accepted')} / ${n('stampede', 'refused')}` : 'not run'],
  [
    'containers killed from outside, detected and cleaned',
    figures['external-kill'] ? `${n('external-kill', 'detected')} / ${n('external-kill', 'killed_from_outside')}` : 'not run',
  ],
  [
    'database unwritable (SQLite, PostgreSQL down): writes answered 503',
    String(n('database-unwritable', 'refused_with_503') + n('database-postgres-down', 'refused_with_503')),
  ],
  [
    'IPv6 probes from a session refused (host on [::] and fe80::, neighbour)',
    figures.ipv6 ? `${n('ipv6', 'refused')} / ${n('ipv6', 'probes')}` : 'not run (--lxc)',
  ],
  [
    'host memory never exceeded: sessions together at their limits vs the total',
    figures['memory-total']
      ? `peak ${n('memory-total', 'peak_mb')} MiB of ${n('memory-total', 'total_mb')} MiB (${n('memory-total', 'sessions')} × ${n('memory-total', 'session_limit_mb')} MiB), exceeded ${n('memory-total', 'exceeded')} times`
      : 'not run (--lxc)',
  ],
  [
    'Proxmox session: IPv6 probes refused (host fe80::, ULA, LAN prefix, other session)',
    figures['proxmox-ipv6'] ? `${n('proxmox-ipv6', 'ipv6_refused')} / ${n('proxmox-ipv6', 'ipv6_probes')}` : 'not run',
  ],
  [
    'cross-site browser requests refused (403 cross_site_request) / sessions they created',
    figures['cross-site']
      ? `${n('cross-site', 'cross_site_refused')} of ${n('cross-site', 'cross_site_tried')} / ${n('cross-site', 'cross_site_created')}`
      : 'not run',
  ],
  [
    'cookie-cycling script from one address: accepted / tried (cap WINUX_SESSIONS_PER_ADDRESS), running at the end',
    figures.abuse
      ? `${n('abuse', 'cookie_cycling_accepted')} / ${n('abuse', 'cookie_cycling_attempts')} (cap ${n('abuse', 'cookie_cycling_cap')}), ${n('abuse', 'cookie_cycling_running')} running`
      : 'not run',
  ],
  [
    'extend committed between expiry read and write: runs / wrongly ended',
    figures.races ? `${n('races', 'extend_expiry_runs')} / ${n('races', 'extend_expiry_wrongly_ended')}` : 'not run',
  ],
  [
    'pool claim between recycle read and write: runs / wrongly ended',
    figures.races ? `${n('races', 'claim_recycle_runs')} / ${n('races', 'claim_recycle_wrongly_ended')}` : 'not run',
  ],
  [
    'session passwords found in the raw database files',
    figures['at-rest'] ? `${n('at-rest', 'passwords_found_in_database_files')} of ${n('at-rest', 'passwords_created')}` : 'not run',
  ],
  [`containers leaked (${drills.length} drills)`, String(leaked)],
  [`sessions stuck (${drills.length} drills)`, String(stuck)],
];
const width = Math.max(...rows.map(([k]) => k.length));
console.log(`Winux hardening figures (${new Date().toISOString()})`);
for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
