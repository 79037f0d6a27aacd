// Placement: the online node (among those allowed) with the most free memory,
// from the same /cluster/resources answer. Memory promised to creations is
// subtracted, so a burst of launches spreads instead of piling onto the node
// that looked emptiest a moment ago.
//
// A creation's promise outlives the creation: PVE's node figures come from
// pvestatd's last push (every 10 s, PROXMOX.md §2), so a CT made a moment ago is
// not yet in its node's `mem`. Releasing the promise when the creation ends made
// every creation of those 10 s land on the same node. The promise is dropped when
// a listing shows the CT running: the push that saw it running counted it in
// its node's memory. Other Winux processes on the cluster (replicas) promise
// memory this one cannot see, so the listing's session CTs that the figures do
// not count yet (being cloned, or made since the last push) count too.
import { ProviderError } from '../../core/errors.ts';
import type { NodeResource, VmResource } from './cluster-view.ts';

/** Longest a finished creation's promise waits to be seen (a token that cannot see the CT's figures never will). */
const unseenHoldMs = 60_000;

interface Promised {
  node: string;
  bytes: number;
  /** When the creation succeeded; unset while it runs. */
  createdAt?: number;
}

export class Reservations {
  private readonly held = new Map<number | symbol, Promised>();
  /** By node: the last listing's session CTs, not ours, that the figures did not count. */
  private listed = new Map<string, number>();
  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Promises `bytes` on `node` to the creation of CT `vmid`. Call the result when
   * the creation ends: a failed one's promise goes at once, a created one's stays
   * until `settle` sees the CT counted (or `unseenHoldMs` passed).
   */
  add(node: string, bytes: number, vmid?: number): (created?: boolean) => void {
    const key = vmid ?? Symbol('reservation');
    const entry: Promised = { node, bytes };
    this.held.set(key, entry);
    let done = false;
    return (created = false) => {
      if (done) return;
      done = true;
      if (created && vmid !== undefined && this.held.get(key) === entry) entry.createdAt = this.now();
      else if (this.held.get(key) === entry) this.held.delete(key);
    };
  }

  /**
   * Drops the promises of CTs this listing shows running (their node's figures
   * include them now), and counts, for each node, the memory of the listing's CTs
   * that `sessionBytes` calls sessions, are not running, and are not this process's.
   */
  settle(vms: VmResource[], sessionBytes: (vm: VmResource) => number = () => 0): void {
    const listed = new Map<string, number>();
    for (const v of vms) {
      const entry = this.held.get(v.vmid);
      if (entry && v.status === 'running' && v.node === entry.node) this.held.delete(v.vmid);
      else if (!entry && v.status !== 'running') listed.set(v.node, (listed.get(v.node) ?? 0) + sessionBytes(v));
    }
    this.listed = listed;
  }

  of(node: string): number {
    let sum = this.listed.get(node) ?? 0;
    const now = this.now();
    for (const [key, e] of this.held) {
      if (e.createdAt !== undefined && now - e.createdAt > unseenHoldMs) this.held.delete(key);
      else if (e.node === node) sum += e.bytes;
    }
    return sum;
  }
}

export interface PlacementInput {
  nodes: NodeResource[];
  /** Configured node names, or ['auto']. */
  allowed: string[];
  /** When set, only nodes that have a template may be chosen (linked clones stay on the template's node). */
  eligible?: Set<string>;
  reservations: Reservations;
  needBytes: number;
}

export function chooseNode(input: PlacementInput): string {
  const auto = input.allowed.length === 0 || input.allowed.includes('auto');
  const candidates = input.nodes.filter(
    (n) => n.status === 'online' && (auto || input.allowed.includes(n.node)) && (!input.eligible || input.eligible.has(n.node)),
  );
  if (!candidates.length) {
    const why = input.eligible ? ' that has a Winux template' : '';
    throw new ProviderError(`No online Proxmox node${why} among ${auto ? 'the cluster' : input.allowed.join(', ')}`, true);
  }
  // Without Sys.Audit the figures are missing; fall back to the configured order.
  const free = (n: NodeResource) => (n.maxmem !== undefined && n.mem !== undefined ? n.maxmem - n.mem : Number.NaN) - input.reservations.of(n.node);
  const known = candidates.filter((n) => !Number.isNaN(free(n)));
  if (!known.length) return candidates[0]!.node;
  known.sort((a, b) => free(b) - free(a) || a.node.localeCompare(b.node));
  const best = known[0]!;
  if (free(best) < input.needBytes) {
    throw new ProviderError(
      `The Proxmox cluster is full: the best node (${best.node}) has ${Math.floor(free(best) / 2 ** 20)} MiB free, a desktop needs ${Math.ceil(input.needBytes / 2 ** 20)} MiB`,
      true,
    );
  }
  return best.node;
}
