// This node's Node object once the agent is ready (Kubernetes mode): Cilium's node annotations
// (--annotate-k8s-node: pod CIDRs, health IPs, cilium_host IPs, as its AnnotateNode writes them)
// and the removal of the node.cilium.io/agent-not-ready taint (--remove-cilium-node-taints; in
// Cilium its operator does it once the agent pod is ready). The taint is removed with a JSON
// patch that tests the taint list it replaces, so a taint another writer added meanwhile is never
// lost: the patch fails, and the removal is retried on the Node as the watch brings it. Like Cilium, the agent
// never puts the taint back (Cilium's operator does only with --set-cilium-node-taints).
import { merge, type Observable } from 'rxjs';
import type { Health, Jobs, Logger } from '../../core/hive/index.js';
import type { Model } from '../../core/api/index.js';
import type { AgentStatus, DaemonConfig } from '../daemon/index.js';
import type { Ipam } from '../ipam/index.js';
import {
  apiStatus,
  type K8sAccess,
  type K8sClient,
  type K8sResource,
  type K8sResources,
  type Node,
} from '../k8s/index.js';
import type { NodeConfig } from './config.js';
import { NODE_ANNOTATIONS } from './k8s-nodes.js';
import type { ClusterNodeList } from './registry.js';

/** The taint a node is created with so that pods wait for the agent (Cilium's). */
export const AGENT_NOT_READY_TAINT = 'node.cilium.io/agent-not-ready';

/** What marking the node ready needs. */
export interface NodeReadyParams {
  readonly client: K8sClient;
  /** The reflected Node table (this node's object is read from it). */
  readonly nodes: K8sResource<Node>;
  readonly nodeName: string;
  readonly annotate: boolean;
  readonly removeTaint: boolean;
  /** The annotations this node should carry now (those with a value). */
  readonly annotations: () => Readonly<Record<string, string>>;
  /** Why the agent is not ready yet, or undefined once it is. */
  readonly notReady: () => string | undefined;
  readonly health: Health;
  readonly logger: Logger;
}

/** The taints of a Node as on the wire (anything else: none). */
function taintsOf(n: Node): unknown[] {
  const t: unknown = n.spec?.taints;
  return Array.isArray(t) ? t : [];
}

function isAgentTaint(t: unknown): boolean {
  return (
    typeof t === 'object' && t !== null && (t as { key?: unknown }).key === AGENT_NOT_READY_TAINT
  );
}

/** The annotations of `want` the Node lacks or has with another value. */
export function annotationDiff(
  n: Node,
  want: Readonly<Record<string, string>>,
): Record<string, string> {
  const have: unknown = n.metadata.annotations;
  const h = (typeof have === 'object' && have !== null ? have : {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(want).filter(([k, v]) => h[k] !== v));
}

/** Brings this node's Node object to what a ready agent says; run again after every change. */
export class NodeReady {
  /** The Node's resourceVersion our last patch was made against (the table may still show it). */
  private patchedFrom?: string;
  private done = false;

  constructor(private readonly p: NodeReadyParams) {}

  /** True once the Node had what it should at the last run. */
  get marked(): boolean {
    return this.done;
  }

  /** One round: waits (returns) while the agent is not ready; throws when a call fails. */
  async sync(signal: AbortSignal): Promise<void> {
    const { p } = this;
    const why = p.notReady() ?? (p.nodes.synced() ? undefined : 'listing Nodes');
    if (why !== undefined) {
      p.health.ok(`waiting for the agent to be ready: ${why}`);
      return;
    }
    const node = p.nodes.table.get(p.nodes.table.db.readTxn(), p.nodeName);
    if (!node) {
      p.health.ok(`waiting for the Node ${p.nodeName}`);
      return;
    }
    const rv = node.metadata.resourceVersion;
    // Our last patch is not in the table yet: nothing to judge from what it shows.
    if (rv !== undefined && rv === this.patchedFrom) return;
    await p.client.ready(signal);
    const did: string[] = [];
    if (p.annotate) {
      const diff = annotationDiff(node, p.annotations());
      if (Object.keys(diff).length > 0) {
        await this.patch({ metadata: { annotations: diff } }, 'merge', signal);
        this.patchedFrom = rv;
        did.push(`annotated (${Object.keys(diff).sort().join(', ')})`);
        p.logger.info({ node: p.nodeName, annotations: diff }, 'Node annotated');
      }
    }
    if (p.removeTaint && taintsOf(node).some(isAgentTaint)) {
      if (!(await this.removeTaint(node, signal))) {
        p.health.ok(
          `Node ${p.nodeName}: its taints changed meanwhile; removing ${AGENT_NOT_READY_TAINT} again`,
        );
        return;
      }
      this.patchedFrom = rv;
      did.push(`taint ${AGENT_NOT_READY_TAINT} removed`);
      p.logger.info({ node: p.nodeName, taint: AGENT_NOT_READY_TAINT }, 'Node taint removed');
    }
    this.done = true;
    const what = [
      p.annotate ? 'annotated' : undefined,
      p.removeTaint ? `no ${AGENT_NOT_READY_TAINT} taint` : undefined,
    ].filter((s) => s !== undefined);
    if (did.length > 0 || what.length === 0) {
      p.health.ok(
        `Node ${p.nodeName} marked ready${what.length > 0 ? `: ${what.join(', ')}` : ''}`,
      );
    }
  }

  /**
   * Removes only the agent's taint; false when the taint list changed since the table's copy
   * (the `test` failed): the watch brings the new list and the next run retries with it.
   */
  private async removeTaint(node: Node, signal: AbortSignal): Promise<boolean> {
    const taints = taintsOf(node);
    try {
      await this.patch(
        [
          { op: 'test', path: '/spec/taints', value: taints },
          { op: 'replace', path: '/spec/taints', value: taints.filter((t) => !isAgentTaint(t)) },
        ],
        'json',
        signal,
      );
      return true;
    } catch (e) {
      const status = apiStatus(e);
      // A failed test: 422 from kube-apiserver (409 from some servers).
      if (status !== 422 && status !== 409) throw e;
      this.p.logger.info(
        { node: this.p.nodeName, status },
        'Node taints changed meanwhile: retrying with the Node as the watch brings it',
      );
      return false;
    }
  }

  private async patch(body: unknown, kind: 'merge' | 'json', signal: AbortSignal): Promise<void> {
    // client-node is loaded by the k8s cell before ready() resolves: this import is a lookup.
    const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
    const type = kind === 'json' ? PatchStrategy.JsonPatch : PatchStrategy.MergePatch;
    await this.p.client.core().patchNode(
      { name: this.p.nodeName, body },
      // Given up when the job stops.
      setHeaderOptions('Content-Type', type, this.p.client.callOptions(signal)),
    );
  }
}

/**
 * Why the agent is not ready, from its overall state: still starting, or a cell's notReady()
 * (endpoint restore, the pod CIDRs, the caches). A degraded cell or a stale probe does not hold
 * the node back, as Cilium marks its node at the end of bootstrap whatever its health says.
 */
export function agentNotReady(s: Model<'Status'>): string | undefined {
  if (s.state === 'Ok') return undefined;
  const msg = s.msg ?? '';
  if (s.state === 'Warning' && !msg.startsWith('starting') && !msg.startsWith('not ready')) {
    return undefined;
  }
  return msg || (s.state ?? 'unknown');
}

/** The annotations Cilium's AnnotateNode writes, from the local node's pools and health endpoint. */
export function localAnnotations(
  ipam: Pick<Ipam, 'pools'>,
  self: Model<'NodeElement'> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  const v4 = ipam.pools.get('ipv4');
  const v6 = ipam.pools.get('ipv6');
  const [cidr4] = NODE_ANNOTATIONS.ipv4PodCidr;
  const [cidr6] = NODE_ANNOTATIONS.ipv6PodCidr;
  const [host4] = NODE_ANNOTATIONS.ipv4CiliumHost;
  const [host6] = NODE_ANNOTATIONS.ipv6CiliumHost;
  const [health4] = NODE_ANNOTATIONS.ipv4HealthIp;
  const [health6] = NODE_ANNOTATIONS.ipv6HealthIp;
  if (v4) Object.assign(out, { [cidr4]: v4.cidr, [host4]: v4.router });
  if (v6) Object.assign(out, { [cidr6]: v6.cidr, [host6]: v6.router });
  const h = self?.['health-endpoint-address'];
  if (h?.ipv4?.ip !== undefined) out[health4] = h.ipv4.ip;
  if (h?.ipv6?.ip !== undefined) out[health6] = h.ipv6.ip;
  return out;
}

/** What the node-ready job needs. */
export interface NodeReadyJobParams extends Omit<NodeReadyParams, 'notReady' | 'annotations'> {
  readonly agent: AgentStatus;
  readonly ipam: Pick<Ipam, 'pools'>;
  readonly self: () => Model<'NodeElement'> | undefined;
  /** Changes worth a run at once (the Node table, the local node's addresses). */
  readonly changes: Observable<unknown>;
  readonly jobs: Jobs;
}

/** Runs NodeReady every second (readiness is read, not pushed) and at once on each change. */
export function registerNodeReady(p: NodeReadyJobParams): NodeReady {
  const ready = new NodeReady({
    ...p,
    notReady: () => agentNotReady(p.agent.status()),
    annotations: () => localAnnotations(p.ipam, p.self()),
  });
  p.jobs.timer('mark-node-ready', (ctx) => ready.sync(ctx.signal), 1000, {
    trigger: merge(p.changes, p.nodes.table.observe()),
  });
  return ready;
}

/**
 * The node cell's wiring: declares the rule (in every mode, for the chart's ClusterRole) and, in
 * Kubernetes mode, starts the job. The Kubernetes tokens are optional: node-only test hives lack them.
 */
export function wireNodeReady(p: {
  readonly access: K8sAccess | undefined;
  readonly client: K8sClient | undefined;
  readonly k8s: K8sResources | undefined;
  readonly agent: AgentStatus | undefined;
  readonly nodes: ClusterNodeList;
  readonly ipam: Ipam;
  readonly daemon: DaemonConfig;
  readonly config: NodeConfig;
  readonly jobs: Jobs;
  readonly health: Health;
  readonly logger: Logger;
}): void {
  p.access?.declare({
    group: '',
    resource: 'nodes',
    verbs: ['patch'],
    why: "node: annotate this node's Node and remove its agent-not-ready taint once ready",
  });
  const { client, k8s, agent } = p;
  if (!client?.enabled || !k8s?.enabled || !agent) return;
  registerNodeReady({
    client,
    nodes: k8s.nodes,
    nodeName: p.daemon.nodeName,
    annotate: p.config.annotateK8sNode,
    removeTaint: p.config.removeCiliumNodeTaints,
    agent,
    ipam: p.ipam,
    self: () => p.nodes.list()[0],
    changes: p.nodes.changes$,
    jobs: p.jobs,
    health: p.health.scope('k8s-ready'),
    logger: p.logger,
  });
}
