// Each simulated container gets its own loopback address, and once its
// "desktop" is up a tiny TCP listener there stands in for xrdp on 3389. That
// lets the provider's real readiness probe (connect to <ip>:3389) run without
// any packet leaving this machine.
import net from 'node:net';

export class LoopbackAddresses {
  private next = 1;
  /** A random second octet keeps two simulators in one test run apart. */
  constructor(readonly octet2 = 64 + Math.floor(Math.random() * 180)) {}

  allocate(): string {
    const n = this.next++;
    return `127.${this.octet2}.${(n >> 8) & 0xff}.${n & 0xff || 1}`;
  }

  /** Node addresses live in a corner of the same /16 that container addresses never reach. */
  nodeAddress(index: number): string {
    return `127.${this.octet2}.254.${index + 1}`;
  }
}

export const isLoopback = (ip: string) => /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);

/** `admit`: the CT firewall's verdict on a connection from `peer` (a refused one is reset, see vnc-server.ts). */
export async function listenRdp(ip: string, port: number, admit: (peer: string) => boolean = () => true): Promise<net.Server | null> {
  if (!isLoopback(ip)) return null; // never bind (or be asked to probe) anything that could leave the machine
  const server = net.createServer((socket) => {
    if (!admit((socket.remoteAddress ?? '').replace(/^::ffff:/, ''))) {
      socket.on('error', () => {});
      return void socket.resetAndDestroy();
    }
    // Answer like an RDP server would to a connection request, then let the client hang up.
    socket.once('data', () => socket.end(Buffer.from('0300000b06d00000123400', 'hex')));
    socket.on('error', () => {});
    socket.setTimeout(5000, () => socket.destroy());
  });
  return new Promise((resolve) => {
    server.once('error', () => resolve(null));
    server.listen(port, ip, () => resolve(server));
  });
}

export function closeServer(server: net.Server | null | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}
