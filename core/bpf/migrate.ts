// What happens to a pinned map the agent wants in another shape or layout. One rule set for
// both backends: entries are carried into a new map field by field by name, or, when that is
// impossible, the old map is kept (in use, or pinned aside) and the reason reported — entries
// are never dropped silently.
import { fieldTypeName, isPad, type MapLayouts, type StructLayout } from './codec.js';
import { isPerCpu, MapType, type MapShape, type RawMap } from './map.js';

/** What happened when a pinned map was opened. */
export type PinOutcome =
  /** No pin yet: a new map was created and pinned. */
  | 'created'
  /** The pinned map has the wanted shape and layout and is used as it is. */
  | 'reused'
  /** Another shape or layout: a new map holds every old entry and took over the pin. */
  | 'migrated'
  /** Only the size differs and the entries held do not fit: the pinned map is used as it is. */
  | 'kept-size'
  /** The old map could not be understood: pinned aside with its entries; a new map starts empty. */
  | 'kept-aside';

/** Where a pinned map's old contents go when they cannot be migrated (bpffs forbids dots). */
export function asidePath(pinPath: string, exists: (p: string) => boolean): string {
  for (let i = 1; ; i++) {
    const p = `${pinPath}_prev${i === 1 ? '' : String(i)}`;
    if (!exists(p)) return p;
  }
}

const TYPE_NAMES: Partial<Record<MapType, string>> = {
  [MapType.Hash]: 'hash',
  [MapType.Array]: 'array',
  [MapType.PerCpuHash]: 'percpu_hash',
  [MapType.PerCpuArray]: 'percpu_array',
  [MapType.LruHash]: 'lru_hash',
  [MapType.LruPerCpuHash]: 'lru_percpu_hash',
  [MapType.LpmTrie]: 'lpm_trie',
};

/** A map's shape as one line: `hash key 20 B value 48 B max 65535 flags 0`. */
export function shapeText(s: MapShape, layouts?: MapLayouts): string {
  const type = TYPE_NAMES[s.type] ?? `type ${String(s.type)}`;
  const l = layouts ? ` (${layoutText(layouts.key)} → ${layoutText(layouts.value)})` : '';
  return `${type} key ${s.keySize} B value ${s.valueSize} B max ${s.maxEntries} flags ${s.flags}${l}`;
}

function layoutText(l: StructLayout): string {
  const data = l.fields.filter((f) => !isPad(f.type));
  return `${l.cName || 'key'}{${data.map((f) => `${f.name}:${fieldTypeName(f.type)}@${f.offset}`).join(',')}}`;
}

function sameType(a: StructLayout['fields'][number]['type'], b: typeof a): boolean {
  return fieldTypeName(a) === fieldTypeName(b);
}

// A scalar key read back from BTF (an array map's __u32) has one field without a name: it
// stands for the one field of the wanted key, whatever its name.
function counterpart(
  from: StructLayout,
  to: StructLayout,
  name: string,
): StructLayout['fields'][number] | undefined {
  const data = from.fields.filter((f) => !isPad(f.type));
  const toData = to.fields.filter((f) => !isPad(f.type));
  if (data.length === 1 && toData.length === 1 && (data[0]?.name === '' || toData[0]?.name === ''))
    return data[0];
  return data.find((f) => f.name === name);
}

/** Whether two layouts put the same data fields at the same places (padding aside). */
export function sameLayout(a: StructLayout, b: StructLayout): boolean {
  if (a.size !== b.size) return false;
  const da = a.fields.filter((f) => !isPad(f.type));
  const db = b.fields.filter((f) => !isPad(f.type));
  if (da.length !== db.length) return false;
  return db.every((f) => {
    const o = counterpart(a, b, f.name);
    return o !== undefined && o.offset === f.offset && sameType(o.type, f.type);
  });
}

const WIDTHS = ['u8', 'u16', 'u32', 'u64'];

/** Copies one struct's fields into another layout: `(src, srcOff, dst, dstOff)`. */
export type Convert = (src: Buffer, srcOff: number, dst: Buffer, dstOff: number) => void;

/**
 * How to turn entries of layout `from` into layout `to`: each field of `to` takes the field of
 * `from` with its name (an unsigned integer may widen; host order is little-endian, so the low
 * bytes are copied); new fields stay zero; fields `to` dropped are gone. A field whose type
 * changed otherwise cannot be carried: the answer is then the reason.
 */
export function converter(from: StructLayout, to: StructLayout): Convert | { problem: string } {
  const moves: { src: number; dst: number; len: number }[] = [];
  for (const f of to.fields) {
    if (isPad(f.type)) continue;
    const o = counterpart(from, to, f.name);
    if (!o) continue;
    const widen =
      WIDTHS.indexOf(fieldTypeName(o.type)) >= 0 &&
      WIDTHS.indexOf(fieldTypeName(f.type)) >= WIDTHS.indexOf(fieldTypeName(o.type));
    if (!sameType(o.type, f.type) && !widen) {
      return {
        problem: `field ${f.name} of ${to.cName || 'the key'} changed from ${fieldTypeName(o.type)} to ${fieldTypeName(f.type)}`,
      };
    }
    moves.push({ src: o.offset, dst: f.offset, len: Math.min(o.size, f.size) });
  }
  return (src, srcOff, dst, dstOff) => {
    dst.fill(0, dstOff, dstOff + to.size);
    for (const m of moves) src.copy(dst, dstOff + m.dst, srcOff + m.src, srcOff + m.src + m.len);
  };
}

// Entries can move between these types: same key semantics, same value per entry or per CPU.
const FAMILY: Partial<Record<MapType, string>> = {
  [MapType.Hash]: 'hash',
  [MapType.LruHash]: 'hash',
  [MapType.PerCpuHash]: 'percpu',
  [MapType.LruPerCpuHash]: 'percpu',
  [MapType.Array]: 'array',
  [MapType.PerCpuArray]: 'percpu_array',
  [MapType.LpmTrie]: 'lpm',
};

function isArray(t: MapType): boolean {
  return t === MapType.Array || t === MapType.PerCpuArray;
}

/** A pinned map as found, before the agent decides what to do with it. */
export interface FoundMap {
  readonly shape: MapShape;
  /** Its layouts (from its BTF, or kept with an in-memory pin); undefined when it has none. */
  readonly layouts: MapLayouts | undefined;
  /** Why its layouts could not be read, when it has BTF that Cellium does not understand. */
  readonly layoutProblem?: string;
  /** The old map, to read its entries. */
  readonly raw: RawMap;
}

/** What to do with a pinned map. */
export type PinDecision =
  | { readonly kind: 'reuse'; readonly problem?: string }
  | {
      readonly kind: 'migrate';
      readonly maxEntries: number;
      readonly entries: readonly (readonly [Buffer, Buffer])[];
      /** The layout is the same (only the size or flags changed). */
      readonly layoutSame: boolean;
      readonly problem?: string;
    }
  | { readonly kind: 'keep-aside'; readonly reason: string; readonly held: number };

function isZero(b: Buffer): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/** How many entries a map holds (arrays: the slots that are not all zero). */
function held(raw: RawMap): number {
  let n = 0;
  for (const [, v] of raw.dump()) if (!isArray(raw.type) || !isZero(v)) n++;
  return n;
}

/**
 * Decides what becomes of a pinned map `old` when the agent wants `want` laid out as `layouts`.
 * `ncpus` is the new map's number of per-CPU values.
 */
export function decide(
  old: FoundMap,
  want: MapShape,
  layouts: MapLayouts | undefined,
  ncpus: number,
): PinDecision {
  const o = old.shape;
  const known = old.layouts !== undefined && layouts !== undefined;
  const sizesSame = o.keySize === want.keySize && o.valueSize === want.valueSize;
  const layoutSame =
    old.layouts !== undefined && layouts !== undefined
      ? sameLayout(old.layouts.key, layouts.key) && sameLayout(old.layouts.value, layouts.value)
      : sizesSame && old.layoutProblem === undefined; // no BTF: the same sizes are taken as the same layout
  const sameKind = o.type === want.type && o.flags === want.flags && layoutSame;
  if (sameKind && o.maxEntries === want.maxEntries) return { kind: 'reuse' };

  const notUnderstood = (reason: string): PinDecision => {
    let n: number;
    try {
      n = held(old.raw);
    } catch (e) {
      // Not even readable (a ring buffer pinned under the name): kept aside untouched.
      const why = e instanceof Error ? e.message : String(e);
      return {
        kind: 'keep-aside',
        reason: `${reason}; its entries cannot be read (${why})`,
        held: 0,
      };
    }
    return n === 0
      ? { kind: 'migrate', maxEntries: want.maxEntries, entries: [], layoutSame: false }
      : { kind: 'keep-aside', reason, held: n };
  };
  if (FAMILY[o.type] === undefined || FAMILY[o.type] !== FAMILY[want.type]) {
    return notUnderstood(`its type changed (${shapeText(o)} → ${shapeText(want)})`);
  }
  let ck: Convert;
  let cv: Convert;
  // An LPM key's prefix length counts bits from where the data starts: moving data would
  // change what every prefix covers.
  if (known && want.type === MapType.LpmTrie && !sameLayout(old.layouts.key, layouts.key)) {
    return notUnderstood('the layout of its LPM key changed');
  }
  if (known) {
    const k = converter(old.layouts.key, layouts.key);
    const v = converter(old.layouts.value, layouts.value);
    if (typeof k !== 'function') return notUnderstood(k.problem);
    if (typeof v !== 'function') return notUnderstood(v.problem);
    [ck, cv] = [k, v];
  } else if (sizesSame && old.layoutProblem === undefined) {
    ck = (s, so, d, dO) => void s.copy(d, dO, so, so + want.keySize);
    cv = (s, so, d, dO) => void s.copy(d, dO, so, so + want.valueSize);
  } else {
    return notUnderstood(
      old.layoutProblem ??
        (old.layouts === undefined
          ? 'it has no BTF describing its layout, and its key or value size changed'
          : 'no layout was given for the new map'),
    );
  }

  const oldStride = isPerCpu(o.type) ? Math.ceil(o.valueSize / 8) * 8 : o.valueSize;
  const newStride = isPerCpu(want.type) ? Math.ceil(want.valueSize / 8) * 8 : want.valueSize;
  const oldCpus = isPerCpu(o.type) ? old.raw.ncpus : 1;
  const newCpus = isPerCpu(want.type) ? ncpus : 1;
  const entries: [Buffer, Buffer][] = [];
  const seen = new Set<string>();
  let need = 0;
  for (const [k, v] of old.raw.dump()) {
    if (isArray(o.type) && isZero(v)) continue;
    const nk = Buffer.alloc(want.keySize);
    ck(k, 0, nk, 0);
    const nv = Buffer.alloc(newStride * newCpus);
    for (let c = 0; c < Math.min(oldCpus, newCpus); c++) cv(v, c * oldStride, nv, c * newStride);
    const id = nk.toString('hex');
    if (seen.has(id)) {
      return notUnderstood(`two of its entries would get the same key ${id} in the new key layout`);
    }
    seen.add(id);
    entries.push([nk, nv]);
    need = isArray(want.type) ? Math.max(need, nk.readUInt32LE(0) + 1) : need + 1;
  }
  if (need > want.maxEntries) {
    const problem =
      `it holds ${isArray(want.type) ? `slot ${need - 1}` : `${need} entries`}, more than the wanted max ${want.maxEntries}: ` +
      `keeping its max of ${o.maxEntries}`;
    if (sameKind) return { kind: 'reuse', problem };
    return { kind: 'migrate', maxEntries: o.maxEntries, entries, layoutSame, problem };
  }
  return { kind: 'migrate', maxEntries: want.maxEntries, entries, layoutSame };
}

/** What opening a pinned map did, for the log and the maps cell's health. */
export interface PinReport {
  readonly outcome: PinOutcome;
  readonly message: string;
  /** What the agent asked for and did not get (a size refused, entries kept aside). */
  readonly problem?: string;
}

/** What a backend does for `reopenPinned`. */
export interface PinOps {
  readonly pinPath: string;
  /** The pinned map as found. */
  readonly found: FoundMap;
  /** A new, unpinned map of this shape, described by the layouts when there are any. */
  create(shape: MapShape): RawMap;
  /** The old map, used as it is (its own shape). */
  reuse(): RawMap;
  /** Pins `fresh` where the old map was pinned, in one step. */
  swap(fresh: RawMap): void;
  /** Pins the old map aside; returns where. */
  keepAside(): string;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Applies the decision for a pinned map of another shape or layout; reports what it did. */
export function reopenPinned(
  want: MapShape,
  layouts: MapLayouts | undefined,
  ops: PinOps,
  report: (r: PinReport) => void,
): RawMap {
  const { found } = ops;
  const ncpus = isPerCpu(want.type) ? found.raw.ncpus : 1;
  const d = decide(found, want, layouts, ncpus);
  const was = shapeText(found.shape, found.layouts);
  const now = shapeText(want, layouts);
  const keepAside = (reason: string, n: number): RawMap => {
    const fresh = ops.create(want);
    let aside: string;
    try {
      aside = ops.keepAside();
      ops.swap(fresh);
    } catch (e) {
      fresh.close();
      throw e;
    }
    const problem = `cannot be migrated (${reason}): its ${n} entries are kept in the old map, now pinned at ${aside}; a new empty map took its place`;
    report({
      outcome: 'kept-aside',
      message: `map ${want.name} at ${ops.pinPath} ${problem} (was: ${was}; now: ${now})`,
      problem,
    });
    return fresh;
  };
  const keepSize = (problem: string): RawMap => {
    report({
      outcome: 'kept-size',
      message: `map ${want.name} at ${ops.pinPath} not resized: ${problem} (wanted: ${now})`,
      problem,
    });
    return ops.reuse();
  };
  if (d.kind === 'reuse') {
    if (d.problem !== undefined) return keepSize(d.problem);
    report({ outcome: 'reused', message: `reopened pinned map ${ops.pinPath}` });
    return ops.reuse();
  }
  if (d.kind === 'keep-aside') return keepAside(d.reason, d.held);
  const shape = { ...want, maxEntries: d.maxEntries };
  const fresh = ops.create(shape);
  try {
    for (const [k, v] of d.entries) fresh.update(k, v, 'any');
  } catch (e) {
    // The new map is not pinned yet: closing it drops it, and the old one is untouched.
    fresh.close();
    const reason = `writing its entries into the new map failed: ${errText(e)}`;
    return d.layoutSame ? keepSize(reason) : keepAside(reason, d.entries.length);
  }
  try {
    ops.swap(fresh);
  } catch (e) {
    fresh.close();
    throw e;
  }
  const carried = `carried over ${d.entries.length} entries (was: ${was}; now: ${shapeText(shape, layouts)})`;
  report(
    d.problem === undefined
      ? {
          outcome: 'migrated',
          message: `map ${want.name} changed shape or layout; ${carried}`,
        }
      : {
          outcome: 'migrated',
          message: `map ${want.name} changed layout but was not resized: ${d.problem}; ${carried}`,
          problem: d.problem,
        },
  );
  return fresh;
}
