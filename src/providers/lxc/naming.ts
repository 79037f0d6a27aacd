// Everything about a session that is derived from its container id: the
// container name, its address and its RDP port. Deterministic, so nothing needs
// allocating or remembering — the core already guarantees ids are unique, and a
// restarted server finds the same values again.
import type { Config } from '../../config.ts';

export const namePattern = /^winux-(\d+)$/;

export function containerName(containerId: number): string {
  return `winux-${containerId}`;
}

export function containerIdOf(name: string): number | null {
  const m = namePattern.exec(name);
  return m ? Number(m[1]) : null;
}

/** The host side of the session's veth pair (at most 15 characters), named so rules and checks can find it. */
export function vethName(containerId: number): string {
  return `wxv${containerId}`.slice(0, 15);
}

export interface SubnetPlan {
  /** First two octets, e.g. "10.217". */
  prefix: string;
  /** The bridge's address on the host (the containers' gateway). */
  gateway: string;
  cidr: string;
}

export function subnetPlan(subnet: string): SubnetPlan {
  const m = /^(\d+)\.(\d+)\.0\.0\/16$/.exec(subnet);
  if (!m) throw new Error(`WINUX_LXC_SUBNET: expected a x.y.0.0/16 subnet, got ${subnet}`);
  const prefix = `${m[1]}.${m[2]}`;
  return { prefix, gateway: `${prefix}.0.1`, cidr: subnet };
}

/** Addresses .0.1–.0.9 are kept for the host; sessions use the rest of the /16. */
const firstHost = 10;
const hostSlots = 65_534 - firstHost + 1;

/**
 * The session's static address, from the container id alone (not its offset in
 * the configured range), so two configurations sharing the bridge — a test
 * server next to a real one — never hand out the same address for different ids.
 */
export function containerIp(config: Config, containerId: number): string {
  if (config.containerIdMax - config.containerIdMin + 1 > hostSlots) {
    throw new Error(`WINUX_CONTAINER_ID_MIN..MAX spans more ids than ${config.lxc.subnet} has addresses (${hostSlots})`);
  }
  const host = firstHost + (containerId % hostSlots);
  const { prefix } = subnetPlan(config.lxc.subnet);
  return `${prefix}.${host >> 8}.${host & 255}`;
}

/** The gateway port for a session: `rdpPortMin + (containerId - containerIdMin)`. */
export function rdpPort(config: Config, containerId: number): number {
  const port = config.lxc.rdpPortMin + (containerId - config.containerIdMin);
  if (containerId < config.containerIdMin || port > config.lxc.rdpPortMax) {
    throw new Error(
      `container id ${containerId} has no RDP port: WINUX_RDP_PORT_MIN..MAX (${config.lxc.rdpPortMin}..${config.lxc.rdpPortMax}) is smaller than the container id range`,
    );
  }
  return port;
}
