// The Proxmox provider against the simulator: a session's whole life, adopt and
// take-over rules for an occupied id, destroy being idempotent, list and status,
// the language and end time pushed into the desktop (issue 16).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { ContainerIdTakenError, createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import { portOpen } from '../../../src/providers/proxmox/readiness.ts';
import { PveClient } from '../../../src/providers/proxmox/api.ts';
import { waitForTask } from '../../../src/providers/proxmox/tasks.ts';
import { createAnsibleProvider } from '../../../src/providers/ansible/index.ts';
import type { Provider } from '../../../src/core/provider-port.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { ctxFor, fastTuning, simConfig, spec } from './sim-config.ts';

describe('proxmox provider lifecycle', () => {
  let sim: ProxmoxSim;
  let provider: Provider;

  before(async () => {
    sim = await startProxmoxSim();
    provider = createProxmoxProvider(simConfig(sim), silentLogger, fastTuning(sim));
  });
  after(async () => {
    await provider.close?.();
    await sim.close();
  });

  it('creates a tagged, pooled, unprivileged linked clone, sets the password over SSH and waits for RDP', async () => {
    const steps: string[] = [];
    const m = await provider.create(spec(30001, 'winux-test-001'), ctxFor(steps));
    assert.equal(m.node, 'pve1');
    assert.equal(m.ref.containerId, 30001);
    assert.match(m.ip, /^127\.\d+\.\d+\.\d+$/);
    assert.deepEqual(m.endpoint, { host: m.ip, port: sim.cluster.rdpPort });
    assert.equal(await portOpen(m.ip, sim.cluster.rdpPort), true, 'RDP stand-in answers');
    const ct = sim.cluster.cts.get(30001)!;
    assert.equal(ct.status, 'running');
    assert.equal(ct.config.tags, 'winux;winux-session-winux-test-001');
    assert.equal(ct.pool, 'winux');
    assert.equal(ct.config.unprivileged, 1);
    assert.equal(ct.config.memory, 1024);
    assert.equal(ct.config.cores, 2);
    assert.match(String(ct.config.rootfs), /base-9000-disk-0\/vm-30001-disk-0/, 'linked clone of the template');
    assert.match(String(ct.config.rootfs), /,size=10G/, "grown from the template's 8G to WINUX_DISK_GB");
    assert.equal(ct.users.get('winux'), 'pw-30001-Secret!');
    // Its own firewall: RDP in only, DNS and the IPv4 internet out, no local network, no IPv6 (PVE evaluates top-down).
    assert.deepEqual(ct.firewall.options, { enable: 1, policy_in: 'DROP', policy_out: 'DROP', dhcp: 1, ipfilter: 0, macfilter: 1, ndp: 0, radv: 0 });
    const rules = ct.firewall.rules.map((r) => [r.type, r.action, r.proto ?? '', r.dport ?? '', r.source ?? r.dest ?? '', r.enable]);
    assert.deepEqual(rules, [
      ['in', 'ACCEPT', 'tcp', String(sim.cluster.rdpPort), '0.0.0.0/0', 1],
      ['out', 'ACCEPT', 'udp', '53', '0.0.0.0/0', 1],
      ['out', 'ACCEPT', 'tcp', '53', '0.0.0.0/0', 1],
      ['out', 'DROP', '', '', '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,169.254.0.0/16,224.0.0.0/4,240.0.0.0/4', 1],
      ['out', 'ACCEPT', '', '', '0.0.0.0/0', 1],
    ]);
    assert.deepEqual(steps, ['allocating', 'cloning', 'starting', 'network', 'desktop', 'ready']);
    // The password travelled on stdin only.
    assert.ok(sim.ssh!.commands.length > 0);
    for (const c of sim.ssh!.commands) assert.ok(!c.includes('pw-30001'), `secret on a command line: ${c}`);
    assert.equal(await provider.status(m.ref), 'running');
    const listed = await provider.list();
    assert.deepEqual(
      listed.map((l) => [l.containerId, l.state]),
      [[30001, 'running']],
    );

    await provider.destroy(m.ref);
    assert.equal(sim.cluster.cts.has(30001), false);
    assert.equal(await provider.status(m.ref), 'missing');
    assert.equal(await portOpen(m.ip, sim.cluster.rdpPort), false, 'RDP stand-in gone with the CT');
    await provider.destroy(m.ref); // not found is success
    assert.deepEqual(await provider.list(), []);
    assert.equal(sim.cluster.cts.get(9000)?.config.lock, undefined, 'template unlocked');
  });

  it('refuses an id held by a foreign CT with ContainerIdTakenError, and destroy leaves that CT alone', async () => {
    sim.cluster.addForeignCt('pve1', 30002);
    await assert.rejects(provider.create(spec(30002), ctxFor()), (e: unknown) => e instanceof ContainerIdTakenError && e.containerId === 30002);
    await provider.destroy({ containerId: 30002, node: 'pve1' });
    assert.ok(sim.cluster.cts.has(30002), 'foreign CT untouched');
    assert.deepEqual(await provider.list(), []);
  });

  it('adopts its own running CT after an interrupted attempt, and replaces a leftover of another session', async () => {
    const first = await provider.create(spec(30003, 'sess-a'), ctxFor());
    const again = await provider.create(spec(30003, 'sess-a', { password: 'another-Secret-1' }), ctxFor());
    assert.equal(again.ip, first.ip, 'same CT adopted');
    assert.equal(sim.cluster.cts.get(30003)!.users.get('winux'), 'another-Secret-1');
    const replaced = await provider.create(spec(30003, 'sess-b'), ctxFor());
    assert.equal(sim.cluster.cts.get(30003)!.config.tags, 'winux;winux-session-sess-b');
    await provider.destroy(replaced.ref);
    assert.equal(sim.cluster.cts.has(30003), false);
  });

  it('reports a failed create task through its exitstatus', async () => {
    sim.cluster.faults.taskFailRate = 1;
    try {
      await assert.rejects(provider.create(spec(30004), ctxFor()), /lvcreate' failed: got timeout/);
    } finally {
      sim.cluster.faults.taskFailRate = 0;
    }
    await provider.destroy({ containerId: 30004 });
    assert.equal(sim.cluster.cts.has(30004), false);
  });

  it('clears the template lock its own crashed clone left (no task holds it) with pct unlock, and the next create works', async () => {
    sim.cluster.faults.taskCrashRate = 1;
    try {
      await assert.rejects(provider.create(spec(30005), ctxFor()), /unexpected status/);
    } finally {
      sim.cluster.faults.taskCrashRate = 0;
    }
    assert.ok(sim.ssh!.commands.includes('pct unlock 9000'), 'the stale template lock was cleared at once');
    assert.equal(sim.cluster.cts.get(9000)!.config.lock, undefined);
    assert.equal(sim.cluster.cts.get(30005)!.config.lock, 'create', 'the half-made CT stays locked until destroyed');
    const m = await provider.create(spec(30006), ctxFor());
    await provider.destroy({ containerId: 30005 });
    assert.ok(sim.ssh!.commands.includes('pct unlock 30005'));
    await provider.destroy(m.ref);
    assert.deepEqual(
      [...sim.cluster.cts.keys()].filter((id) => id !== 9000 && id !== 30002),
      [],
    );
  });

  it('clears a stale template lock someone else left (a crashed Winux or admin task), then clones', async () => {
    const unlocksBefore = sim.ssh!.commands.filter((c) => c === 'pct unlock 9000').length;
    sim.cluster.cts.get(9000)!.config.lock = 'disk';
    const m = await provider.create(spec(30007), ctxFor());
    assert.equal(sim.ssh!.commands.filter((c) => c === 'pct unlock 9000').length, unlocksBefore + 1);
    await provider.destroy(m.ref);
  });

  it('tells the desktop its language and end at creation, then on every push (winux-session-set over pct exec)', async () => {
    const endsAt = Date.UTC(2030, 0, 1, 12, 0, 0, 1);
    const m = await provider.create(spec(30001, 'winux-info-001', { language: 'en', endsAt }), ctxFor());
    const ct = sim.cluster.cts.get(30001)!;
    assert.equal(ct.language, 'en');
    assert.equal(ct.endsAt, Math.ceil(endsAt / 1000));
    await provider.setSessionInfo!(m.ref, 'winux', { endsAt: endsAt + 1_800_000 });
    assert.equal(ct.endsAt, Math.ceil(endsAt / 1000) + 1800);
    assert.equal(ct.language, 'en', 'an extension leaves the language alone');
    await provider.setSessionInfo!(m.ref, 'winux', { endsAt, language: 'fr' });
    assert.equal(ct.language, 'fr');
    const pushes = sim.ssh!.commands.filter((c) => c.includes('winux-session-set'));
    assert.equal(pushes.length, 2);
    for (const c of pushes) assert.match(c, /^pct exec 30001 -- sh -c 'if \[ -x \/usr\/local\/sbin\/winux-session-set \]; then exec [^;]* --user winux; fi'$/);
    await assert.rejects(provider.setSessionInfo!(m.ref, 'x;reboot', { endsAt }), /unsafe user name/);
    await provider.destroy(m.ref);
  });
});

describe('proxmox provider without a template (the Winux archive)', () => {
  let sim: ProxmoxSim;
  let provider: Provider;
  before(async () => {
    sim = await startProxmoxSim({ ostemplate: true, templates: false });
    provider = createProxmoxProvider(simConfig(sim, { WINUX_PROXMOX_OSTEMPLATE: 'local:vztmpl/winux-desktop.tar.zst' }), silentLogger, fastTuning(sim));
  });
  after(async () => {
    await provider.close?.();
    await sim.close();
  });

  it('creates from the archive, then winux-session-init over SSH sets the password and starts the desktop', async () => {
    const m = await provider.create(spec(30011), ctxFor());
    const ct = sim.cluster.cts.get(30011)!;
    assert.equal(ct.users.get('winux'), 'pw-30011-Secret!');
    assert.equal(ct.users.get('root'), '', 'no root password: xrdp refuses root anyway');
    assert.equal(ct.xrdpStarted, true);
    assert.equal(ct.config.tags, 'winux;winux-session-s-30011');
    assert.equal(ct.config.unprivileged, 1);
    assert.match(String(ct.config.rootfs), /^local-lvm:vm-30011-disk-0,size=10G/);
    const types = [...sim.cluster.tasks.values()].filter((t) => t.id === '30011').map((t) => t.type);
    assert.deepEqual(types, ['vzcreate', 'vzstart']);
    assert.equal(await portOpen(m.ip, sim.cluster.rdpPort), true);
    await provider.destroy(m.ref);
    assert.equal(sim.cluster.cts.has(30011), false);
  });

  it('a start task that fails after create is retried', async () => {
    sim.cluster.failNext('start');
    const m = await provider.create(spec(30012), ctxFor());
    const starts = [...sim.cluster.tasks.values()].filter((t) => t.id === '30012' && t.type === 'vzstart');
    assert.equal(starts.length, 2, 'the failed start was followed by one of ours');
    assert.match(starts[0]!.exitstatus!, /startup for container '30012' failed/);
    await provider.destroy(m.ref);
  });
});

describe('proxmox provider without an SSH key', () => {
  it('is refused at start with what to configure: nothing but pct exec can start a Winux desktop', async () => {
    const sim = await startProxmoxSim({ ostemplate: true });
    try {
      const config = simConfig(sim, { proxmox_ssh_key_path: '', WINUX_PROXMOX_OSTEMPLATE: 'local:vztmpl/winux-desktop.tar.zst' });
      assert.throws(() => createProxmoxProvider(config, silentLogger, fastTuning(sim)), /set proxmox_ssh_key_path \(or proxmox_ssh_private_key\)/);
      assert.throws(() => createAnsibleProvider({ ...config, provider: 'ansible' }, silentLogger, fastTuning(sim)), /set proxmox_ssh_key_path/);
      assert.equal(sim.cluster.cts.size, 1, 'nothing created (only the template)');
    } finally {
      await sim.close();
    }
  });

  it('the simulated Winux image keeps xrdp off until winux-session-init runs: a CT started without it never answers RDP', async () => {
    const sim = await startProxmoxSim({ timings: { dhcpMs: 50, desktopMs: 80 } });
    const client = new PveClient({ host: sim.host, port: sim.port, tokenId: sim.tokenId, tokenSecret: sim.tokenSecret, ca: sim.caPem });
    try {
      const upid = await client.post<string>('/nodes/pve1/lxc/9000/clone', { newid: 30013, full: 0 });
      await waitForTask(client, upid, { pollMs: 25 });
      await waitForTask(client, await client.post<string>('/nodes/pve1/lxc/30013/status/start'), { pollMs: 25 });
      await new Promise((r) => setTimeout(r, 400));
      const ct = sim.cluster.cts.get(30013)!;
      assert.equal(await portOpen(ct.ip!, sim.cluster.rdpPort), false, 'no desktop without session init');
      // Root's password (all the API can set) is not a way in: session-init refuses root.
      assert.equal(
        sim.cluster.sessionInit(ct, 'root:secret-pw\n', () => {}),
        2,
      );
      assert.equal(
        sim.cluster.sessionInit(ct, 'winux:secret-pw\n', () => {}),
        0,
      );
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await portOpen(ct.ip!, sim.cluster.rdpPort), true, 'the desktop answers once session-init ran');
    } finally {
      await client.close();
      await sim.close();
    }
  });
});

describe('proxmox pool', () => {
  it('a missing pool is created on the first creation, and the CT joins it', async () => {
    const sim = await startProxmoxSim({ pools: [] });
    const provider = createProxmoxProvider(simConfig(sim), silentLogger, fastTuning(sim));
    try {
      assert.equal(sim.cluster.pools.has('winux'), false);
      const m = await provider.create(spec(30001, 'winux-test-pool'), ctxFor([]));
      assert.equal(sim.cluster.pools.has('winux'), true);
      assert.equal(sim.cluster.cts.get(30001)?.pool, 'winux');
      await provider.destroy(m.ref);
    } finally {
      await provider.close?.();
      await sim.close();
    }
  });
});
