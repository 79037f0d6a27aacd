// `winux template push` against the simulator: multipart upload, create, convert
// to template on every node; sessions then clone from the pushed templates.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import { pushTemplate } from '../../../src/providers/proxmox/template-push.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { ctxFor, fastTuning, simConfig, spec } from './sim-config.ts';

describe('template push', () => {
  let sim: ProxmoxSim;
  let archive: string;
  before(async () => {
    sim = await startProxmoxSim({ nodes: [{ name: 'pve1' }, { name: 'pve2' }], templates: [{ node: 'pve1', vmid: 8000 }] });
    archive = path.join(sim.dir, 'winux-desktop_1.0_amd64.tar.zst');
    writeFileSync(archive, Buffer.alloc(256 * 1024, 7));
  });
  after(async () => {
    await sim.close();
  });

  it('uploads the archive and makes a tagged CT template on every node, retiring the old one', async () => {
    const config = simConfig(sim, { proxmox_node: 'auto' });
    const pushed = await pushTemplate(config, silentLogger, archive, { nodes: ['all'], pollMs: 20 });
    assert.deepEqual(
      pushed.map((p) => p.node),
      ['pve1', 'pve2'],
    );
    for (const p of pushed) {
      const vol = sim.cluster.nodes.get(p.node)!.volumes.get('local:vztmpl/winux-desktop_1.0_amd64.tar.zst');
      assert.equal(vol?.size, 256 * 1024, 'the whole file arrived');
      const ct = sim.cluster.cts.get(p.vmid)!;
      assert.equal(ct.node, p.node);
      assert.equal(ct.config.template, 1);
      assert.equal(ct.config.tags, 'winux-template');
      assert.equal(ct.config.unprivileged, 1);
    }
    assert.deepEqual(pushed[0]!.replaced, [8000]);
    assert.equal(sim.cluster.cts.get(8000)!.config.tags, 'winux-template-old');

    const provider = createProxmoxProvider(config, silentLogger, fastTuning(sim));
    const a = await provider.create(spec(30401), ctxFor());
    assert.match(String(sim.cluster.cts.get(30401)!.config.rootfs), new RegExp(`base-${pushed.find((p) => p.node === a.node)!.vmid}-disk-0/`));
    await provider.destroy(a.ref);
    await provider.close?.();
  });

  it('refuses a file name PVE would reject, and a storage without vztmpl content', async () => {
    const config = simConfig(sim);
    await assert.rejects(pushTemplate(config, silentLogger, path.join(sim.dir, 'desktop.img')), /must be letters, digits/);
    await assert.rejects(
      pushTemplate(config, silentLogger, archive, { nodes: ['pve1'], storage: 'local-lvm' }),
      /storage 'local-lvm' does not support 'vztmpl' content/,
    );
  });
});
