// The nodes the agent knows, as the node cell provides them: the local node (its addresses and
// pod CIDRs, read when asked) and those of --nodes-file, watched while the cell runs.
import type { Health, Lifecycle, Logger } from '../../core/hive/index.js';
import type { DaemonConfig } from '../daemon/index.js';
import type { Ipam } from '../ipam/index.js';
import { localNodeElement } from './cluster.js';
import type { NodeConfig } from './config.js';
import type { NodeIds } from './ids.js';
import { NodeList, setNodesWithIds, STATIC_SOURCE, type ClusterNodeList } from './registry.js';
import { StaticNodesWatcher } from './static-nodes.js';
import { KvstoreNodes, shadowedNote } from './kvstore-nodes.js';
import { encodeLocalNode } from './node-value.js';
import type { KVStore } from '../kvstore/index.js';
import { RESERVED } from '../identity/index.js';
import type { K8sResources } from '../k8s/index.js';
import { K8sNodes } from './k8s-nodes.js';

/** What the node list needs. */
export interface ClusterNodeListParams {
  readonly ids: NodeIds;
  readonly daemon: DaemonConfig;
  readonly ipam: Ipam;
  readonly config: NodeConfig;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
  /** The kvstore, when the hive has one: with it enabled, nodes register and discover there. */
  readonly kv: KVStore | undefined;
  /** The reflected Kubernetes resources, when the hive has them: in Kubernetes mode, Nodes. */
  readonly k8s: K8sResources | undefined;
}

/**
 * The local node; with --nodes-file, the static nodes; with a kvstore, the local node registered
 * there and the other nodes found there (every remote node's ids allocated as it comes).
 */
export function newClusterNodeList(p: ClusterNodeListParams): ClusterNodeList {
  const { ids, daemon, ipam, config, lifecycle, health, logger } = p;
  const podCidrs = (): { ipv4?: string; ipv6?: string } => ({
    ipv4: ipam.pools.get('ipv4')?.cidr,
    ipv6: ipam.pools.get('ipv6')?.cidr,
  });
  const list = new NodeList(`${daemon.clusterName}/${daemon.nodeName}`, () =>
    localNodeElement(`${daemon.clusterName}/${daemon.nodeName}`, ids.localIps, podCidrs()),
  );
  // Pod CIDRs that come later (IPAM mode kubernetes): the list's readers see the local node change.
  const ready = new AbortController();
  lifecycle.append(
    {
      onStart: () => {
        if (ipam.pools.size > 0) return;
        ipam.ready(ready.signal).then(
          () => list.localChanged(),
          () => undefined, // stopped first
        );
      },
      onStop: () => ready.abort(),
    },
    'ipam-ready',
  );
  if (p.k8s?.enabled === true) {
    const k8s = new K8sNodes({
      nodes: p.k8s.nodes,
      list,
      ids,
      cluster: daemon.clusterName,
      health: health.scope('k8s-nodes'),
      logger,
    });
    lifecycle.append({ onStart: () => k8s.start(), onStop: () => k8s.stop() }, 'k8s-nodes');
  }
  if (p.kv?.enabled === true) {
    const kv = new KvstoreNodes({
      kv: p.kv,
      list,
      ids,
      cluster: daemon.clusterName,
      name: daemon.nodeName,
      localValue: () =>
        encodeLocalNode({
          cluster: daemon.clusterName,
          name: daemon.nodeName,
          ips: ids.localIps,
          podCidrs: podCidrs(),
          ...(list.localHealth?.ipv4 !== undefined ? { healthIpv4: list.localHealth.ipv4 } : {}),
          ...(list.localHealth?.ipv6 !== undefined ? { healthIpv6: list.localHealth.ipv6 } : {}),
          identity: RESERVED.host,
        }),
      health: health.scope('kvstore-nodes'),
      logger,
    });
    const sub = list.changes$.subscribe(() => kv.localChanged());
    lifecycle.append(
      {
        onStart: () => kv.start(),
        onStop: async () => {
          sub.unsubscribe();
          await kv.stop();
        },
      },
      'kvstore-nodes',
    );
  }
  const file = config.nodesFile;
  if (file === '') return list;
  const h = health.scope('nodes-file');
  const watcher = new StaticNodesWatcher({
    file,
    periodMs: 5000,
    onNodes: (nodes) => {
      const errors = setNodesWithIds(list, ids, STATIC_SOURCE, nodes);
      if (errors.length > 0) h.degraded(`${file}: no node id for ${errors.join('; ')}`);
      else h.ok(`${nodes.length} nodes from ${file}${shadowedNote(list)}`);
      logger.info({ file, nodes: nodes.map((n) => n.name) }, 'nodes file read');
    },
    onError: (e) => {
      const kept = list.nodesOf(STATIC_SOURCE).length;
      h.degraded(`${e.message} (keeping the ${kept} nodes read before)`, e);
      logger.warn({ file, err: e.message }, 'nodes file not used');
    },
  });
  lifecycle.append({ onStart: () => watcher.start(), onStop: () => watcher.stop() }, 'nodes-file');
  return list;
}
