import { createHash } from 'node:crypto';

/** Reserved identities, as Cilium numbers them. */
export const RESERVED = {
  unknown: 0,
  host: 1,
  world: 2,
  unmanaged: 3,
  health: 4,
  init: 5,
  'remote-node': 6,
  'kube-apiserver': 7,
  ingress: 8,
  'world-ipv4': 9,
  'world-ipv6': 10,
} as const;

/** The first and last identity the local allocator hands out (cluster 0). */
export const MIN_IDENTITY = 256;
export const MAX_IDENTITY = 65535;

/**
 * Normalizes a label set: `source:key=value` strings (a label without a source gets
 * `unspec:`), deduplicated and sorted, so equal sets have equal keys.
 */
export function normalizeLabels(labels: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of labels) {
    const l = raw.trim();
    if (l === '') continue;
    out.add(/^[a-zA-Z0-9-]+:/.test(l) ? l : `unspec:${l}`);
  }
  return [...out].sort();
}

/** The key a label set is stored under (JSON: no label can make two sets collide). */
export function labelsKey(labels: readonly string[]): string {
  return JSON.stringify(labels);
}

/** SHA-256 of the label set's string form (Cilium's labelsSHA256). */
export function labelsSha256(labels: readonly string[]): string {
  return createHash('sha256').update(labels.join(';')).digest('hex');
}

/** Whether `have` contains every label of `want` (`any:` matches every source). */
export function matchesLabels(have: readonly string[], want: readonly string[]): boolean {
  return want.every((w) => {
    if (w.startsWith('any:')) return have.some((h) => h.slice(h.indexOf(':') + 1) === w.slice(4));
    return have.includes(w);
  });
}
