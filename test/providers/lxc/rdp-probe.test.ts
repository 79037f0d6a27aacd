// The readiness probe must refuse everything that is not an RDP server ready for
// TLS: these fakes sit at the protocol boundary (real sockets on loopback).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { parseConnectionConfirm, probeRdp } from '../../../src/providers/lxc/rdp-probe.ts';

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function serve(onConnection: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer(onConnection);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** A Connection Confirm whose negotiation answer is `type` with `value`. */
function confirm(type: number | null, value = 0): Buffer {
  const x224 = [0, 0xd0, 0, 0, 0x12, 0x34, 0];
  const neg = type === null ? [] : [type, 0, 8, 0, value & 255, 0, 0, 0];
  const body = Buffer.from([...x224, ...neg]);
  body[0] = body.length - 1;
  const tpkt = Buffer.from([3, 0, 0, 0]);
  tpkt.writeUInt16BE(4 + body.length, 2);
  return Buffer.concat([tpkt, body]);
}

test('a port that accepts and closes is not ready', async () => {
  const port = await serve((s) => s.end());
  await assert.rejects(probeRdp('127.0.0.1', port, 1000));
});

test('a silent port times out', async () => {
  const port = await serve(() => {});
  await assert.rejects(probeRdp('127.0.0.1', port, 300), /no RDP answer/);
});

test('nothing listening is refused', async () => {
  const port = await serve(() => {});
  servers.pop()!.close();
  await new Promise((r) => setTimeout(r, 50));
  await assert.rejects(probeRdp('127.0.0.1', port, 1000), /ECONNREFUSED/);
});

test('the Connection Confirm parser accepts TLS and rejects RDP security or failures', () => {
  assert.doesNotThrow(() => parseConnectionConfirm(confirm(0x02, 1)));
  assert.throws(() => parseConnectionConfirm(confirm(null)), /RDP security only/);
  assert.throws(() => parseConnectionConfirm(confirm(0x03, 2)), /refused TLS/);
  assert.throws(() => parseConnectionConfirm(confirm(0x02, 0)), /not TLS/);
  assert.throws(() => parseConnectionConfirm(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')), /not an RDP server/);
});

test('a server that selects TLS but cannot complete the handshake is not ready', async () => {
  // Answers the negotiation like xrdp, then sends garbage instead of a TLS ServerHello.
  const port = await serve((s) =>
    s.once('data', () => {
      s.write(confirm(0x02, 1));
      s.once('data', () => s.end('not tls at all'));
    }),
  );
  await assert.rejects(probeRdp('127.0.0.1', port, 2000), /TLS|closed/);
});
