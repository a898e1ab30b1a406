// cellium_routing: what bpf_lxc reads to know whether and where to encapsulate (layout as
// datapath-c/include/cellium/routing.h). One pinned entry, so every attached bpf_lxc sees a change
// at once; opened on first use (the endpoint cell loads bpf_lxc with it, maybe before this cell
// starts) and closed at stop, its pin kept: the datapath keeps its mode while the agent restarts.
import {
  mapSpec,
  MapType,
  openMap,
  struct,
  type BpfMap,
  type MapRegistry,
  type RawMap,
} from '../../core/bpf/index.js';
import { token, type Lifecycle } from '../../core/hive/index.js';
import type { DatapathMaps } from '../maps/index.js';

/** ROUTING_* of routing.h. */
export const ROUTING_MODE_VALUE = { native: 0, tunnel: 1 } as const;

/** cellium_routing[0]. */
export interface RoutingConfigValue {
  /** ROUTING_MODE_VALUE. */
  readonly mode: number;
  /** cellium_vxlan's ifindex (0: none: bpf_lxc hands packets to the stack). */
  readonly tunnel_ifindex: number;
  /** This node's underlay IPv4 ('0.0.0.0': none): never a tunnel peer. */
  readonly node_ipv4: string;
}

/** The u32 key of a one-entry array. */
interface ArrayKey {
  readonly index: number;
}

/** cellium_routing: one entry, the datapath's routing settings. */
export const ROUTING_MAP = mapSpec({
  name: 'cellium_routing',
  type: MapType.Array,
  key: struct<ArrayKey>('__u32', [['index', 'u32']]),
  value: struct<RoutingConfigValue>('routing_config', [
    ['mode', 'u32'],
    ['tunnel_ifindex', 'u32'],
    ['node_ipv4', 'ipv4'],
    ['pad', { pad: 4 }],
  ]),
  maxEntries: 1,
});

/** The routing cell's map, as programs are loaded with it. */
export interface RoutingMaps {
  /** What bpf_lxc is loaded with: cellium_routing. */
  programMaps(): RawMap[];
  /** Writes the datapath's routing settings (every attached program sees them at once). */
  set(v: RoutingConfigValue): void;
  /** The settings in the map now (undefined before the first write of this run or a previous one). */
  get(): RoutingConfigValue | undefined;
}

/** The routing cell's map (bpf_lxc is loaded with it). */
export const RoutingMaps = token<RoutingMaps>('routing/RoutingMaps');

/** Opens cellium_routing on first use, on the agent maps' backend and pin directory. */
export function newRoutingMaps(p: {
  readonly maps: DatapathMaps;
  readonly registry: MapRegistry;
  readonly lifecycle: Lifecycle;
}): RoutingMaps {
  let open: BpfMap<ArrayKey, RoutingConfigValue> | undefined;
  let stopped = false;
  const get = (): BpfMap<ArrayKey, RoutingConfigValue> => {
    if (open) return open;
    if (stopped) throw new Error('cellium_routing is closed: the routing cell has stopped');
    open = openMap(ROUTING_MAP, { backend: p.maps.backend, pinDir: p.maps.pinDir });
    p.registry.add(open);
    return open;
  };
  p.lifecycle.append(
    {
      onStart: () => {
        stopped = false;
        get();
      },
      onStop: () => {
        stopped = true;
        if (!open) return;
        p.registry.remove(ROUTING_MAP.name);
        open.close();
        open = undefined;
      },
    },
    'routing-map',
  );
  return {
    programMaps: () => [get().raw],
    set: (v) => get().update({ index: 0 }, v),
    get: () => {
      const v = get().lookup({ index: 0 });
      return v && (v.mode !== 0 || v.tunnel_ifindex !== 0 || v.node_ipv4 !== '0.0.0.0')
        ? v
        : undefined;
    },
  };
}
