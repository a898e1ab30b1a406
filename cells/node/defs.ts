// The node map: node IP → node id (and IPsec SPI), as Cilium's cilium_node_map_v2.
import {
  BPF_F_NO_PREALLOC,
  FAMILY_IPV4,
  FAMILY_IPV6,
  mapSpec,
  MapType,
  struct,
} from '../../core/bpf/index.js';

/** cellium_node_map key: one IP of a node. */
export interface NodeKey {
  readonly family: number;
  readonly ip: string;
}

/** cellium_node_map value: the node's id and the IPsec key index (SPI) it uses. */
export interface NodeValue {
  readonly node_id: number;
  readonly spi: number;
}

/** struct node_key { __u16 pad1; __u8 pad2; __u8 family; union v4/v6 (16 bytes) }. */
export const nodeKey = struct<NodeKey>('node_key', [
  ['pad1', { pad: 2 }],
  ['pad2', { pad: 1 }],
  ['family', 'u8'],
  ['ip', 'ip16'],
]);

/** struct node_value { __u16 id; __u8 spi; __u8 pad; }. */
export const nodeValue = struct<NodeValue>('node_value', [
  ['node_id', 'u16'],
  ['spi', 'u8'],
  ['pad', { pad: 1 }],
]);

/** Node IP → node id; entries only for remote nodes (the local node is id 0, never stored). */
export const NODE_MAP = mapSpec({
  name: 'cellium_node_map',
  type: MapType.Hash,
  key: nodeKey,
  value: nodeValue,
  maxEntries: 16384,
  flags: BPF_F_NO_PREALLOC,
});

/** The node map key of an IP. */
export function nodeKeyOf(ip: string): NodeKey {
  return { family: ip.includes(':') ? FAMILY_IPV6 : FAMILY_IPV4, ip };
}
