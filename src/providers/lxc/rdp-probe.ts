// "Ready" means an RDP client can really start a session: this probe performs
// the first two steps every RDP client performs — an X.224 Connection Request
// asking for TLS security, the server's Connection Confirm selecting TLS, then a
// complete TLS handshake. A port that merely accepts TCP (xrdp still starting,
// or xrdp unable to read its key and falling back to RDP security, the "MAC
// checksum error" case) fails it. It spawns nothing and takes a few ms, so it can
// be polled quickly.
import net from 'node:net';
import tls from 'node:tls';

const PROTOCOL_SSL = 0x00000001;

/** TPKT + X.224 Connection Request carrying an RDP_NEG_REQ for TLS. */
function connectionRequest(): Buffer {
  const cookie = Buffer.from('Cookie: mstshash=winux\r\n', 'ascii');
  const neg = Buffer.from([0x01, 0x00, 0x08, 0x00, 0, 0, 0, 0]);
  neg.writeUInt32LE(PROTOCOL_SSL, 4);
  const x224 = Buffer.concat([Buffer.from([0, 0xe0, 0, 0, 0, 0, 0]), cookie, neg]);
  x224[0] = x224.length - 1; // length indicator excludes itself
  const tpkt = Buffer.from([0x03, 0x00, 0, 0]);
  tpkt.writeUInt16BE(tpkt.length + x224.length, 2);
  return Buffer.concat([tpkt, x224]);
}

export class RdpProbeError extends Error {
  name = 'RdpProbeError';
}

/** Parses the Connection Confirm; throws unless the server selected TLS. */
export function parseConnectionConfirm(buf: Buffer): void {
  if (buf.length < 11 || buf[0] !== 0x03) throw new RdpProbeError('not an RDP server (no TPKT header)');
  if ((buf[5]! & 0xf0) !== 0xd0) throw new RdpProbeError('no X.224 Connection Confirm');
  if (buf.length < 19) throw new RdpProbeError('server did not negotiate a security protocol (RDP security only)');
  const type = buf[11];
  const value = buf.readUInt32LE(15);
  if (type === 0x03) throw new RdpProbeError(`server refused TLS (negotiation failure code ${value})`);
  if (type !== 0x02) throw new RdpProbeError(`unexpected negotiation answer type ${type}`);
  if ((value & PROTOCOL_SSL) === 0) throw new RdpProbeError(`server selected protocol ${value}, not TLS`);
}

/**
 * Resolves when host:port completes X.224 + TLS negotiation within `timeoutMs`, with
 * the SHA-256 fingerprint of the certificate it presented; rejects otherwise.
 */
export function probeRdp(host: string, port: number, timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let done = false;
    const socket = net.connect({ host, port });
    let secure: tls.TLSSocket | undefined;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const fingerprint = err ? undefined : secure?.getPeerX509Certificate()?.fingerprint256;
      secure?.destroy();
      socket.destroy();
      if (err) reject(err);
      else resolve(fingerprint);
    };
    const timer = setTimeout(() => finish(new RdpProbeError(`no RDP answer from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new RdpProbeError('connection closed during RDP negotiation')));
    socket.on('connect', () => socket.write(connectionRequest()));
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      const length = received.readUInt16BE(2);
      if (received.length < length) return;
      socket.off('data', onData);
      try {
        parseConnectionConfirm(received.subarray(0, length));
      } catch (err) {
        finish(err as Error);
        return;
      }
      socket.removeAllListeners('close');
      // Self-signed per-session certificate: we check the handshake, not the identity.
      secure = tls.connect({ socket, rejectUnauthorized: false, servername: undefined });
      secure.on('secureConnect', () => finish());
      secure.on('error', (err) => finish(new RdpProbeError(`TLS handshake failed: ${err.message}`)));
      secure.on('close', () => finish(new RdpProbeError('connection closed during TLS handshake')));
    };
    socket.on('data', onData);
  });
}
