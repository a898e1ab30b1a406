import { Subject, type Observable } from 'rxjs';
import type { Model } from '../../core/api/index.js';
import { token } from '../../core/hive/index.js';
import type { NodeIds } from './ids.js';
import type { StaticNode } from './static-nodes.js';

type NodeElement = Model<'NodeElement'>;

/** A node's health endpoint addresses (either family may be absent). */
export interface HealthAddresses {
  readonly ipv4?: string;
  readonly ipv6?: string;
}

/** The nodes this agent knows: the local node, the static ones (--nodes-file), the kvstore's. */
export interface ClusterNodeList {
  /** The local node's name (`<cluster>/<node>`). */
  readonly self: string;
  /** Every known node, the local one first, as GET /v1/cluster/nodes lists them. */
  list(): NodeElement[];
  /** Emits after each change of the list. */
  readonly changes$: Observable<void>;
  /** The local node's health endpoint addresses, once it exists (undefined: none). */
  setLocalHealth(addrs: HealthAddresses | undefined): void;
}

/** The nodes the agent knows (the health cell probes them; GET /v1/cluster/nodes lists them). */
export const ClusterNodeList = token<ClusterNodeList>('node/ClusterNodeList');

/** The source of a node read from --nodes-file (Cilium's sources are local, kvstore, k8s...). */
export const STATIC_SOURCE = 'static';

/** The source of a node learned from the kvstore (Cilium's name). */
export const KVSTORE_SOURCE = 'kvstore';

/** The source of a node learned from a Kubernetes Node object (Cilium's name). */
export const K8S_SOURCE = 'k8s';

function addressing(ip: string | undefined, range?: string): Model<'NodeAddressingElement'> {
  if (ip === undefined && range === undefined) return { enabled: false };
  return {
    enabled: true,
    ...(ip !== undefined ? { ip } : {}),
    ...(range !== undefined ? { 'alloc-range': range } : {}),
    'address-type': 'InternalIP',
  };
}

/** A remote node (from the nodes file or the kvstore) as a NodeElement. */
export function staticNodeElement(n: StaticNode): NodeElement {
  const range = (v6: boolean): string | undefined => n.podCidrs.find((c) => c.includes(':') === v6);
  return {
    name: n.name,
    'primary-address': {
      ipv4: addressing(n.ipv4, range(false)),
      ipv6: addressing(n.ipv6, range(true)),
    },
    'secondary-addresses': [],
    'health-endpoint-address': {
      ipv4: addressing(n.healthIpv4),
      ipv6: addressing(n.healthIpv6),
    },
    'ingress-address': { ipv4: { enabled: false }, ipv6: { enabled: false } },
    source: STATIC_SOURCE,
  };
}

/** Where a remote node was learned: --nodes-file, Kubernetes or the kvstore (Cilium: local, kvstore, k8s...). */
export type NodeSource = typeof STATIC_SOURCE | typeof K8S_SOURCE | typeof KVSTORE_SOURCE;

/** A remote node and where it was learned. */
export interface KnownNode {
  readonly node: StaticNode;
  readonly source: NodeSource;
}

/**
 * Sources in precedence order: a node known from two is taken from the first (Cilium's order:
 * the kvstore before Kubernetes; the nodes file, which Cilium lacks, last).
 */
const PRECEDENCE: readonly NodeSource[] = [KVSTORE_SOURCE, K8S_SOURCE, STATIC_SOURCE];

/**
 * The list over a local node (read when asked) and remote nodes per source (each set whole when
 * that source changes). A node named by two sources is listed once, from the kvstore.
 */
export class NodeList implements ClusterNodeList {
  private readonly changes = new Subject<void>();
  private readonly bySource = new Map<NodeSource, readonly StaticNode[]>();
  private health: HealthAddresses | undefined;

  constructor(
    readonly self: string,
    /** The local node's element without its health addresses. */
    private readonly local: () => NodeElement,
  ) {}

  get changes$(): Observable<void> {
    return this.changes.asObservable();
  }

  list(): NodeElement[] {
    const self = this.local();
    const h = this.health;
    const local: NodeElement = h
      ? {
          ...self,
          'health-endpoint-address': { ipv4: addressing(h.ipv4), ipv6: addressing(h.ipv6) },
        }
      : self;
    return [
      local,
      ...this.remotes().map((k) => ({ ...staticNodeElement(k.node), source: k.source })),
    ];
  }

  /**
   * The remote nodes as listed: by name, the kvstore's before the file's, none naming the local
   * node (an entry naming it is the local node: it is not listed twice).
   */
  remotes(): KnownNode[] {
    const seen = new Set([this.self]);
    const out: KnownNode[] = [];
    for (const source of PRECEDENCE) {
      for (const node of this.bySource.get(source) ?? []) {
        if (seen.has(node.name)) continue;
        seen.add(node.name);
        out.push({ node, source });
      }
    }
    return out.sort((a, b) => (a.node.name < b.node.name ? -1 : a.node.name > b.node.name ? 1 : 0));
  }

  /** The names the nodes file and the kvstore both give (listed from the kvstore). */
  shadowed(): string[] {
    return this.shadowedBy(STATIC_SOURCE, KVSTORE_SOURCE);
  }

  /** The names `lower` gives that `higher` gives too (listed from `higher`). */
  shadowedBy(lower: NodeSource, higher: NodeSource): string[] {
    const hi = new Set((this.bySource.get(higher) ?? []).map((n) => n.name));
    return (this.bySource.get(lower) ?? []).map((n) => n.name).filter((n) => hi.has(n));
  }

  /** Tells the list's readers that the local node changed (its pod CIDRs became known). */
  localChanged(): void {
    this.changes.next();
  }

  /** Replaces the nodes of one source. */
  setNodes(source: NodeSource, nodes: readonly StaticNode[]): void {
    this.bySource.set(source, nodes);
    this.changes.next();
  }

  /** The nodes one source gave. */
  nodesOf(source: NodeSource): readonly StaticNode[] {
    return this.bySource.get(source) ?? [];
  }

  /** The local node's health endpoint addresses, if set. */
  get localHealth(): HealthAddresses | undefined {
    return this.health;
  }

  setLocalHealth(addrs: HealthAddresses | undefined): void {
    this.health = addrs;
    this.changes.next();
  }
}

/**
 * Replaces one source's nodes and gives the listed nodes' IPs their node ids (cellium_node_map,
 * `GET /v1/node/ids`): nodes no longer listed, or readdressed, are released first, then every
 * listed node allocated (an IP already known keeps its id). Returns the errors, one per node
 * that could not get an id.
 */
export function setNodesWithIds(
  list: NodeList,
  ids: NodeIds,
  source: NodeSource,
  nodes: readonly StaticNode[],
): string[] {
  const before = list.remotes().map((k) => k.node);
  list.setNodes(source, nodes);
  return syncNodeIds(
    ids,
    before,
    list.remotes().map((k) => k.node),
  );
}

/**
 * Gives nodes' IPs their node ids (cellium_node_map, `GET /v1/node/ids`): the nodes
 * gone or readdressed since `before` are released first, then the new or readdressed nodes of
 * `after` (and those that had no id) allocated (an IP already known keeps its id). Returns the
 * errors, one per node that could not be done.
 */
export function syncNodeIds(
  ids: NodeIds,
  before: readonly StaticNode[],
  after: readonly StaticNode[],
): string[] {
  const ipsOf = (n: StaticNode): string[] =>
    [n.ipv4, n.ipv6].filter((ip): ip is string => ip !== undefined);
  const key = (n: StaticNode): string => `${n.name} ${ipsOf(n).join(',')}`;
  const kept = new Set(after.map(key));
  const errors: string[] = [];
  for (const n of before) {
    if (!kept.has(key(n))) ids.release(ipsOf(n));
  }
  const had = new Set(before.map(key));
  for (const n of after) {
    // A node unchanged since `before` keeps its id (unless it had none: retried).
    const ips = ipsOf(n);
    if (had.has(key(n)) && ips.every((ip) => ids.idOf(ip) !== undefined)) continue;
    try {
      ids.allocate(ips);
    } catch (e) {
      errors.push(`${n.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return errors;
}
