// Static addresses instead of DHCP: WINUX_PROXMOX_IP_POOL lists ranges, e.g.
// "10.20.0.10-10.20.0.250/24,gw=10.20.0.1". Container id N takes the address at
// offset N - WINUX_CONTAINER_ID_MIN, so allocation needs no shared state and two
// live containers can never get the same address (ids are unique).
import { ProviderError } from '../../core/errors.ts';

export interface IpPool {
  addresses: string[];
  prefix: number;
  gateway?: string;
}

const toInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
const ipRe = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIpPool(spec: string): IpPool {
  const addresses: string[] = [];
  let prefix = 24;
  let gateway: string | undefined;
  for (const raw of spec.split(/[\s,]+/).filter(Boolean)) {
    if (raw.startsWith('gw=')) {
      gateway = raw.slice(3);
      continue;
    }
    const [range, p] = raw.split('/');
    if (p !== undefined) prefix = Number(p);
    const [a, b = a] = range!.split('-');
    if (!ipRe.test(a!) || !ipRe.test(b!)) throw new ProviderError(`WINUX_PROXMOX_IP_POOL: "${raw}" is not an IPv4 address or range`);
    for (let n = toInt(a!); n <= toInt(b!); n++) addresses.push(toIp(n));
  }
  if (!addresses.length) throw new ProviderError('WINUX_PROXMOX_IP_POOL: no addresses');
  if (!(prefix >= 1 && prefix <= 32)) throw new ProviderError('WINUX_PROXMOX_IP_POOL: prefix must be 1-32');
  return { addresses, prefix, gateway };
}

export function addressFor(pool: IpPool, containerId: number, idMin: number): string {
  const offset = containerId - idMin;
  const ip = pool.addresses[offset];
  if (offset < 0 || !ip) {
    throw new ProviderError(
      `WINUX_PROXMOX_IP_POOL has ${pool.addresses.length} addresses, too few for container id ${containerId} (offset ${offset}); widen it to cover the whole id range`,
    );
  }
  return ip;
}

/** The `ip=…,gw=…` part of a netN property string. */
export function staticNetParams(pool: IpPool, ip: string): string {
  return `ip=${ip}/${pool.prefix}${pool.gateway ? `,gw=${pool.gateway}` : ''}`;
}
