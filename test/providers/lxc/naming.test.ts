import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../../src/config.ts';
import { containerIdOf, containerIp, containerName, rdpPort, vethName } from '../../../src/providers/lxc/naming.ts';

const config = loadConfig({});

test('names, addresses and ports are derived from the container id and never collide', () => {
  assert.equal(containerName(30001), 'winux-30001');
  assert.equal(containerIdOf('winux-30001'), 30001);
  assert.equal(containerIdOf('winux-template'), null);
  assert.equal(containerIp(config, 30001), '10.217.117.59'); // 10 + 30001 = 30011 = 117 * 256 + 59
  assert.equal(containerIp(loadConfig({ WINUX_CONTAINER_ID_MIN: '30500' }), 30501), containerIp(config, 30501), 'the address does not depend on the range');
  assert.equal(rdpPort(config, 30001), 33890);
  assert.equal(rdpPort(config, 30999), 34888);
  const ips = new Set<string>();
  const ports = new Set<number>();
  for (let id = config.containerIdMin; id <= config.containerIdMax; id++) {
    const ip = containerIp(config, id);
    assert.match(ip, /^10\.217\.\d+\.\d+$/);
    assert.notEqual(ip, '10.217.0.1');
    ips.add(ip);
    ports.add(rdpPort(config, id));
    assert.ok(vethName(id).length <= 15);
  }
  assert.equal(ips.size, config.containerIdMax - config.containerIdMin + 1);
  assert.equal(ports.size, ips.size);
});

test('an id range wider than the port range is refused with the variable names', () => {
  const narrow = loadConfig({ WINUX_RDP_PORT_MIN: '40000', WINUX_RDP_PORT_MAX: '40009' });
  assert.equal(rdpPort(narrow, narrow.containerIdMin + 9), 40009);
  assert.throws(() => rdpPort(narrow, narrow.containerIdMin + 10), /WINUX_RDP_PORT_MIN\.\.MAX/);
});
