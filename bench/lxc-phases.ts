// Where the cold path's time goes on local LXC, phase by phase, from the
// provider's own progress reports (no HTTP in between). Prints medians; asserts
// nothing. Run: node --import tsx bench/lxc-phases.ts [--sessions 5]
//   clone   → lxc-copy of the template (overlay snapshot), its own disk, its
//             shifted view of the template (its uid range) and its config
//   boot    → lxc-start, systemd up, winux-session-init (password, the session's
//             own TLS and RDP keys side by side, then xrdp started in the foreground)
//   gateway → the DNAT rule for the session's RDP port
//   desktop → xrdp answers an X.224 + TLS handshake through the gateway
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/logger.ts';
import type { CreationStep } from '../src/core/session.ts';
import { run } from '../src/providers/lxc/exec.ts';
import { mountShiftedTemplate, sessionIdMap } from '../src/providers/lxc/idmap.ts';
import { createLxcProvider } from '../src/providers/lxc/index.ts';
import { containerName } from '../src/providers/lxc/naming.ts';
import { templateState } from '../src/providers/lxc/template.ts';
import { lxcConfig, prepareHost } from './lxc-support.ts';

const { values: args } = parseArgs({ options: { sessions: { type: 'string', default: '5' } } });
const count = Math.max(1, Number(args.sessions));
const first = 30961;
const config = lxcConfig({ WINUX_CONTAINER_ID_MIN: String(first), WINUX_CONTAINER_ID_MAX: String(first + count - 1) });
const provider = createLxcProvider(config, silentLogger);
const phaseOf: Partial<Record<CreationStep, string>> = { cloning: 'clone', starting: 'boot', network: 'gateway', desktop: 'desktop' };
const samples: Record<string, number[]> = { clone: [], boot: [], gateway: [], desktop: [], total: [] };
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;

await prepareHost(config);
try {
  for (let i = 0; i < count; i++) {
    const id = first + i;
    await provider.destroy({ containerId: id });
    const marks: [string, number][] = [];
    const t0 = performance.now();
    await provider.create(
      {
        sessionId: `bench-${id}`,
        containerId: id,
        hostname: `winux-${id}`,
        username: config.desktopUser,
        password: `Bench-${id}-pw-Zq7x`,
        memoryMb: config.resources.memoryMb,
        cores: config.resources.cores,
        diskGb: config.resources.diskGb,
        pidsMax: config.resources.pidsMax,
      },
      {
        signal: AbortSignal.timeout(120_000),
        progress: (step) => {
          if (phaseOf[step]) marks.push([phaseOf[step]!, performance.now()]);
        },
      },
    );
    const end = performance.now();
    for (const [k, [phase, at]] of marks.entries()) samples[phase]!.push((marks[k + 1]?.[1] ?? end) - at);
    samples.total!.push(end - t0);
    console.log(`  ${containerName(id)}: ${marks.map(([p, at], k) => `${p} ${(((marks[k + 1]?.[1] ?? end) - at) / 1000).toFixed(2)} s`).join(', ')}`);
  }
  // Inside one session: what the key generation in winux-session-init costs.
  const name = containerName(first);
  const attach = async (script: string) => {
    const t = performance.now();
    await run('lxc-attach', ['-P', config.lxc.path, '-n', name, '--clear-env', '--set-var', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', '--', 'sh', '-c', script]);
    return performance.now() - t;
  };
  const rsaTls = await attach('openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=x -keyout /tmp/k -out /tmp/c 2>/dev/null');
  const rdpKeys = await attach('xrdp-keygen xrdp /tmp/rsakeys.ini >/dev/null');
  const nothing = await attach('true');
  // Of the clone: each session's read-only view of the template shifted into its uid range (idmap.ts).
  const shifted: number[] = [];
  const target = path.join(config.lxc.path, name, 'bench-lower');
  for (let k = 0; k < 5; k++) {
    const t = performance.now();
    await mountShiftedTemplate((await templateState(config)).rootfs, target, sessionIdMap(config, first));
    shifted.push(performance.now() - t);
    await run('umount', [target]);
  }
  await rm(target, { recursive: true, force: true });
  console.log('phase medians (cold path, provider only):');
  for (const [phase, v] of Object.entries(samples)) console.log(`  ${phase.padEnd(8)} ${(median(v) / 1000).toFixed(2)} s`);
  console.log(`  of the clone, the template's shifted view (python3 + idmapped mount): ${median(shifted).toFixed(0)} ms`);
  console.log(
    `inside winux-session-init (made side by side): TLS key (RSA 2048) ${(rsaTls / 1000).toFixed(2)} s, xrdp-keygen ${(rdpKeys / 1000).toFixed(2)} s (an lxc-attach alone: ${(nothing / 1000).toFixed(2)} s)`,
  );
  // systemd's own view of the last session's boot: generators and reaching the targets.
  const show = await run('lxc-attach', [
    '-P',
    config.lxc.path,
    '-n',
    name,
    '--',
    'systemctl',
    'show',
    '-p',
    'GeneratorsStartTimestampMonotonic',
    '-p',
    'GeneratorsFinishTimestampMonotonic',
  ]);
  const [gStart, gEnd] = show.stdout
    .trim()
    .split('\n')
    .map((l) => Number(l.split('=')[1]));
  const analyze = await run('lxc-attach', ['-P', config.lxc.path, '-n', name, '--', 'systemd-analyze']);
  console.log(`inside the boot: generators ${((gEnd! - gStart!) / 1000).toFixed(0)} ms; ${analyze.stdout.trim().split('\n')[0]}`);
} finally {
  for (let i = 0; i < count; i++) await provider.destroy({ containerId: first + i });
}
