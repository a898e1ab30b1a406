// The CiliumNode of this node (Kubernetes mode), as Cilium's node discovery writes it: named as
// the node, owned by its Node object, with the node's addresses, its pod CIDRs and its health
// endpoint's addresses. Created or updated at start and whenever that data changes; fields
// others own (the operator's spec.ipam pools, status) are kept.
import type { Observable, Subscription } from 'rxjs';
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  errorMessage,
  sleep,
  Trigger,
  type Health,
  type Lifecycle,
  type Logger,
} from '../../core/hive/index.js';
import type { Model } from '../../core/api/index.js';
import type { DaemonConfig } from '../daemon/index.js';
import {
  apiStatus,
  CILIUM_GROUP,
  CILIUM_VERSION,
  type K8sAccess,
  type K8sClient,
  type K8sResource,
  type K8sResources,
  type Node,
} from '../k8s/index.js';
import type { ClusterNodeList } from './registry.js';

/** The CiliumNode resource (cluster-scoped). */
export const CILIUM_NODES = 'ciliumnodes';

/** What this node says about itself in its CiliumNode. */
export interface CiliumNodeData {
  readonly ips: readonly string[];
  readonly podCidrs: readonly string[];
  readonly health?: { readonly ipv4?: string; readonly ipv6?: string };
}

/** The fields of a CiliumNode this agent owns. */
export interface CiliumNodeFields {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string }[];
  };
  spec: {
    addresses: { type: string; ip: string }[];
    ipam: { podCIDRs: string[] };
    health?: { ipv4?: string; ipv6?: string };
    encryption: Record<string, never>;
  };
}

/** The local node's data from its cluster-nodes element (addresses, alloc ranges, health). */
export function localNodeData(self: Model<'NodeElement'> | undefined): CiliumNodeData {
  const ips: string[] = [];
  const podCidrs: string[] = [];
  const health: { ipv4?: string; ipv6?: string } = {};
  for (const f of ['ipv4', 'ipv6'] as const) {
    const a = self?.['primary-address']?.[f];
    if (a?.enabled && a.ip !== undefined) ips.push(a.ip);
    if (a?.enabled && a['alloc-range'] !== undefined) podCidrs.push(a['alloc-range']);
    const h = self?.['health-endpoint-address']?.[f];
    if (h?.enabled && h.ip !== undefined) health[f] = h.ip;
  }
  return { ips, podCidrs, ...(Object.keys(health).length > 0 ? { health } : {}) };
}

/**
 * The fields this agent writes: ownerReference to the Node (when it is known, with its uid) and
 * the Node's labels, as Cilium ties the CiliumNode's lifetime to the Node's.
 */
export function ciliumNodeFields(
  name: string,
  data: CiliumNodeData,
  node: Node | undefined,
): CiliumNodeFields {
  const uid = node?.metadata.uid;
  return {
    metadata: {
      name,
      ...(node?.metadata.labels ? { labels: { ...node.metadata.labels } } : {}),
      ...(uid !== undefined
        ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid }] }
        : {}),
    },
    spec: {
      addresses: data.ips.map((ip) => ({ type: 'InternalIP', ip })),
      ipam: { podCIDRs: [...data.podCidrs] },
      ...(data.health ? { health: { ...data.health } } : {}),
      encryption: {},
    },
  };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};

/** `current` (as read) with this agent's fields set; everything else kept. */
export function mergeCiliumNode(current: unknown, want: CiliumNodeFields): Obj {
  const cur = obj(current);
  const meta = obj(cur.metadata);
  const spec = obj(cur.spec);
  const { health, ...rest } = want.spec;
  const merged: Obj = {
    ...spec,
    ...rest,
    ipam: { ...obj(spec.ipam), podCIDRs: want.spec.ipam.podCIDRs },
  };
  if (health) merged.health = health;
  else delete merged.health;
  return {
    ...cur,
    apiVersion: `${CILIUM_GROUP}/${CILIUM_VERSION}`,
    kind: 'CiliumNode',
    metadata: { ...meta, ...want.metadata },
    spec: merged,
  };
}

/** Whether the signal fired (read through a call: it changes across awaits). */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** What the CiliumNode sync needs. */
export interface CiliumNodeSyncParams {
  readonly client: K8sClient;
  /** The reflected Nodes (this node's uid and labels). */
  readonly nodes: K8sResource<Node>;
  readonly name: string;
  /** The local node's data as it is now (may throw while the node cell is not ready). */
  readonly data: () => CiliumNodeData;
  /** Emits when the local node may have changed. */
  readonly changed$: Observable<unknown>;
  readonly health: Health;
  readonly logger: Logger;
}

/** How often the CiliumNode is checked without a change (the operator may have rewritten it). */
const RECHECK_MS = 5 * 60_000;

/** Keeps this node's CiliumNode written while started. */
export class CiliumNodeSync {
  private readonly trigger = new Trigger();
  private abort?: AbortController;
  private loop?: Promise<void>;
  private subs: Subscription[] = [];
  /** JSON of the fields last written. */
  private written?: string;

  constructor(private readonly p: CiliumNodeSyncParams) {}

  start(): void {
    this.abort = new AbortController();
    this.subs = [
      this.p.changed$.subscribe(() => this.trigger.poke()),
      this.p.nodes.table.observe().subscribe(() => this.trigger.poke()),
    ];
    this.p.health.ok(`writing CiliumNode ${this.p.name}`);
    this.loop = this.run(this.abort.signal);
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.abort?.abort();
    await this.loop;
  }

  private want(): CiliumNodeFields {
    const db = this.p.nodes.table.db;
    const node = this.p.nodes.table.get(db.readTxn(), this.p.name);
    return ciliumNodeFields(this.p.name, this.p.data(), node);
  }

  private async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    let checked = 0;
    while (!aborted(signal)) {
      try {
        const want = this.want();
        const json = JSON.stringify(want);
        // Rewritten when it changed, and checked now and then (someone may have edited it); not
        // at every poke: the Nodes table changes with every node's status updates.
        if (json !== this.written || Date.now() - checked >= RECHECK_MS) {
          await this.write(want, signal);
          checked = Date.now();
          if (json !== this.written) {
            this.p.logger.info({ name: this.p.name, spec: want.spec }, 'CiliumNode written');
          }
          this.written = json;
          this.p.health.ok(`CiliumNode ${this.p.name} written`);
        }
        attempt = 0;
        await this.trigger.wait(RECHECK_MS, signal);
      } catch (e) {
        if (aborted(signal)) return;
        const msg = errorMessage(e);
        this.p.logger.warn({ name: this.p.name, err: msg }, 'CiliumNode not written');
        this.p.health.degraded(`CiliumNode ${this.p.name} not written (retrying): ${msg}`);
        await sleep(backoffDelay(DEFAULT_BACKOFF, attempt++), signal);
      }
    }
  }

  /** Creates the object or updates this agent's fields in it (409: read again and retry). */
  private async write(want: CiliumNodeFields, signal: AbortSignal): Promise<void> {
    await this.p.client.ready(signal);
    const api = this.p.client.custom();
    // Given up when the sync stops (client-node's calls take no signal of their own).
    const opts = this.p.client.callOptions(signal);
    const target = { group: CILIUM_GROUP, version: CILIUM_VERSION, plural: CILIUM_NODES };
    for (;;) {
      signal.throwIfAborted();
      let current: unknown;
      try {
        current = await api.getClusterCustomObject({ ...target, name: this.p.name }, opts);
      } catch (e) {
        if (apiStatus(e) !== 404) throw e;
      }
      try {
        if (current === undefined) {
          await api.createClusterCustomObject({ ...target, body: mergeCiliumNode({}, want) }, opts);
        } else {
          const body = mergeCiliumNode(current, want);
          if (JSON.stringify(body) === JSON.stringify(current)) return;
          await api.replaceClusterCustomObject({ ...target, name: this.p.name, body }, opts);
        }
        return;
      } catch (e) {
        // Created or changed by someone else meanwhile: read it again.
        if (apiStatus(e) !== 409) throw e;
      }
    }
  }
}

/** What registering the CiliumNode sync needs (the node cell's invoke). */
export interface CiliumNodeCellParams {
  readonly client: K8sClient | undefined;
  readonly resources: K8sResources | undefined;
  readonly access: K8sAccess | undefined;
  readonly nodes: ClusterNodeList;
  readonly daemon: DaemonConfig;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}

/** Declares the CiliumNode access rule (always) and, in Kubernetes mode, runs the sync. */
export function registerCiliumNode(p: CiliumNodeCellParams): void {
  p.access?.declare({
    group: CILIUM_GROUP,
    resource: CILIUM_NODES,
    verbs: ['get', 'create', 'update'],
    why: "node: this node's CiliumNode (addresses, pod CIDRs, health endpoint)",
  });
  const { client, resources } = p;
  if (client?.enabled !== true || resources?.enabled !== true) return;
  const sync = new CiliumNodeSync({
    client,
    nodes: resources.nodes,
    name: p.daemon.nodeName,
    data: () => localNodeData(p.nodes.list().find((n) => n.name === p.nodes.self)),
    changed$: p.nodes.changes$,
    health: p.health.scope('ciliumnode'),
    logger: p.logger,
  });
  p.lifecycle.append({ onStart: () => sync.start(), onStop: () => sync.stop() }, 'ciliumnode');
}
