// The seed's playbooks, run by Debian's ansible-playbook (community.general's
// proxmox module + proxmoxer) against the simulator, with the seed's exact
// commands; then Winux's ansible provider driving the same playbooks.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/logger.ts';
import { createAnsibleProvider } from '../../../src/providers/ansible/index.ts';
import { sessionFirewallOptions, sessionRules } from '../../../src/providers/proxmox/firewall.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import { portOpen } from '../../../src/providers/proxmox/readiness.ts';
import { allPrivileges } from '../../support/proxmox-sim/acl.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { ctxFor, fastTuning, spec } from '../proxmox/sim-config.ts';

const root = path.resolve(import.meta.dirname, '..', '..', '..');

function playbook(sim: ProxmoxSim, args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('ansible-playbook', args, {
      cwd: root,
      env: { ...process.env, ...sim.env(), ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_INVENTORY_UNPARSED_WARNING: 'false', ...extraEnv },
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('Ansible playbooks against the simulator', () => {
  let sim: ProxmoxSim;
  before(async () => {
    sim = await startProxmoxSim({ timings: { dhcpMs: 1200, desktopMs: 1300 }, clusterFirewall: true });
  });
  after(async () => {
    await sim.close();
  });

  it('create-winux-session.yml as the seed documents it', async () => {
    const r = await playbook(sim, [
      'ansible/create-winux-session.yml',
      '-e',
      'session_id=winux-test-001',
      '-e',
      'session_duration=30',
      '-e',
      'container_id=30001',
    ]);
    assert.equal(r.code, 0, r.out);
    const ct = sim.cluster.cts.get(30001);
    assert.ok(ct, 'CT 30001 exists');
    assert.equal(ct.status, 'running');
    assert.equal(ct.config.tags, 'winux;winux-session-winux-test-001');
    assert.equal(ct.pool, 'winux');
    assert.match(String(ct.config.description), /session=winux-test-001 expires_at=\d{4}-\d\d-\d\dT/);
    const password = ct.users.get('winux');
    assert.ok(password && password.length >= 16, 'a generated password was set with pct exec');
    assert.equal(ct.xrdpStarted, true, 'winux-session-init ran: the template keeps xrdp off until then');
    assert.ok(
      sim.ssh!.commands.some((c) => c.startsWith('pct exec 30001 -- sh -c ') && c.includes('exec /usr/local/sbin/winux-session-init')),
      'the same command as the Proxmox provider',
    );
    // The provider's firewall, before the first start: RDP in only, no local network, no IPv6.
    assert.deepEqual(ct.firewall.options, sessionFirewallOptions(true));
    assert.deepEqual(
      ct.firewall.rules.map(({ pos: _, ...r }) => r),
      sessionRules([], 3389).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === 'enable' ? Number(v) : String(v)]))),
    );
    assert.equal(sim.cluster.packetVerdict(30001, { direction: 'out', peer: 'fe80::1', proto: 'tcp', dport: 22 }), 'DROP');
    assert.equal(sim.cluster.packetVerdict(30001, { direction: 'out', peer: '192.168.1.1', proto: 'tcp', dport: 22 }), 'DROP');
    assert.equal(sim.cluster.packetVerdict(30001, { direction: 'in', peer: '192.168.1.20', proto: 'tcp', dport: 3389 }), 'ACCEPT');
    for (const c of sim.ssh!.commands) assert.ok(!c.includes(password), 'password never on the SSH command line');
    const msg = /"msg": "(\{.*\})"/.exec(r.out)?.[1];
    const result = JSON.parse(JSON.parse(`"${msg}"`));
    assert.equal(result.container_id, 30001);
    assert.equal(result.node, 'pve1');
    assert.equal(result.username, 'winux');
    assert.equal(result.password, password, 'printed for the admin who ran it by hand');
    assert.equal(await portOpen(result.ip, 3389), true);
    // Running it again is harmless (the module sees the vmid exists; the rules are not added twice).
    const again = await playbook(sim, ['ansible/create-winux-session.yml', '-e', 'session_id=winux-test-001', '-e', 'container_id=30001']);
    assert.equal(again.code, 0, again.out);
    assert.equal(ct.firewall.rules.length, sessionRules([], 3389).length);
  });

  it('destroy-winux-session.yml, then again (absent is fine)', async () => {
    const r = await playbook(sim, ['ansible/destroy-winux-session.yml', '-e', 'container_id=30001']);
    assert.equal(r.code, 0, r.out);
    assert.equal(sim.cluster.cts.has(30001), false);
    const again = await playbook(sim, ['ansible/destroy-winux-session.yml', '-e', 'container_id=30001']);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /"existed\\": false/);
  });

  it('destroy refuses a container Winux did not create', async () => {
    sim.cluster.addForeignCt('pve1', 30009);
    const r = await playbook(sim, ['ansible/destroy-winux-session.yml', '-e', 'container_id=30009']);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /not a Winux session/);
    assert.ok(sim.cluster.cts.has(30009));
  });

  it('destroy refuses to call a CT gone that the token cannot see (lost VM.Audit), so its id is not reused', async () => {
    const ct = sim.cluster.addForeignCt('pve1', 30008);
    ct.config.tags = 'winux;winux-session-hidden';
    const blind = sim.addToken('winux@pve!blind', [{ path: '/', privs: allPrivileges.filter((p) => p !== 'VM.Audit') }]);
    const r = await playbook(sim, ['ansible/destroy-winux-session.yml', '-e', 'container_id=30008'], {
      proxmox_api_user: blind.id,
      proxmox_api_token_secret: blind.secret,
    });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /CT 30008 still exists in the cluster/);
    assert.ok(sim.cluster.cts.has(30008));
    const d = await playbook(sim, ['ansible/destroy-winux-session.yml', '-e', 'container_id=30008']);
    assert.equal(d.code, 0, d.out);
    assert.equal(sim.cluster.cts.has(30008), false);
  });

  it('without an SSH key, refuses and says what to set (nothing else could start the desktop)', async () => {
    const volid = 'local:vztmpl/winux-desktop.tar.zst';
    sim.cluster.nodes.get('pve1')!.volumes.set(volid, { volid, content: 'vztmpl', size: 1, format: 'tar.zst' });
    const r = await playbook(sim, ['ansible/create-winux-session.yml', '-e', 'session_id=no-ssh', '-e', 'container_id=30002'], {
      proxmox_ssh_key_path: '',
      WINUX_PROXMOX_OSTEMPLATE: volid,
      WINUX_SESSION_PASSWORD: 'given-Secret-42',
    });
    assert.notEqual(r.code, 0);
    assert.match(r.out, /set proxmox_ssh_key_path \(or proxmox_ssh_private_key\)/);
    assert.equal(sim.cluster.cts.has(30002), false, 'nothing created');
    assert.ok(!r.out.includes('given-Secret-42'), 'a given password is never printed');
  });

  it('WINUX_PROVIDER=ansible creates and destroys through the playbooks', async () => {
    const env = sim.env({
      WINUX_PROVIDER: 'ansible',
      WINUX_DATA_DIR: sim.dir,
      WINUX_ANSIBLE_DIR: path.join(root, 'ansible'),
      WINUX_ALLOWED_NETWORKS: '192.168.77.0/24',
    });
    process.env.proxmox_ssh_known_hosts = sim.knownHostsFile!;
    const config = loadConfig(env);
    const provider = createAnsibleProvider(config, silentLogger, fastTuning(sim));
    const steps: string[] = [];
    try {
      const m = await provider.create(spec(30003, 'ans-1', { password: 'ansible-Secret-1', memoryMb: 2048, cores: 1 }), ctxFor(steps));
      assert.equal(m.ref.containerId, 30003);
      assert.equal(m.node, 'pve1');
      assert.equal(m.endpoint.port, 3389);
      assert.deepEqual(steps, ['allocating', 'cloning', 'starting', 'network', 'desktop', 'ready']);
      const ct = sim.cluster.cts.get(30003)!;
      assert.equal(ct.users.get('winux'), 'ansible-Secret-1');
      assert.equal(m.username, 'winux', 'the user the playbook answered');
      assert.equal(ct.xrdpStarted, true);
      assert.equal(await portOpen(m.ip, 3389), true, 'the desktop answers RDP');
      assert.equal(ct.config.memory, 2048);
      // The same firewall as a CT the Proxmox provider makes, with the admin's allowed networks.
      const px = createProxmoxProvider(config, silentLogger, fastTuning(sim));
      try {
        const p = await px.create(spec(30004, 'px-1', { password: 'px-Secret-1', cores: 1 }), ctxFor());
        const pxCt = sim.cluster.cts.get(30004)!;
        assert.deepEqual(ct.firewall, pxCt.firewall);
        assert.ok(ct.firewall.rules.some((r) => r.dest === '192.168.77.0/24' && r.action === 'ACCEPT'));
        await px.destroy(p.ref);
      } finally {
        await px.close?.();
      }
      assert.equal(await provider.status(m.ref), 'running');
      assert.deepEqual(
        (await provider.list()).map((l) => l.containerId),
        [30003],
      );
      await provider.destroy(m.ref);
      assert.equal(sim.cluster.cts.has(30003), false);
      assert.equal(await provider.status(m.ref), 'missing');
    } finally {
      delete process.env.proxmox_ssh_known_hosts;
      await provider.close?.();
    }
  });

  it('the ansible provider logs the session in as the user the playbook answers (a site playbook with its own account)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'winux-ansible-site-'));
    cpSync(path.join(root, 'ansible'), dir, { recursive: true });
    const file = path.join(dir, 'create-winux-session.yml');
    const original = readFileSync(file, 'utf8');
    const patched = original.replace(/^ {4}desktop_user: .*$/m, '    desktop_user: eleve');
    assert.notEqual(patched, original);
    writeFileSync(file, patched);
    process.env.proxmox_ssh_known_hosts = sim.knownHostsFile!;
    const config = loadConfig(sim.env({ WINUX_PROVIDER: 'ansible', WINUX_DATA_DIR: sim.dir, WINUX_ANSIBLE_DIR: dir }));
    const provider = createAnsibleProvider(config, silentLogger, fastTuning(sim));
    try {
      const m = await provider.create(spec(30005, 'ans-2', { password: 'site-Secret-2', cores: 1 }), ctxFor());
      assert.equal(m.username, 'eleve');
      assert.equal(sim.cluster.cts.get(30005)!.users.get('eleve'), 'site-Secret-2');
      await provider.destroy(m.ref);
    } finally {
      delete process.env.proxmox_ssh_known_hosts;
      await provider.close?.();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
