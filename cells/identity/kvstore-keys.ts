// Cilium's identity layout in the kvstore (Documentation/kvstore.rst, pkg/kvstore/allocator):
//   cilium/state/identities/v1/id/<id>                 → <label string>   (master key)
//   cilium/state/identities/v1/value/<label string>/<node> → <id>         (slave key, leased)
// A label string is Cilium's sorted `source:key=value;` concatenation.

/** Where every identity key lives. */
export const IDENTITY_PREFIX = 'cilium/state/identities/v1/';
/** Master keys: id → label string. */
export const ID_PREFIX = `${IDENTITY_PREFIX}id/`;
/** Slave keys: label string and node → id, bound to the node's session. */
export const VALUE_PREFIX = `${IDENTITY_PREFIX}value/`;
/** Locks (per label string, and one for garbage collection): outside the watched prefixes. */
export const LOCK_PREFIX = `${IDENTITY_PREFIX}locks/`;
/** The lock the garbage collector holds, so one agent collects at a time. */
export const GC_LOCK = `${LOCK_PREFIX}gc`;

/** Cilium's label string of a normalized label set: `k8s:app=web;k8s:ns=default;`. */
export function labelString(labels: readonly string[]): string {
  return labels.map((l) => `${l};`).join('');
}

/** The labels of a label string (its order kept); empty when it holds none. */
export function parseLabelString(s: string): string[] {
  return s.split(';').filter((l) => l !== '');
}

/** The master key of an id. */
export function idKey(id: number): string {
  return `${ID_PREFIX}${id}`;
}

/** The id of a master key, or undefined when the key is not one. */
export function idOfKey(key: string): number | undefined {
  if (!key.startsWith(ID_PREFIX)) return undefined;
  const raw = key.slice(ID_PREFIX.length);
  return /^[1-9]\d{0,9}$/.test(raw) ? Number(raw) : undefined;
}

/** The prefix of every node's slave key for a label string. */
export function valuePrefix(ls: string): string {
  return `${VALUE_PREFIX}${ls}/`;
}

/** This node's slave key for a label string. */
export function valueKey(ls: string, node: string): string {
  return `${valuePrefix(ls)}${node}`;
}

/** The label string and node of a slave key, or undefined when the key is not one. */
export function parseValueKey(key: string): { ls: string; node: string } | undefined {
  if (!key.startsWith(VALUE_PREFIX)) return undefined;
  const rest = key.slice(VALUE_PREFIX.length);
  // Label strings end in ';' and node names hold no '/': the node is after the last '/'.
  const cut = rest.lastIndexOf('/');
  if (cut <= 0) return undefined;
  return { ls: rest.slice(0, cut), node: rest.slice(cut + 1) };
}

/** The lock of a label string. */
export function labelsLock(ls: string): string {
  return `${LOCK_PREFIX}${ls}`;
}

/** An id read from a slave key's value, or undefined when it is not one. */
export function parseId(v: string | undefined): number | undefined {
  return v !== undefined && /^[1-9]\d{0,9}$/.test(v) ? Number(v) : undefined;
}
