// The browser desktop of Proxmox sessions, against the simulator: each CT's
// Xvnc listens on its (loopback) address after winux-session-init --vnc-network,
// asks for VNC authentication with the session password, and sits behind the
// CT firewall, which admits its port from WINUX_PROXMOX_VIEWER_SOURCES only.
// Judged from the outside: what a viewer of Winux's WebSocket sees, what
// reaches the simulated desktop, which connections its firewall resets.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config.ts';
import { ProviderError } from '../../../src/core/errors.ts';
import type { Provider } from '../../../src/core/provider-port.ts';
import { ByteQueue, handshakeWithDesktop } from '../../../src/desktop/rfb.ts';
import { silentLogger } from '../../../src/logger.ts';
import { createProxmoxProvider } from '../../../src/providers/proxmox/index.ts';
import { RfbClient } from '../../support/rfb-client.ts';
import { startProxmoxSim, type ProxmoxSim } from '../../support/proxmox-sim/index.ts';
import { createReadySession, ownRange, startTestServer, type TestServer, tempDir, waitFor } from '../../support/server.ts';
import { ctxFor, fastTuning, simConfig, spec } from './sim-config.ts';

const api = '/api/winux';
const base = { WINUX_HOST: '127.0.0.1', WINUX_PORT: '0', ...ownRange(30601, 20).env };
// Winux's own address as the simulated CTs see it: connections to 127.x.y.z come from 127.0.0.1.
const viewerSources = { WINUX_PROXMOX_VIEWER_SOURCES: '127.0.0.1' };

async function startWinux(sim: ProxmoxSim, env: Record<string, string>): Promise<TestServer> {
  const dataDir = tempDir();
  const config = simConfig(sim, { ...base, ...env, WINUX_DATA_DIR: dataDir });
  return startTestServer({ provider: createProxmoxProvider(config, silentLogger, fastTuning(sim)), config, dataDir });
}

const wsUrl = (server: TestServer, p: string) => `${server.url.replace(/^http/, 'ws')}${api}${p}`;

/** Everything a TCP connection from `localAddress` gets before it closes: a firewall reset gets nothing. */
function probe(ip: string, port: number, localAddress?: string, send?: Buffer): Promise<{ bytes: Buffer; error?: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket = net.connect({ host: ip, port, localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the connection to ${ip}:${port} neither answered nor closed`));
    }, 10_000);
    socket.on('connect', () => {
      if (send) socket.write(send);
    });
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // Enough to know the door opened: RFB's greeting is 12 bytes, the RDP stand-in's answer 11.
      if (Buffer.concat(chunks).length >= 11) socket.destroy();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ bytes: Buffer.concat(chunks), error });
    });
  });
}

/** Winux's own client side of the VNC handshake (src/desktop/rfb.ts), straight to a CT's Xvnc. */
function vncLogin(ip: string, port: number, password: string): Promise<{ ok: true; width: number; height: number } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: ip, port });
    const input = new ByteQueue();
    socket.on('data', (d: Buffer) => input.push(d));
    socket.on('error', (e) => input.fail(e));
    socket.on('close', () => input.fail(new Error('closed')));
    handshakeWithDesktop(input, (b) => socket.write(b), password).then(
      (init) => {
        socket.destroy();
        resolve({ ok: true, width: init.readUInt16BE(0), height: init.readUInt16BE(2) });
      },
      (e: Error) => {
        socket.destroy();
        resolve({ ok: false, error: e.message });
      },
    );
  });
}

describe('the browser desktop of Proxmox sessions', () => {
  let sim: ProxmoxSim;
  let server: TestServer;
  let a: Awaited<ReturnType<typeof createReadySession>>;
  let b: Awaited<ReturnType<typeof createReadySession>>;

  before(async () => {
    sim = await startProxmoxSim({ clusterFirewall: true });
    server = await startWinux(sim, viewerSources);
    a = await createReadySession(server);
    b = await createReadySession(server);
  });
  after(async () => {
    await server?.close();
    await sim?.close();
  });

  it("Winux's WebSocket shows the session's own desktop: RFB handshake, ServerInit, a framebuffer update; keys reach it", async () => {
    const ct = sim.cluster.cts.get(a.containerId)!;
    assert.equal(ct.vncNetwork, true, 'session-init ran with --vnc-network');
    assert.equal(ct.vncPassword, a.password, "the desktop's VNC password is the session password");
    const viewer = await RfbClient.connect({ url: wsUrl(server, `/sessions/${a.id}/desktop`), headers: { authorization: `Bearer ${a.token}` } });
    try {
      assert.deepEqual([viewer.width, viewer.height, viewer.name], [160, 100, 'Winux']);
      await viewer.update(false);
      assert.equal(viewer.updates, 1);
      assert.ok(viewer.distinctColours() > 1000, `${viewer.distinctColours()} colours`);
      // The simulated picture carries the vmid in its blue channel: this is A's desktop, not B's.
      const blue = new Set<number>();
      for (let i = 0; i < viewer.pixels.length; i += 4) blue.add(viewer.pixels[i]!);
      assert.deepEqual([...blue], [a.containerId & 0xff]);
      const at = (x: number, y: number) => [viewer.pixels[(y * 160 + x) * 4 + 2], viewer.pixels[(y * 160 + x) * 4 + 1]];
      assert.deepEqual(
        [at(0, 0), at(159, 99)],
        [
          [0, 0],
          [255, 255],
        ],
      );
      viewer.type('q');
      await waitFor(() => ct.desktop.input.some((e) => e.type === 'key' && (e.detail as number[])[1] === 0x71), 5000, 'the key on the desktop');
    } finally {
      viewer.close();
    }
    assert.deepEqual(ct.refused, [], "Winux's own connection was admitted");
    assert.equal(ct.desktop.authFailures, 0);

    // View-only (the owner's ?view_only=1): the server drops input on Proxmox as on LXC.
    const before = ct.desktop.input.length;
    const looker = await RfbClient.connect({ url: wsUrl(server, `/sessions/${a.id}/desktop?view_only=1`), headers: { authorization: `Bearer ${a.token}` } });
    try {
      looker.type('zz');
      looker.pointer(10, 10, 1);
      await looker.update(false);
      assert.equal(ct.desktop.input.length, before, 'nothing a view-only viewer sent reached the desktop');
      // Winux opened it with the view-only password: the desktop itself ignores that viewer.
      assert.deepEqual(ct.desktop.logins, ['full', 'view-only']);
    } finally {
      looker.close();
    }

    // Another session's token opens nothing: the same answer as an unknown id.
    const refusal = (id: string) =>
      RfbClient.connect({ url: wsUrl(server, `/sessions/${id}/desktop`), headers: { authorization: `Bearer ${b.token}` } }).then(
        () => 0,
        (e: { statusCode?: number }) => e.statusCode ?? -1,
      );
    assert.equal(await refusal(a.id), 403);
    assert.equal(await refusal(a.id.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'))), 403);
  });

  it("the CT firewall admits the VNC port from Winux's addresses only: not from another session, the node or the LAN", async () => {
    const ct = sim.cluster.cts.get(a.containerId)!;
    const rule = ct.firewall.rules.find((r) => r.dport === String(sim.cluster.vncPort));
    assert.deepEqual(rule && [rule.type, rule.action, rule.proto, rule.source, rule.enable], ['in', 'ACCEPT', 'tcp', '127.0.0.1/32', 1]);

    const port = sim.cluster.vncPort;
    const fromWinux = await probe(a.ip, port);
    assert.equal(fromWinux.bytes.subarray(0, 12).toString('latin1'), 'RFB 003.008\n', 'Winux is greeted by Xvnc');

    const octet2 = a.ip.split('.')[1];
    const node = sim.cluster.nodes.get('pve1')!.ip;
    const strangers: Array<[string, string]> = [
      ['another session', b.ip],
      ['the Proxmox node', node],
      ['an address not in the viewer sources', `127.${octet2}.200.7`],
    ];
    for (const [who, from] of strangers) {
      const r = await probe(a.ip, port, from);
      assert.equal(r.bytes.length, 0, `${who} (${from}) got ${r.bytes.length} bytes of the desktop`);
      assert.ok(ct.refused.includes(`${from} → ${port}`), `${who}: refused by the CT firewall (${ct.refused.join(', ')})`);
    }
    // The same rules, packet by packet: the LAN, the internet and IPv6 are dropped; RDP is as it was.
    const v = (peer: string, dport: number) => sim.cluster.packetVerdict(a.containerId, { direction: 'in', peer, proto: 'tcp', dport });
    assert.equal(v('192.168.1.20', port), 'DROP');
    assert.equal(v('198.51.100.7', port), 'DROP');
    assert.equal(v('fe80::2', port), 'DROP');
    assert.equal(v('127.0.0.1', port), 'ACCEPT');
    assert.equal(v('192.168.1.20', sim.cluster.rdpPort), 'ACCEPT', 'RDP stays open to every IPv4 client');
    const rdpFromB = await probe(a.ip, sim.cluster.rdpPort, b.ip, Buffer.from('0300000b06e00000000000', 'hex'));
    assert.ok(rdpFromB.bytes.length > 0, 'the VNC rule changed nothing for RDP');

    // B's desktop is closed to A in the same way.
    assert.equal((await probe(b.ip, port, a.ip)).bytes.length, 0);
  });

  it('the stream closes when the session ends', async () => {
    const viewer = await RfbClient.connect({ url: wsUrl(server, `/sessions/${b.id}/desktop`), headers: { authorization: `Bearer ${b.token}` } });
    await viewer.update(false);
    const del = await server.request('DELETE', `${api}/sessions/${b.id}`, { token: b.token });
    assert.ok([200, 202].includes(del.status), JSON.stringify(del.body));
    await viewer.closed();
    assert.equal(viewer.closeCode, 4000);
  });
});

describe('Proxmox desktop credentials and settings', () => {
  let sim: ProxmoxSim;
  before(async () => {
    sim = await startProxmoxSim({ clusterFirewall: true });
  });
  after(async () => {
    await sim.close();
  });

  it("a warm-pool claim is answered with the member's own password, no SSH on the way; Winux opens the desktop with it; the end time follows", async () => {
    const server = await startWinux(sim, { ...viewerSources, WINUX_POOL_SIZE: '1', WINUX_CONTAINER_ID_MIN: '30621', WINUX_CONTAINER_ID_MAX: '30630' });
    try {
      // Ready in the store (not merely booted in the simulator), so the next click claims it.
      const pooled = await waitFor(async () => (await server.store.list({ pooled: true, statuses: ['ready'] }))[0], 30_000, 'a ready pool member');
      const member = sim.cluster.cts.get(pooled.containerId)!;
      assert.ok(member.vnc, "the member's Xvnc listens on its address");
      const sshBefore = sim.ssh!.commands.length;

      const s = await createReadySession(server);
      assert.equal(s.containerId, member.vmid, 'the session was served by the pool member');
      assert.equal(s.password, pooled.password, 'the password made for the member at its creation');
      assert.equal(member.vncPassword, s.password, "the desktop's VNC password is the one handed out");
      assert.equal((await vncLogin(member.ip!, sim.cluster.vncPort, 'wrong-password')).ok, false, 'a wrong one is refused');
      assert.deepEqual(await vncLogin(member.ip!, sim.cluster.vncPort, s.password), { ok: true, width: 160, height: 100 });

      const viewer = await RfbClient.connect({ url: wsUrl(server, `/sessions/${s.id}/desktop`), headers: { authorization: `Bearer ${s.token}` } });
      try {
        await viewer.update(false);
        assert.ok(viewer.distinctColours() > 1000);
      } finally {
        viewer.close();
      }
      // After the answer, one pct exec pushed the end time (winux-session-set), and nothing else ran in the CT.
      const pushed = await waitFor(
        async () => {
          const since = sim.ssh!.commands.slice(sshBefore).filter((c) => c.includes(`pct exec ${member.vmid} `));
          return since.length ? since : undefined;
        },
        10_000,
        'the end time pushed into the CT',
      );
      assert.equal(pushed.length, 1, pushed.join('\n'));
      const endsAt = Math.ceil((await server.store.get(s.id))!.expiresAt / 1000);
      assert.ok(pushed[0]!.includes('winux-session-set') && pushed[0]!.includes(String(endsAt)), pushed[0]);
      for (const c of sim.ssh!.commands) assert.ok(!c.includes(s.password), `a password on a command line: ${c}`);
    } finally {
      await server.close();
    }
  });

  it('without WINUX_PROXMOX_VIEWER_SOURCES: Xvnc stays off the network, no firewall door, and the WebSocket says 503', async () => {
    const server = await startWinux(sim, { WINUX_CONTAINER_ID_MIN: '30631', WINUX_CONTAINER_ID_MAX: '30635' });
    try {
      const s = await createReadySession(server);
      const ct = sim.cluster.cts.get(s.containerId)!;
      assert.equal(ct.vncNetwork, false);
      assert.equal(
        ct.firewall.rules.some((r) => r.dport === String(sim.cluster.vncPort)),
        false,
      );
      assert.equal((await probe(s.ip, sim.cluster.vncPort)).error, 'ECONNREFUSED', 'nothing listens on the VNC port');
      await assert.rejects(
        RfbClient.connect({ url: wsUrl(server, `/sessions/${s.id}/desktop`), headers: { authorization: `Bearer ${s.token}` } }),
        (e: { statusCode?: number }) => e.statusCode === 503,
      );
      const health = await server.request('GET', `${api}/health`);
      assert.equal(health.status, 200, 'a Proxmox Winux without a browser desktop is still healthy');
    } finally {
      await server.close();
    }
  });

  it('openDesktop fails as a retryable ProviderError when the desktop does not answer, or when aborted', async () => {
    const config = simConfig(sim, { ...viewerSources, WINUX_CONTAINER_ID_MIN: '30636', WINUX_CONTAINER_ID_MAX: '30640' });
    const provider: Provider = createProxmoxProvider(config, silentLogger, fastTuning(sim));
    try {
      const m = await provider.create(spec(30636), ctxFor());
      assert.equal(m.ref.ip, m.ip, 'the address is in the ref');
      const stream = await provider.openDesktop!(m.ref, AbortSignal.timeout(5000));
      stream.destroy();
      // A ref from before the address was recorded: found through /interfaces.
      const { ip: _ip, ...oldRef } = m.ref;
      (await provider.openDesktop!(oldRef, AbortSignal.timeout(5000))).destroy();

      const nobody = { ...m.ref, ip: `127.${m.ip.split('.')[1]}.201.9` };
      await assert.rejects(provider.openDesktop!(nobody), (e) => e instanceof ProviderError && e.retryable && /did not answer/.test(e.message));
      const aborted = AbortSignal.abort();
      await assert.rejects(provider.openDesktop!(m.ref, aborted), (e) => e instanceof ProviderError && e.retryable);
      await provider.destroy(m.ref);
      await assert.rejects(provider.openDesktop!(m.ref), (e) => e instanceof ProviderError && e.retryable);
    } finally {
      await provider.close?.();
    }
  });

  it('WINUX_PROXMOX_VIEWER_SOURCES takes IPv4 addresses and networks, and refuses anything else or a /0', () => {
    const load = (v: string) => loadConfig({ WINUX_DATA_DIR: tempDir(), WINUX_PROXMOX_VIEWER_SOURCES: v });
    assert.deepEqual(load('10.0.0.5, 192.168.4.0/29').proxmox.viewerSources, ['10.0.0.5/32', '192.168.4.0/29']);
    assert.deepEqual(loadConfig({ WINUX_DATA_DIR: tempDir() }).proxmox.viewerSources, []);
    for (const bad of ['10.0.0.256', 'winux.example.org', 'fe80::1', '10.0.0.0/33', '0.0.0.0/0']) {
      assert.throws(
        () => load(bad),
        (e) => e instanceof ConfigError && e.problems.some((p) => p.startsWith('WINUX_PROXMOX_VIEWER_SOURCES:')),
        bad,
      );
    }
  });
});
