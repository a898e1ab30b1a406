import type { Metrics } from '../metrics/index.js';
import type { IdentityAllocator } from './allocator.js';

/** Cilium's local-scope bit: identities valid on this node only (CIDR identities). */
const LOCAL_SCOPE = 0x01000000;

/** The `type` label of an identity, as Cilium's `identity{type}` gauge names them. */
export function identityType(i: { readonly id: number; readonly reserved: boolean }): string {
  if (i.reserved) return 'reserved';
  return (i.id & LOCAL_SCOPE) !== 0 ? 'node_local' : 'cluster_local';
}

/** `cellium_identity{type}`: the allocator's identities by type, counted when scraped. */
export function registerIdentityMetrics(p: {
  readonly metrics: Metrics | undefined;
  readonly ids: IdentityAllocator;
}): void {
  const { metrics, ids } = p;
  metrics?.gaugeFrom({
    name: 'cellium_identity',
    help: 'Number of security identities allocated on this node, by type',
    labelNames: ['type'],
    read: () => {
      const n = new Map<string, number>([
        ['reserved', 0],
        ['cluster_local', 0],
        ['node_local', 0],
      ]);
      for (const i of ids.list()) n.set(identityType(i), (n.get(identityType(i)) ?? 0) + 1);
      return [...n].map(([type, v]) => [{ type }, v] as const);
    },
  });
}
