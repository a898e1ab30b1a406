export { nodeCell, NodeLinks } from './cell.js';
export { NodeConfig } from './config.js';
export { NODE_MAP, nodeKeyOf, type NodeKey, type NodeValue } from './defs.js';
export {
  MAX_NODE_ID,
  MIN_NODE_ID,
  NodeIdError,
  NodeIds,
  NodeIdsUnavailableError,
  type NodeIdEntry,
} from './ids.js';
export {
  ClusterNodeList,
  STATIC_SOURCE,
  staticNodeElement,
  syncNodeIds,
  type HealthAddresses,
} from './registry.js';
export { NodesFileError, parseNodesFile, type StaticNode } from './static-nodes.js';
