import { ApiError, shown, type Model } from '../../core/api/index.js';
import type { BpfMap, MapRegistry } from '../../core/bpf/index.js';

/** Entries shown by GET /v1/map/{name}: the map's live contents, up to this many. */
export const MAX_DUMP = 100_000;

function describeMap(m: BpfMap<unknown, unknown>, withEntries: boolean): Model<'BPFMap'> {
  const cache: Model<'BPFMapEntry'>[] = [];
  let count = 0;
  if (withEntries) {
    for (const [k, v] of m.entries()) {
      if (cache.length >= MAX_DUMP) break;
      const [key, value] = m.format(k, v);
      cache.push({ key, value, 'desired-action': 'ok' });
    }
    count = cache.length;
  } else count = m.count();
  return {
    path: m.raw.pinPath ?? `(${m.raw.backend}) ${m.name}`,
    cache,
    name: m.name,
    backend: m.raw.backend,
    'map-type': m.raw.type,
    'key-size': m.raw.keySize,
    'value-size': m.raw.valueSize,
    'max-entries': m.raw.maxEntries,
    entries: count,
    errors: m.errorCount,
    ...(m.lastError !== undefined ? { 'last-error': m.lastError } : {}),
    'cache-enabled': false,
  };
}

/** /healthz `bpf-maps`, as Cilium's: each map's size (max entries); no dynamic sizing (ratio 0). */
export function bpfMapStatus(registry: MapRegistry): Model<'BPFMapStatus'> {
  return {
    'dynamic-size-ratio': 0,
    maps: registry.list().map((m) => ({ name: m.name, size: m.raw.maxEntries })),
  };
}

/** GET /v1/map: every map with its live entry count (entries themselves via /map/{name}). */
export function listMaps(registry: MapRegistry): Model<'BPFMapList'> {
  return { maps: registry.list().map((m) => describeMap(m, false)) };
}

/** GET /v1/map/{name}: one map with its entries decoded. */
export function getMap(registry: MapRegistry, name: string): Model<'BPFMap'> {
  return describeMap(getOpenMap(registry, name), true);
}

function getOpenMap(registry: MapRegistry, name: string): BpfMap<unknown, unknown> {
  const m = registry.get(name);
  if (!m) {
    const known = registry
      .list()
      .map((x) => x.name)
      .join(', ');
    throw new ApiError(404, `map ${shown(name)} not found (maps: ${known || 'none open'})`);
  }
  return m;
}

/** GET /v1/map/{name}/events: the map's recent writes, oldest first. */
export function mapEvents(
  registry: MapRegistry,
  name: string,
  follow: boolean,
): Model<'MapEvent'>[] {
  if (follow)
    throw new ApiError(400, 'follow is not supported yet: poll without it for the recent events');
  const m = getOpenMap(registry, name);
  return m.recentEvents().map((e) => {
    const [key, value] =
      e.value === undefined ? [m.spec.key.format(e.key), ''] : m.format(e.key, e.value);
    return {
      timestamp: e.time.toISOString(),
      action: e.action,
      key,
      value,
      'desired-action': 'ok',
      ...(e.error !== undefined ? { 'last-error': e.error } : {}),
    };
  });
}
