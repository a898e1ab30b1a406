import type { BpfMap } from './map.js';

/** Every map the agent owns (name, pin, shape, live count, errors): what `map list` shows. */
export class MapRegistry {
  private readonly maps = new Map<string, BpfMap<unknown, unknown>>();

  /** Adds a map; a second map with the same name replaces the first. */
  add<K, V>(m: BpfMap<K, V>): void {
    this.maps.set(m.name, m);
  }

  /** Removes a map (e.g. an endpoint's policy map when the endpoint goes). */
  remove(name: string): void {
    this.maps.delete(name);
  }

  /** A map by name. */
  get(name: string): BpfMap<unknown, unknown> | undefined {
    return this.maps.get(name);
  }

  /** Every map, by name. */
  list(): BpfMap<unknown, unknown>[] {
    return [...this.maps.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
