// Benchmark of the local LXC provider. Prints figures; asserts nothing.
//
//   node --import tsx bench/lxc-startup.ts [--sessions 10] [--no-seed]
//
// 1. POST → ready and POST → first successful RDP login (p50/p95), through the
//    real HTTP API and a real FreeRDP client, sessions one after another.
// 2. Memory of an idle session: just after ready, and with an XFCE login open.
// 3. Template size (root filesystem and cached archive).
// 4. The seed's method for comparison: a plain Debian container, then XFCE +
//    xrdp installed into it at session time (as the seed's playbook does), until
//    its RDP port completes a handshake. Needs the Debian mirror; --no-seed skips it.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/logger.ts';
import { memoryUsage } from '../src/providers/lxc/container.ts';
import { run } from '../src/providers/lxc/exec.ts';
import { createLxcProvider } from '../src/providers/lxc/index.ts';
import { containerName, subnetPlan } from '../src/providers/lxc/naming.ts';
import { sessionDns } from '../src/providers/lxc/network.ts';
import { probeRdp } from '../src/providers/lxc/rdp-probe.ts';
import { rootfsBytes, templateState, templatePaths } from '../src/providers/lxc/template.ts';
import { startServer } from '../src/server.ts';
import { lxcConfig, prepareHost, rdpLogin, startXvfb, tempDir } from './lxc-support.ts';

const { values: args } = parseArgs({
  options: { sessions: { type: 'string', default: '10' }, 'no-seed': { type: 'boolean', default: false }, 'no-warm': { type: 'boolean', default: false } },
});
const count = Math.max(1, Number(args.sessions));
const env = {
  WINUX_PROVIDER: 'lxc',
  WINUX_CONTAINER_ID_MIN: '30701',
  WINUX_CONTAINER_ID_MAX: String(30700 + Math.max(count, 10)),
  WINUX_RDP_PORT_MIN: '34601',
  WINUX_RDP_PORT_MAX: String(34600 + Math.max(count, 10)),
  WINUX_SESSIONS_PER_VISITOR: '0',
  WINUX_CREATE_RATE_PER_MINUTE: '0',
  WINUX_DATA_DIR: tempDir(),
  WINUX_HOST: '127.0.0.1',
  WINUX_PORT: '0',
};
const config = lxcConfig(env);
const api = '/api/winux';
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Cold: each click builds a desktop. Warm (`poolSize` > 0): a warm pool keeps
 * desktops ready; each click claims one, and the next click waits until the pool
 * has refilled, so every click measures the warm path.
 */
async function ours(poolSize = 0) {
  const cfg = poolSize ? lxcConfig({ ...env, WINUX_POOL_SIZE: String(poolSize), WINUX_DATA_DIR: tempDir() }) : config;
  const provider = createLxcProvider(cfg, silentLogger);
  const server = await startServer({ config: cfg, provider, logger: silentLogger });
  const poolReady = async () => {
    for (;;) {
      const members = await server.store.list({ pooled: true, statuses: ['ready'] });
      if (members.length >= poolSize) return;
      await new Promise((r2) => setTimeout(r2, 100));
    }
  };
  const xvfb = await startXvfb();
  const ready: number[] = [];
  const login: number[] = [];
  const memReady: number[] = [];
  const memDesktop: number[] = [];
  const created: Array<{ id: string; token: string }> = [];
  const failures: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      try {
        if (poolSize) await poolReady();
        const t0 = Date.now();
        const res = await fetch(`${server.url}${api}/sessions`, { method: 'POST' });
        const body = (await res.json()) as any;
        if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${JSON.stringify(body)}`);
        created.push({ id: body.session_id, token: body.token });
        let session: any;
        for (;;) {
          const r = await fetch(`${server.url}${api}/sessions/${body.session_id}`, { headers: { authorization: `Bearer ${body.token}` } });
          session = await r.json();
          if (session.status === 'ready') break;
          if (session.status === 'failed') throw new Error(`session failed: ${session.error}`);
          await new Promise((r2) => setTimeout(r2, 50));
        }
        const tReady = Date.now() - t0;
        const name = containerName(session.container_id);
        memReady.push((await memoryUsage(name)) ?? NaN);
        const result = await rdpLogin(config, session.container_id, session.port, session.username, session.password, xvfb.display, 60_000);
        const tLogin = Date.now() - t0;
        if (result !== 'accepted') throw new Error('the RDP login was refused');
        ready.push(tReady);
        login.push(tLogin);
        console.log(`  session ${i + 1}/${count}: ready ${s(tReady)}, first RDP login ${s(tLogin)}`);
        if (poolSize) {
          // Hand the container back so the pool never runs out of room while it refills.
          const last = created.pop()!;
          await fetch(`${server.url}${api}/sessions/${last.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${last.token}` } });
          continue;
        }
        // Let the XFCE session settle, then measure it idle.
        await new Promise((r2) => setTimeout(r2, 8000));
        memDesktop.push((await memoryUsage(name)) ?? NaN);
      } catch (err) {
        // A failure is a figure too: count it and go on.
        failures.push((err as Error).message);
        console.log(`  session ${i + 1}/${count}: FAILED ${(err as Error).message}`);
      }
    }
  } finally {
    server.pool.stop();
    // The pool's spares belong to this run: end them too, so nothing is left behind.
    for (const m of await server.store.list({ pooled: true, statuses: ['creating', 'ready'] })) await server.service.destroy(m.id, 'benchmark done');
    for (const c of created)
      await fetch(`${server.url}${api}/sessions/${c.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${c.token}` } }).catch(() => {});
    await server.service.idle();
    await server.close();
    xvfb.stop();
  }
  return { ready, login, memReady, memDesktop, failures };
}

/** The seed's way: a plain Debian container, XFCE + xrdp installed at session time. */
async function seedMethod(): Promise<{ total: number; create: number; boot: number; install: number }> {
  const name = 'winux-bench-seed';
  const ip = `${subnetPlan(config.lxc.subnet).prefix}.255.250`;
  const gw = subnetPlan(config.lxc.subnet).gateway;
  const destroy = async () => {
    await run('lxc-stop', ['-n', name, '-k'], { okCodes: [1, 2] });
    await run('lxc-destroy', ['-n', name], { okCodes: [1] });
  };
  await destroy();
  if (!existsSync('/var/cache/lxc/debian/rootfs-bookworm-amd64')) {
    console.log("  (warming lxc-debian's own rootfs cache first, not counted)");
    await run('lxc-create', ['-n', name, '-t', 'debian', '--', '-r', 'bookworm', `--mirror=${config.lxc.mirror}`]);
    await destroy();
  }
  try {
    const t0 = Date.now();
    await run('lxc-create', ['-n', name, '-t', 'debian', '--', '-r', 'bookworm', `--mirror=${config.lxc.mirror}`]);
    const conf = path.join(config.lxc.path, name, 'config');
    const { readFile } = await import('node:fs/promises');
    const text = (await readFile(conf, 'utf8')).split('\n').filter((l) => !l.startsWith('lxc.net.'));
    text.push(
      'lxc.net.0.type = veth',
      `lxc.net.0.link = ${config.lxc.bridge}`,
      'lxc.net.0.flags = up',
      `lxc.net.0.ipv4.address = ${ip}/16`,
      `lxc.net.0.ipv4.gateway = ${gw}`,
    );
    await writeFile(conf, `${text.join('\n')}\n`);
    const t1 = Date.now();
    await run('lxc-start', ['-n', name, '-d']);
    const dns = await sessionDns(config);
    const attach = (cmd: string, input?: string) =>
      run(
        'lxc-attach',
        ['-n', name, '--clear-env', '--set-var', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', '--set-var', 'DEBIAN_FRONTEND=noninteractive', '--', 'sh', '-c', cmd],
        { input, timeoutMs: 900_000 },
      );
    for (let i = 0; ; i++) {
      try {
        await attach('systemctl is-system-running --wait >/dev/null 2>&1 || true; ip -4 addr show eth0 | grep -q inet');
        break;
      } catch {
        if (i > 100) throw new Error('seed container did not boot');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await attach('cat > /etc/resolv.conf', dns.servers.map((d) => `nameserver ${d}\n`).join(''));
    const t2 = Date.now();
    await attach(
      'apt-get update -q && apt-get install -y -q --no-install-recommends xrdp xorgxrdp xfce4-session xfwm4 xfdesktop4 xfce4-panel xfce4-terminal xfce4-settings thunar dbus-x11 xserver-xorg-core x11-xserver-utils && adduser xrdp ssl-cert && systemctl restart xrdp',
    );
    for (;;) {
      try {
        await probeRdp(ip, 3389, 2000);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const t3 = Date.now();
    return { total: t3 - t0, create: t1 - t0, boot: t2 - t1, install: t3 - t2 };
  } finally {
    await destroy();
  }
}

console.log('Winux LXC benchmark');
await prepareHost(config);
const state = await templateState(config);
const archive = templatePaths(config, state.hash).archive;
const { statSync } = await import('node:fs');
console.log(`template ${state.hash}: root filesystem ${mb(await rootfsBytes(state.rootfs))}, archive ${mb(statSync(archive).size)}`);
console.log(`sessions (${count}, one after another, through the HTTP API):`);
const r = await ours();
console.log(`failed sessions:         ${r.failures.length}/${count}`);
console.log(
  `POST → ready:            p50 ${s(percentile(r.ready, 50))}  p95 ${s(percentile(r.ready, 95))}  (min ${s(Math.min(...r.ready))}, max ${s(Math.max(...r.ready))})`,
);
console.log(`POST → first RDP login:  p50 ${s(percentile(r.login, 50))}  p95 ${s(percentile(r.login, 95))}`);
console.log(
  `idle session memory:     ${mb(percentile(r.memReady, 50))} when ready (no login), ${mb(percentile(r.memDesktop, 50))} with an XFCE login open (medians, cgroup memory usage incl. page cache)`,
);
console.log(
  `sessions per GiB:        ${(2 ** 30 / percentile(r.memDesktop, 50)).toFixed(1)} with a login open, ${(2 ** 30 / percentile(r.memReady, 50)).toFixed(1)} idle before login`,
);
if (!args['no-warm']) {
  console.log(`warm pool (WINUX_POOL_SIZE=2): each click claims a ready desktop; ${count} clicks:`);
  const w = await ours(2);
  console.log(`failed sessions:         ${w.failures.length}/${count}`);
  console.log(`click → ready (warm):    p50 ${s(percentile(w.ready, 50))}  p95 ${s(percentile(w.ready, 95))}`);
  console.log(`click → first RDP login (warm): p50 ${s(percentile(w.login, 50))}  p95 ${s(percentile(w.login, 95))}`);
  console.log(`ratio cold / warm (click → ready p50): ${(percentile(r.ready, 50) / percentile(w.ready, 50)).toFixed(0)}×`);
}
if (!args['no-seed']) {
  console.log("seed's method (plain Debian container + apt-get install XFCE/xrdp at session time):");
  const seed = await seedMethod();
  console.log(`  total ${s(seed.total)} (create ${s(seed.create)}, boot ${s(seed.boot)}, install → RDP handshake ${s(seed.install)})`);
  console.log(`ratio seed / Winux (POST → ready p50): ${(seed.total / percentile(r.ready, 50)).toFixed(1)}×`);
}
