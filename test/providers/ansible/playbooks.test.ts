// The seed's playbooks, run by Debian's ansible-playbook (community.general's
// proxmox module + proxmoxer) against the simulator, with the seed's exact
// commands; then Winux's ansible provider driving the same playbooks.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/logger.ts';
import { createAnsibleProvider } from '../../../src/providers/ansible/index.ts';
import { portOpen } from '../../../src/providers/proxmox/readiness.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { fastTuning } from '../proxmox/sim-config.ts';

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
    sim = await startProxmoxSim({ timings: { dhcpMs: 1200, desktopMs: 1300 } });
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
    for (const c of sim.ssh!.commands) assert.ok(!c.includes(password), 'password never on the SSH command line');
    const msg = /"msg": "(\{.*\})"/.exec(r.out)?.[1];
    const result = JSON.parse(JSON.parse(`"${msg}"`));
    assert.equal(result.container_id, 30001);
    assert.equal(result.node, 'pve1');
    assert.equal(result.username, 'winux');
    assert.equal(result.password, password, 'printed for the admin who ran it by hand');
    assert.equal(await portOpen(result.ip, 3389), true);
    // Running it again is harmless (the module sees the vmid exists).
    const again = await playbook(sim, ['ansible/create-winux-session.yml', '-e', 'session_id=winux-test-001', '-e', 'container_id=30001']);
    assert.equal(again.code, 0, again.out);
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

  it('without an SSH key, creates from the ostemplate with the password given at creation', async () => {
    const volid = 'local:vztmpl/winux-desktop.tar.zst';
    sim.cluster.nodes.get('pve1')!.volumes.set(volid, { volid, content: 'vztmpl', size: 1, format: 'tar.zst' });
    const r = await playbook(sim, ['ansible/create-winux-session.yml', '-e', 'session_id=no-ssh', '-e', 'container_id=30002'], {
      proxmox_ssh_key_path: '',
      WINUX_PROXMOX_OSTEMPLATE: volid,
      WINUX_SESSION_PASSWORD: 'given-Secret-42',
    });
    assert.equal(r.code, 0, r.out);
    const ct = sim.cluster.cts.get(30002)!;
    assert.equal(ct.users.get('root'), 'given-Secret-42');
    assert.equal(ct.config.tags, 'winux;winux-session-no-ssh');
    assert.ok(!r.out.includes('given-Secret-42'), 'a given password is never printed');
    const d = await playbook(sim, ['ansible/destroy-winux-session.yml', '-e', 'container_id=30002']);
    assert.equal(d.code, 0, d.out);
  });

  it('WINUX_PROVIDER=ansible creates and destroys through the playbooks', async () => {
    const env = sim.env({ WINUX_PROVIDER: 'ansible', WINUX_DATA_DIR: sim.dir, WINUX_ANSIBLE_DIR: path.join(root, 'ansible') });
    process.env.proxmox_ssh_known_hosts = sim.knownHostsFile!;
    const config = loadConfig(env);
    const provider = createAnsibleProvider(config, silentLogger, fastTuning(sim));
    const steps: string[] = [];
    try {
      const m = await provider.create(
        {
          sessionId: 'ans-1',
          containerId: 30003,
          hostname: 'winux-30003',
          username: 'winux',
          password: 'ansible-Secret-1',
          memoryMb: 2048,
          cores: 1,
          diskGb: 10,
          pidsMax: 2048,
        },
        {
          signal: new AbortController().signal,
          progress: (s) => {
            steps.push(s);
          },
        },
      );
      assert.equal(m.ref.containerId, 30003);
      assert.equal(m.node, 'pve1');
      assert.equal(m.endpoint.port, 3389);
      assert.deepEqual(steps, ['allocating', 'cloning', 'starting', 'network', 'desktop', 'ready']);
      const ct = sim.cluster.cts.get(30003)!;
      assert.equal(ct.users.get('winux'), 'ansible-Secret-1');
      assert.equal(ct.config.memory, 2048);
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
});
