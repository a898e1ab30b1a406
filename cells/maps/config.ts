import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** The maps cell's flags. */
export const mapsFlags = {
  'bpf-root': flag.string(
    '/sys/fs/bpf',
    'Where bpffs is mounted; maps are pinned under <bpf-root>/tc/globals',
  ),
  'bpf-backend': flag.oneOf(
    ['auto', 'kernel', 'memory'],
    'auto',
    'Where maps live: the kernel (needs root), in memory (no datapath), or auto: the kernel when bpf() works',
  ),
  'bpf-lxc-map-max': flag.int(
    65535,
    'Maximum number of local endpoint IPs in cellium_lxc (each endpoint takes one per address family)',
    { min: 1, max: 16_777_216 },
  ),
  'bpf-ipcache-map-max': flag.int(
    512000,
    'Maximum number of IPs and CIDRs in cellium_ipcache (identities of every known prefix)',
    { min: 1, max: 16_777_216 },
  ),
  'bpf-metrics-map-max': flag.int(
    1024,
    'Maximum number of reason and direction counters in cellium_metrics',
    { min: 1, max: 65_536 },
  ),
} as const;

/** The flag that sizes each of the agent's maps. */
export const SIZE_FLAGS: Readonly<Record<string, keyof typeof mapsFlags>> = {
  cellium_lxc: 'bpf-lxc-map-max',
  cellium_ipcache: 'bpf-ipcache-map-max',
  cellium_metrics: 'bpf-metrics-map-max',
};

/** The size `config` gives a map, from its flag (undefined: the map has no size flag). */
export function configuredSize(config: MapsConfig, name: string): number | undefined {
  switch (SIZE_FLAGS[name]) {
    case 'bpf-lxc-map-max':
      return config.bpfLxcMapMax;
    case 'bpf-ipcache-map-max':
      return config.bpfIpcacheMapMax;
    case 'bpf-metrics-map-max':
      return config.bpfMetricsMapMax;
    default:
      return undefined;
  }
}

/** The maps cell's configuration. */
export type MapsConfig = ConfigOf<typeof mapsFlags>;

/** The maps cell's configuration. */
export const MapsConfig = token<MapsConfig>('maps/MapsConfig');
