import { flag, parseDuration, token, type ConfigOf } from '../../core/hive/index.js';
import type { EventBufferConfig } from './cache.js';
import { EVENTS_RING_DEFAULT } from './monitor-maps.js';

/** Event buffers of maps as Cilium's defaults size them (`name=enabled,size,ttl`). */
export const DEFAULT_EVENT_BUFFERS = 'cellium_lxc=enabled,128,0,cellium_ipcache=enabled,1024,0';

/**
 * Parses `--bpf-map-event-buffers`: `name=enabled|disabled[,size[,ttl]]` entries joined by
 * commas, as Cilium's map options (a piece without `=` continues the entry before it). Throws
 * an Error naming what is wrong.
 */
export function parseEventBuffers(raw: string): Map<string, EventBufferConfig> {
  const entries: string[] = [];
  for (const piece of raw.split(',').map((x) => x.trim())) {
    if (piece === '') continue;
    if (piece.includes('=') || entries.length === 0) entries.push(piece);
    else entries.push(`${entries.pop() ?? ''},${piece}`);
  }
  const out = new Map<string, EventBufferConfig>();
  for (const entry of entries) {
    const [name = '', conf = ''] = entry.split('=', 2);
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(name)) {
      throw new Error(
        `'${entry}': '${name}' is not a map name (like cellium_ipcache=enabled,1024)`,
      );
    }
    const [state = '', size = '128', ttl = '0', extra] = conf.split(',');
    if (extra !== undefined) throw new Error(`'${entry}': expected ${name}=enabled,SIZE,TTL`);
    const on = ['enabled', 'true'].includes(state);
    if (!on && !['disabled', 'false'].includes(state)) {
      throw new Error(`'${entry}': the state must be enabled or disabled, not '${state}'`);
    }
    const n = Number(size);
    if (!/^\d+$/.test(size) || n < 1 || n > 65536) {
      throw new Error(`'${entry}': the size must be an integer from 1 to 65536, not '${size}'`);
    }
    const ttlMs = parseDuration(ttl);
    if (Number.isNaN(ttlMs)) throw new Error(`'${entry}': '${ttl}' is not a duration like 1h`);
    out.set(name, { size: on ? n : 0, ttlMs });
  }
  return out;
}

/** The event buffer of every map: Cilium's defaults, overridden map by map by the flag. */
export function eventBuffers(raw: string): (name: string) => EventBufferConfig {
  const conf = new Map([...parseEventBuffers(DEFAULT_EVENT_BUFFERS), ...parseEventBuffers(raw)]);
  return (name) => conf.get(name) ?? { size: 0, ttlMs: 0 };
}

const eventBuffersFlag = flag.string(
  '',
  'Event buffers of maps (GET /v1/map/{name}/events), as name=enabled|disabled,size,ttl entries joined by commas, ' +
    `over the defaults ${DEFAULT_EVENT_BUFFERS} (ttl 0: events are kept until overwritten)`,
);

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
  'bpf-map-event-buffers': {
    ...eventBuffersFlag,
    check: (v: string): string | undefined => {
      try {
        parseEventBuffers(v);
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    },
  },
  'bpf-metrics-map-max': flag.int(
    1024,
    'Maximum number of reason and direction counters in cellium_metrics',
    { min: 1, max: 65_536 },
  ),
  'bpf-events-ring-size': {
    ...flag.int(
      EVENTS_RING_DEFAULT,
      'Size in bytes of cellium_events, the ring buffer of datapath monitor events (a power of two, at least 4096)',
      { min: 4096, max: 1 << 30 },
    ),
    check: (v: number): string | undefined =>
      (v & (v - 1)) === 0 ? undefined : `${v} is not a power of two (e.g. 1048576, 2097152)`,
  },
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
