// Destroy returns (and so lets the core give the id to another session) only
// once the cluster confirms the CT gone. A token that lost VM.Audit sees an empty
// /cluster/resources instead of an error, and a node that is briefly "unknown"
// cannot be reached: neither may pass for "gone".
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import type { Provider } from '../../../src/core/provider-port.ts';
import { allPrivileges } from '../../support/proxmox-sim/acl.ts';
import { startProxmoxSim, type ProxmoxSim, type SimToken } from '../../support/proxmox-sim/index.ts';
import { ctxFor, fastTuning, simConfig, spec } from './sim-config.ts';

const settled = (p: Promise<unknown>) =>
  Promise.race([
    p.then(
      () => 'resolved',
      () => 'rejected',
    ),
    new Promise((r) => setTimeout(() => r('pending'), 0)),
  ]);

describe('proxmox destroy confirms the CT gone before its id is reused', () => {
  let sim: ProxmoxSim;
  let token: SimToken;
  let provider: Provider;
  before(async () => {
    sim = await startProxmoxSim({ nodes: [{ name: 'pve1' }, { name: 'pve2' }] });
    token = sim.addToken('winux@pve!sessions', [{ path: '/', privs: ['Administrator'] }]);
    const config = simConfig(sim, { proxmox_api_user: token.id, proxmox_api_token_secret: token.secret, WINUX_DESTROY_TIMEOUT_SECONDS: '5' });
    provider = createProxmoxProvider(config, silentLogger, fastTuning(sim));
  });
  after(async () => {
    await provider.close?.();
    await sim.close();
  });

  it('a token that lost VM.Audit: destroy fails and says what to grant, the CT stays, status is not "missing"', async () => {
    const m = await provider.create(spec(30001, 'audit-lost'), ctxFor());
    token.acl = [{ path: '/', privs: allPrivileges.filter((p) => p !== 'VM.Audit') }];
    try {
      await assert.rejects(provider.destroy(m.ref), /CT 30001 still exists in the cluster.*VM\.Audit/);
      assert.ok(sim.cluster.cts.has(30001), 'the CT is still there, so its id must not be reused');
      await assert.rejects(provider.status({ containerId: 30001 }), /still exists in the cluster/);
      await assert.rejects(provider.status(m.ref), /403|Permission check failed/);
    } finally {
      token.acl = [{ path: '/', privs: ['Administrator'] }];
    }
    // Rights back: the same call removes it and reports it gone.
    await provider.destroy(m.ref);
    assert.equal(sim.cluster.cts.has(30001), false);
    assert.equal(await provider.status({ containerId: 30001 }), 'missing');
  });

  it('a node briefly "unknown": destroy keeps trying and finishes once the node answers again', async () => {
    const m = await provider.create(spec(30002, 'node-unknown'), ctxFor());
    const node = sim.cluster.nodes.get(m.node!)!;
    node.status = 'unknown';
    const done = provider.destroy(m.ref);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(await settled(done), 'pending', 'not done while the node cannot be reached');
    assert.ok(sim.cluster.cts.has(30002));
    await assert.rejects(provider.status(m.ref));
    node.status = 'online';
    await done;
    assert.equal(sim.cluster.cts.has(30002), false);
    assert.equal(await provider.status(m.ref), 'missing');
  });

  it('a CT that is really gone is confirmed at once (the vmlist no longer has its id)', async () => {
    await provider.destroy({ containerId: 30003, node: 'pve1' });
    assert.equal(await provider.status({ containerId: 30003, node: 'pve2' }), 'missing');
  });
});
