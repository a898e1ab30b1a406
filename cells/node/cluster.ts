import type { Model } from '../../core/api/index.js';

type NodeElement = Model<'NodeElement'>;
type ClusterNodeStatus = Model<'ClusterNodeStatus'>;

/** How many clients' views are kept; the least recently seen is forgotten first. */
export const MAX_CLUSTER_CLIENTS = 256;

/**
 * GET /v1/cluster/nodes as Cilium answers it: without a client id, every node; with one, the
 * nodes added and removed since that client's last call. A client id the agent does not know
 * (0, or forgotten) gets every node and a fresh id to use next time.
 */
export class ClusterNodes {
  private readonly clients = new Map<number, ReadonlyMap<string, NodeElement>>();
  private nextId = 1;

  constructor(
    private readonly self: () => string,
    private readonly nodes: () => readonly NodeElement[],
  ) {}

  /** The status for a client (`client-id` header; undefined when it sent none). */
  status(clientId: number | undefined): ClusterNodeStatus {
    const now = new Map(this.nodes().map((n) => [n.name ?? '', n]));
    if (clientId === undefined) {
      return { self: this.self(), 'nodes-added': [...now.values()], 'nodes-removed': [] };
    }
    const seen = this.clients.get(clientId);
    let id = clientId;
    if (!seen) {
      id = this.nextId++;
      if (this.clients.size >= MAX_CLUSTER_CLIENTS) {
        const oldest = this.clients.keys().next().value;
        if (oldest !== undefined) this.clients.delete(oldest);
      }
    } else this.clients.delete(clientId);
    this.clients.set(id, now);
    const before = seen ?? new Map<string, NodeElement>();
    const added = [...now.values()].filter(
      (n) => JSON.stringify(before.get(n.name ?? '')) !== JSON.stringify(n),
    );
    const removed = [...before.values()].filter((n) => !now.has(n.name ?? ''));
    return { self: this.self(), 'nodes-added': added, 'nodes-removed': removed, 'client-id': id };
  }
}

/** The local node as a NodeElement: its IPs, and the pod CIDRs it allocates from. */
export function localNodeElement(
  name: string,
  ips: readonly string[],
  podCidrs: Readonly<Partial<Record<'ipv4' | 'ipv6', string>>>,
): NodeElement {
  const primary: Model<'NodeAddressing'> = {};
  for (const family of ['ipv4', 'ipv6'] as const) {
    const ip = ips.find((a) => (family === 'ipv4') === !a.includes(':'));
    const range = podCidrs[family];
    primary[family] =
      ip === undefined && range === undefined
        ? { enabled: false }
        : {
            enabled: true,
            ...(ip !== undefined ? { ip } : {}),
            ...(range !== undefined ? { 'alloc-range': range } : {}),
            'address-type': 'InternalIP',
          };
  }
  return {
    name,
    'primary-address': primary,
    'secondary-addresses': [],
    // No health endpoint or ingress listener yet: both families present, disabled.
    'health-endpoint-address': { ipv4: { enabled: false }, ipv6: { enabled: false } },
    'ingress-address': { ipv4: { enabled: false }, ipv6: { enabled: false } },
    source: 'local',
  };
}
