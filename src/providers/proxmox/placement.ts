// Placement: the online node (among those allowed) with the most free memory,
// from the same /cluster/resources answer. Memory promised to creations still in
// flight is subtracted, so a burst of launches spreads instead of piling onto
// the node that looked emptiest a moment ago.
import { ProviderError } from '../../core/errors.ts';
import type { NodeResource } from './cluster-view.ts';

export class Reservations {
  private readonly byNode = new Map<string, number>();
  add(node: string, bytes: number): () => void {
    this.byNode.set(node, (this.byNode.get(node) ?? 0) + bytes);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.byNode.set(node, (this.byNode.get(node) ?? 0) - bytes);
    };
  }
  of(node: string): number {
    return this.byNode.get(node) ?? 0;
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
