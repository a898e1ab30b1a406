import {
  config,
  Health,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  optional,
  provide,
  token,
} from '../../core/hive/index.js';
import { listLinks, type LinkInfo } from '../../core/net/index.js';
import { ApiError } from '../../core/api/index.js';
import { ApiRoutes } from '../api/index.js';
import { AgentStatus, DaemonConfig, StatusContributors } from '../daemon/index.js';
import { Ipam } from '../ipam/index.js';
import { K8sAccess, K8sClient, K8sResources } from '../k8s/index.js';
import { KVStore } from '../kvstore/index.js';
import { DatapathMaps, Maps } from '../maps/index.js';
import { nodeFlags, NodeConfig } from './config.js';
import { ClusterNodes } from './cluster.js';
import { newClusterNodeList } from './node-list.js';
import { ClusterNodeList } from './registry.js';
import { NodeIds, NodeIdsUnavailableError } from './ids.js';
import { newNodeIds } from './nodes.js';
import { registerCiliumNode } from './k8s-ciliumnode.js';
import { wireNodeReady } from './k8s-ready.js';

/** Runs a handler's read; while the cell is not running, a 503 asking to retry. */
function whileRunning<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof NodeIdsUnavailableError)) throw e;
    throw new ApiError(503, e.message, { 'Retry-After': '1' });
  }
}

/** The host's devices, where 'auto' finds the node's IPs (tests override it). */
export const NodeLinks = token<() => readonly LinkInfo[]>('node/NodeLinks');

/**
 * Node ids: cellium_node_map, the allocator other cells call, GET /v1/node/ids; and the nodes
 * the agent knows (today the local node), GET /v1/cluster/nodes.
 */
export const nodeCell = module(
  'node',
  'Node ids for node IPs, kept in the node map',
  // --bpf-node-map-max, --ipv4-node, --ipv6-node, --nodes-file, --annotate-k8s-node,
  // --remove-cilium-node-taints
  config(NodeConfig, nodeFlags),
  provide(NodeLinks, {}, () => listLinks),
  // cellium_node_map opened after the agent's maps (same backend and pin dir), allocations
  // restored from it at start; the local node is id 0 and never in the map, as in Cilium.
  provide(
    NodeIds,
    {
      config: NodeConfig,
      maps: DatapathMaps,
      registry: Maps,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
      links: NodeLinks,
    },
    newNodeIds,
  ),
  // The nodes the agent knows: the local one, those of --nodes-file (watched while running),
  // with a kvstore the other agents' (the local node registered there for them), and in
  // Kubernetes mode the Node objects (k8s-nodes.ts).
  provide(
    ClusterNodeList,
    {
      ids: NodeIds,
      daemon: DaemonConfig,
      ipam: Ipam,
      config: NodeConfig,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
      kv: optional(KVStore),
      k8s: optional(K8sResources),
    },
    newClusterNodeList,
  ),
  // Kubernetes mode: this node's CiliumNode, written at start and when the local node changes.
  invoke(
    'ciliumnode',
    {
      client: optional(K8sClient),
      resources: optional(K8sResources),
      access: optional(K8sAccess),
      nodes: ClusterNodeList,
      daemon: DaemonConfig,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
    },
    registerCiliumNode,
  ),
  invoke(
    'routes',
    { routes: ApiRoutes, ids: NodeIds, nodes: ClusterNodeList, status: StatusContributors },
    ({ routes, ids, nodes, status }) => {
      routes.handle(
        'GetNodeIds',
        () => ({
          status: 200,
          body: whileRunning(() => ids.list().map((e) => ({ id: e.id, ips: [...e.ips] }))),
        }),
        'node',
      );
      const cluster = new ClusterNodes(
        () => nodes.self,
        () => nodes.list(),
      );
      // /healthz cluster.nodes: the nodes the agent knows, once their ids are open.
      status.add({
        status: (s) => {
          try {
            s.cluster = { ...s.cluster, nodes: nodes.list() };
          } catch (e) {
            if (!(e instanceof NodeIdsUnavailableError)) throw e;
          }
        },
      });
      routes.handle(
        'GetClusterNodes',
        (req) => ({
          status: 200,
          body: whileRunning(() => cluster.status(req.headers['client-id'])),
        }),
        'node',
      );
    },
  ),
  // Kubernetes mode: once the agent is ready, this node's Node annotated and its
  // agent-not-ready taint removed (k8s-ready.ts). Its API rules are declared in every mode.
  invoke(
    'k8s-ready',
    {
      access: optional(K8sAccess),
      client: optional(K8sClient),
      k8s: optional(K8sResources),
      agent: optional(AgentStatus),
      nodes: ClusterNodeList,
      ipam: Ipam,
      daemon: DaemonConfig,
      config: NodeConfig,
      jobs: Jobs,
      health: Health,
      logger: Logger,
    },
    wireNodeReady,
  ),
);
