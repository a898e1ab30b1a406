// Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4): each backend walks the
// table in its own permutation (offset and skip from two hashes of its name) and backends take
// turns claiming the next free entry of their permutation until the table is full. Every backend
// ends up with a near-equal share (or one proportional to its weight), and removing one of N
// backends moves only about 1/N of the entries.

/** A backend as the table sees it: a stable name (its address) and a weight (0: none). */
export interface MaglevBackend {
  readonly id: number;
  readonly name: string;
  readonly weight: number;
}

/** The table sizes Cilium accepts for --bpf-lb-maglev-table-size: primes, so every skip works. */
export const MAGLEV_SIZES = [
  251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
] as const;

/** 32-bit FNV-1a of a string with a seed mixed in first, finished with murmur3's avalanche. */
function hash32(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Two 32-bit seeds from the --bpf-lb-maglev-hash-seed text (the same on every node). */
export function maglevSeeds(seed: string): readonly [number, number] {
  return [hash32(seed, 0x9e3779b9), hash32(seed, 0x7f4a7c15)];
}

/**
 * The lookup table of `size` entries (a prime) over `backends`: entry i holds the id of the
 * backend that flow hashes i map to. Backends of weight 0 get no entry; none left: empty table.
 */
export function maglevTable(
  backends: readonly MaglevBackend[],
  size: number,
  seeds: readonly [number, number],
): Uint32Array {
  const table = new Uint32Array(size);
  // Turns in name order, so every node (and every order of the same backends) makes one table.
  const bes = backends
    .filter((b) => b.weight > 0)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const n = bes.length;
  if (n === 0) return table;
  const offset = new Uint32Array(n);
  const skip = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const name = (bes[i] as MaglevBackend).name;
    offset[i] = hash32(name, seeds[0]) % size;
    skip[i] = (hash32(name, seeds[1]) % (size - 1)) + 1;
  }
  const maxWeight = Math.max(...bes.map((b) => b.weight));
  const weight = bes.map((b) => b.weight / maxWeight);
  const credit = new Float64Array(n);
  const next = new Uint32Array(n);
  const taken = new Uint8Array(size);
  let filled = 0;
  while (filled < size) {
    for (let i = 0; i < n && filled < size; i++) {
      // A backend of weight w claims an entry in a fraction w of the rounds (w = 1 every round).
      credit[i] = (credit[i] as number) + (weight[i] as number);
      if ((credit[i] as number) < 1) continue;
      credit[i] = (credit[i] as number) - 1;
      const o = offset[i] as number;
      const k = skip[i] as number;
      let j = next[i] as number;
      let c = (o + j * k) % size;
      while (taken[c]) {
        j++;
        c = (o + j * k) % size;
      }
      taken[c] = 1;
      table[c] = (bes[i] as MaglevBackend).id;
      next[i] = j + 1;
      filled++;
    }
  }
  return table;
}
