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

  it('keeps one template per desktop: a MATE push is tagged winux-template-mate, MATE sessions clone it, XFCE ones keep theirs', async () => {
    const config = simConfig(sim, { proxmox_node: 'auto', WINUX_DESKTOPS: 'xfce,mate,lxqt' });
    const mateArchive = path.join(sim.dir, 'debian-12-winux-mate_1.0_amd64.tar.zst');
    writeFileSync(mateArchive, Buffer.alloc(64 * 1024, 9));
    const xfceBefore = [...sim.cluster.cts.values()].filter((ct) => ct.config.template === 1 && ct.config.tags === 'winux-template').map((ct) => ct.vmid);
    assert.ok(xfceBefore.length > 0, 'the XFCE templates of the previous push');
    const [mate] = await pushTemplate(config, silentLogger, mateArchive, { nodes: ['pve2'], pollMs: 20, desktop: 'mate' });
    assert.equal(sim.cluster.cts.get(mate!.vmid)!.config.tags, 'winux-template-mate');
    assert.equal(sim.cluster.cts.get(mate!.vmid)!.config.hostname, 'winux-template-mate');
    assert.deepEqual(mate!.replaced, [], "another desktop's template is not retired");
    for (const id of xfceBefore) assert.equal(sim.cluster.cts.get(id)!.config.tags, 'winux-template', 'XFCE templates keep their tag');

    const provider = createProxmoxProvider(config, silentLogger, fastTuning(sim));
    try {
      const m = await provider.create({ ...spec(30402), desktop: 'mate' }, ctxFor());
      assert.equal(m.node, 'pve2', 'a MATE session goes where a MATE template is');
      assert.match(String(sim.cluster.cts.get(30402)!.config.rootfs), new RegExp(`base-${mate!.vmid}-disk-0/`));
      const x = await provider.create(spec(30403), ctxFor());
      const xfceTemplate = Number(/base-(\d+)-disk-0\//.exec(String(sim.cluster.cts.get(30403)!.config.rootfs))?.[1]);
      assert.ok(xfceBefore.includes(xfceTemplate), `an XFCE session clones an XFCE template (${xfceTemplate})`);
      await assert.rejects(provider.create({ ...spec(30404), desktop: 'lxqt' }, ctxFor()), /No lxqt CT template \(tag winux-template-lxqt\).*--desktop lxqt/);
      for (const ref of [m.ref, x.ref, { containerId: 30404, vmid: 30404 }]) await provider.destroy(ref);
    } finally {
      await provider.close?.();
    }
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
