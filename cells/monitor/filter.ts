// What a monitor client asks for: the first line it sends on the socket (later lines replace
// it), applied by the agent so that unwanted events never cross the socket.
import { MONITOR_TYPES, relatedEndpoints, type MonitorEvent, type MonitorType } from './decode.js';

/** A client's filter: message types and endpoints (empty: all). */
export interface MonitorFilter {
  readonly types: readonly MonitorType[];
  /** Endpoint ids an event must be about (as source, destination or subject). */
  readonly relatedTo: readonly number[];
}

/** Every event. */
export const ALL_EVENTS: MonitorFilter = { types: [], relatedTo: [] };

/**
 * Parses a filter line: a JSON object `{"types": ["drop", ...], "related-to": [1234, ...]}`
 * (both optional). Throws an Error naming what is wrong.
 */
export function parseFilter(line: string): MonitorFilter {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new Error(`the filter is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new Error('the filter must be a JSON object like {"types":["drop"],"related-to":[12]}');
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'types' && k !== 'related-to') {
      throw new Error(`unknown filter field '${k}' (fields: types, related-to)`);
    }
  }
  const types = o.types ?? [];
  if (!Array.isArray(types) || !types.every((t) => MONITOR_TYPES.includes(t as MonitorType))) {
    throw new Error(
      `types must be a list of ${MONITOR_TYPES.join(', ')}, not ${JSON.stringify(types)}`,
    );
  }
  const related = o['related-to'] ?? [];
  if (
    !Array.isArray(related) ||
    !related.every((n) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 65535)
  ) {
    throw new Error(
      `related-to must be a list of endpoint ids (0-65535), not ${JSON.stringify(related)}`,
    );
  }
  return { types: types as MonitorType[], relatedTo: related as number[] };
}

/** Whether `e` passes `f`. */
export function matches(f: MonitorFilter, e: MonitorEvent): boolean {
  if (f.types.length > 0 && !f.types.includes(e.type)) return false;
  if (f.relatedTo.length === 0) return true;
  return relatedEndpoints(e).some((id) => id !== 0 && f.relatedTo.includes(id));
}
