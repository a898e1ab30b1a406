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
} as const;

/** The maps cell's configuration. */
export type MapsConfig = ConfigOf<typeof mapsFlags>;

/** The maps cell's configuration. */
export const MapsConfig = token<MapsConfig>('maps/MapsConfig');
