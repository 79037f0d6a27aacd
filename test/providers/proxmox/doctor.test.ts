// `winux doctor` checks for Proxmox: what is wrong, and what to do about it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import type { ProviderCheck } from '../../../src/core/provider-port.ts';
import { providerHealth } from '../../../src/http/health.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { fastTuning, simConfig } from './sim-config.ts';

const byName = (checks: ProviderCheck[]) => Object.fromEntries(checks.map((c) => [c.name, c]));

describe('proxmox doctor checks', () => {
  let sim: ProxmoxSim;
  before(async () => {
    sim = await startProxmoxSim({ templates: false });
  });
  after(async () => {
    await sim.close();
  });

  it('a healthy token without a template: says to push one', async () => {
    const p = createProxmoxProvider(simConfig(sim), silentLogger, fastTuning(sim));
    const c = byName(await p.check());
    assert.equal(c['proxmox-api']!.ok, true);
    assert.match(c['proxmox-api']!.detail, /Proxmox VE 8\.2\.4/);
    assert.equal(c['proxmox-permissions']!.ok, true);
    assert.equal(c['proxmox-template']!.ok, false);
    assert.match(c['proxmox-template']!.detail, /missing on pve1.*winux template push/);
    assert.equal(c['proxmox-storage']!.ok, true);
    assert.equal(c['proxmox-pool']!.ok, true);
    assert.equal(c['proxmox-ssh']!.ok, true, c['proxmox-ssh']!.detail);
    // PVE ships with the datacenter firewall off: the session containers' rules would do nothing.
    assert.equal(c['proxmox-firewall']!.ok, false);
    assert.match(c['proxmox-firewall']!.detail, /datacenter firewall is off.*--enable 1/);
    await p.close?.();
    sim.cluster.clusterFirewall.enable = 1;
    sim.cluster.addTemplate('pve1', 9000);
    const p2 = createProxmoxProvider(simConfig(sim), silentLogger, fastTuning(sim));
    const c2 = byName(await p2.check());
    assert.equal(c2['proxmox-template']!.ok, true);
    assert.equal(c2['proxmox-firewall']!.ok, true, c2['proxmox-firewall']!.detail);
    assert.match(c2['proxmox-template']!.detail, /pve1: CT 9000/);
    await p2.close?.();
  });

  it('a privilege-separated token with no ACL: empty lists, and the pveum commands to fix it', async () => {
    const t = sim.addToken('winux@pve!sep', [], true);
    const p = createProxmoxProvider(
      simConfig(sim, { proxmox_api_user: 'winux@pve', proxmox_api_token_id: 'sep', proxmox_api_token_secret: t.secret }),
      silentLogger,
      fastTuning(sim),
    );
    const c = byName(await p.check());
    assert.equal(c['proxmox-api']!.ok, true);
    assert.equal(c['proxmox-permissions']!.ok, false);
    assert.match(c['proxmox-permissions']!.detail, /lacks VM\.Allocate on \/pool\/winux/);
    assert.match(c['proxmox-permissions']!.detail, /pveum acl modify \/pool\/winux -token 'winux@pve!sep' -role PVEVMAdmin/);
    assert.equal(c['proxmox-template']!.ok, false, 'the template exists but this token cannot see it');
    assert.match(c['proxmox-template']!.detail, /may simply not see it/);
    assert.deepEqual(await p.list(), [], 'an empty list, not an error');
    await p.close?.();
  });

  it('a token with the documented ACLs passes the permission check', async () => {
    const t = sim.addToken(
      'winux@pve!ok',
      [
        { path: '/pool/winux', privs: ['PVEVMAdmin'] },
        { path: '/vms', privs: ['PVEVMAdmin'] },
        { path: '/storage/local-lvm', privs: ['PVEDatastoreUser'] },
        { path: '/nodes', privs: ['PVEAuditor'] },
        { path: '/sdn/zones/localnetwork', privs: ['SDN.Use'] },
      ],
      true,
    );
    const p = createProxmoxProvider(simConfig(sim, { proxmox_api_user: 'winux@pve!ok', proxmox_api_token_secret: t.secret }), silentLogger, fastTuning(sim));
    const c = byName(await p.check());
    assert.equal(c['proxmox-permissions']!.ok, true, c['proxmox-permissions']!.detail);
    assert.equal(c['proxmox-template']!.ok, true);
    await p.close?.();
  });

  it('permissions that cannot be read are "unknown", not every privilege missing, and /health stays 200', async () => {
    sim.cluster.faults.failingPaths = ['/access/permissions'];
    try {
      const p = createProxmoxProvider(simConfig(sim), silentLogger, fastTuning(sim));
      const checks = await p.check();
      const perms = checks.filter((c) => c.name === 'proxmox-permissions');
      assert.equal(perms.length, 1, 'one answer about permissions');
      assert.equal(perms[0]!.unknown, true);
      assert.match(perms[0]!.detail, /cannot read the token's permissions/);
      assert.doesNotMatch(perms[0]!.detail, /lacks/);
      const health = await providerHealth(p)();
      const failing = health.parts?.filter((c) => c.status === 'failing').map((c) => c.name) ?? [];
      assert.ok(!failing.includes('proxmox-permissions'));
      assert.equal(health.parts?.find((c) => c.name === 'proxmox-permissions')?.status, 'unknown');
      await p.close?.();
    } finally {
      sim.cluster.faults.failingPaths = [];
    }
  });

  it('a wrong secret and an unreachable API say what to check', async () => {
    const bad = createProxmoxProvider(simConfig(sim, { proxmox_api_token_secret: '00000000-0000-0000-0000-000000000000' }), silentLogger, fastTuning(sim));
    const c = byName(await bad.check());
    assert.equal(c['proxmox-api']!.ok, false);
    assert.match(c['proxmox-api']!.detail, /token was refused/);
    assert.ok(!c['proxmox-api']!.detail.includes('00000000-0000'), 'no secret in the message');
    await bad.close?.();
    const down = createProxmoxProvider(simConfig(sim, { proxmox_api_port: '1' }), silentLogger, fastTuning(sim));
    const d = byName(await down.check());
    assert.equal(d['proxmox-api']!.ok, false);
    assert.match(d['proxmox-api']!.detail, /cannot reach https:\/\/127\.0\.0\.1:1/);
    await down.close?.();
  });

  it('no SSH key: the provider is refused (doctor shows it as the provider check) with what to set', async () => {
    assert.throws(
      () => createProxmoxProvider(simConfig(sim, { proxmox_ssh_key_path: '' }), silentLogger, fastTuning(sim)),
      /Proxmox sessions need SSH to the nodes: set proxmox_ssh_key_path/,
    );
  });
});
