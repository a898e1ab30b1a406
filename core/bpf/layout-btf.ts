// Pinned maps describe themselves: each map is created with BTF built from its codec layouts,
// and a pinned map's layouts are read back from its BTF when the agent wants another shape, so
// entries can be carried field by field by name. Field types survive the round trip through
// the names given to them: ints `__u8`..`__u64`, typedefs `__be16`, `__be32`, `cellium_ipv4`,
// `cellium_ip16`, `cellium_ipv6`, `cellium_mac64`, `cellium_pad`, and u8 arrays for raw bytes.
import {
  fieldSize,
  fieldTypeName,
  type FieldInfo,
  type FieldType,
  type MapLayouts,
  type StructLayout,
} from './codec.js';
import { libbpf, type Libbpf } from './libbpf.js';

const KIND = {
  INT: 1,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
} as const;

const INT_NAMES = ['__u8', '__u16', '', '__u32', '', '', '', '__u64'];

// Typedefs that carry a codec type, and the type each one is defined over.
const TYPEDEFS = {
  __be16: 'be16',
  __be32: 'be32',
  cellium_ipv4: 'ipv4',
  cellium_ip16: 'ip16',
  cellium_ipv6: 'ipv6',
  cellium_mac64: 'mac64',
} as const satisfies Record<string, FieldType>;

const TYPEDEF_OF: Partial<Record<string, string>> = Object.fromEntries(
  Object.entries(TYPEDEFS).map(([name, t]) => [t, name]),
);

/** A BTF object loaded into the kernel, with the ids of a map's key and value types. */
export interface LoadedBtf {
  readonly fd: number;
  readonly keyTypeId: number;
  readonly valueTypeId: number;
  /** Releases the BTF object (a map created with it keeps its own reference). */
  free(): void;
}

function ok(ret: number, what: string): number {
  if (ret < 0) throw new Error(`BTF: ${what} failed (errno ${-ret})`);
  return ret;
}

/**
 * Builds BTF describing `layouts` and loads it into the kernel. `intKey` describes the key as a
 * plain `__u32`, which array maps require.
 */
export function loadLayoutBtf(layouts: MapLayouts, intKey: boolean): LoadedBtf {
  const lib = libbpf();
  const btf = lib.btf__new_empty();
  if (!btf) throw new Error(`BTF: cannot allocate (errno ${lib.errno()})`);
  try {
    const ids = new Map<string, number>();
    const once = (key: string, add: () => number): number => {
      const have = ids.get(key);
      if (have !== undefined) return have;
      const id = ok(add(), `adding ${key}`);
      ids.set(key, id);
      return id;
    };
    const int = (size: number): number =>
      once(`int${size}`, () => lib.btf__add_int(btf, INT_NAMES[size - 1] ?? '', size, 0));
    const bytes = (n: number): number =>
      once(`u8[${n}]`, () => lib.btf__add_array(btf, int(4), int(1), n));
    const typeOf = (t: FieldType): number => {
      if (typeof t === 'object') {
        if ('bytes' in t) return bytes(t.bytes);
        return once(`pad${t.pad}`, () => lib.btf__add_typedef(btf, 'cellium_pad', bytes(t.pad)));
      }
      switch (t) {
        case 'u8':
        case 'u16':
        case 'u32':
        case 'u64':
          return int(fieldSize(t));
        case 'be16':
        case 'be32':
        case 'mac64':
          return once(t, () => lib.btf__add_typedef(btf, TYPEDEF_OF[t] ?? '', int(fieldSize(t))));
        case 'ipv4':
        case 'ip16':
        case 'ipv6':
          return once(t, () => lib.btf__add_typedef(btf, TYPEDEF_OF[t] ?? '', bytes(fieldSize(t))));
      }
    };
    const struct = (l: StructLayout): number => {
      // Member types first: btf__add_field appends to the type added last.
      const types = l.fields.map((f) => typeOf(f.type));
      const id = ok(lib.btf__add_struct(btf, l.cName, l.size), `adding struct ${l.cName}`);
      l.fields.forEach((f, i) => {
        ok(lib.btf__add_field(btf, f.name, types[i] ?? 0, f.offset * 8, 0), `adding ${f.name}`);
      });
      return id;
    };
    const keyTypeId = intKey ? int(4) : struct(layouts.key);
    const valueTypeId = struct(layouts.value);
    ok(lib.btf__load_into_kernel(btf), 'loading into the kernel');
    const fd = ok(lib.btf__fd(btf), 'getting its fd');
    return { fd, keyTypeId, valueTypeId, free: () => lib.btf__free(btf) };
  } catch (e) {
    lib.btf__free(btf);
    throw e;
  }
}

/** A pinned map's layouts as its BTF describes them, or why they cannot be known. */
export type ReadLayouts =
  { readonly layouts: MapLayouts } | { readonly problem: string } | { readonly none: true };

interface TypeRec {
  readonly kind: number;
  readonly name: string;
  readonly vlen: number;
  readonly kflag: boolean;
  /** size (int, struct) or referenced type (typedef, modifiers) */
  readonly sizeOrType: number;
  readonly words: readonly number[];
}

function typeRec(
  lib: Libbpf,
  btf: unknown,
  id: number,
  extra: (kind: number, vlen: number) => number,
): TypeRec {
  const ptr = lib.btf__type_by_id(btf, id);
  if (!ptr) throw new Error(`type ${id} is missing`);
  const [nameOff = 0, info = 0, sizeOrType = 0] = lib.readU32(ptr, 3);
  const kind = (info >>> 24) & 0x1f;
  const vlen = info & 0xffff;
  const n = extra(kind, vlen);
  return {
    kind,
    name: lib.btf__name_by_offset(btf, nameOff) ?? '',
    vlen,
    kflag: info >>> 31 === 1,
    sizeOrType,
    words: n > 0 ? lib.readU32(ptr, 3 + n).slice(3) : [],
  };
}

function extraWords(kind: number, vlen: number): number {
  if (kind === KIND.INT) return 1;
  if (kind === KIND.ARRAY) return 3;
  if (kind === KIND.STRUCT || kind === KIND.UNION) return 3 * vlen;
  return 0;
}

/** Why a BTF type has no codec type. */
class NotUnderstood {
  constructor(readonly why: string) {}
}

/** The codec type of a BTF type, or why it has none. */
function fieldType(lib: Libbpf, btf: unknown, id: number, depth = 0): FieldType | NotUnderstood {
  const no = (why: string): NotUnderstood => new NotUnderstood(why);
  if (depth > 16) return no('a type chain too deep');
  const t = typeRec(lib, btf, id, extraWords);
  switch (t.kind) {
    case KIND.INT: {
      const enc = t.words[0] ?? 0;
      const bits = enc & 0xff;
      const sizes: Partial<Record<number, FieldType>> = { 1: 'u8', 2: 'u16', 4: 'u32', 8: 'u64' };
      const ft = sizes[t.sizeOrType];
      if (ft === undefined || bits !== t.sizeOrType * 8 || ((enc >>> 16) & 0xff) !== 0)
        return no(`int ${t.name} of ${t.sizeOrType} bytes, ${bits} bits`);
      return ft;
    }
    case KIND.TYPEDEF: {
      const named = (TYPEDEFS as Partial<Record<string, FieldType>>)[t.name];
      const under = fieldType(lib, btf, t.sizeOrType, depth + 1);
      if (under instanceof NotUnderstood) return under;
      if (t.name === 'cellium_pad') return { pad: fieldSize(under) };
      if (named === undefined) return under; // e.g. a C object's __u32 over unsigned int
      return fieldSize(under) === fieldSize(named)
        ? named
        : no(`${t.name} of ${fieldSize(under)} bytes`);
    }
    case KIND.VOLATILE:
    case KIND.CONST:
    case KIND.RESTRICT:
      return fieldType(lib, btf, t.sizeOrType, depth + 1);
    case KIND.ARRAY: {
      const [elem = 0, , nelems = 0] = t.words;
      const e = fieldType(lib, btf, elem, depth + 1);
      if (e === 'u8') return { bytes: nelems };
      return no(`an array of ${e instanceof NotUnderstood ? e.why : fieldTypeName(e)}`);
    }
    default:
      return no(`a BTF type of kind ${t.kind}${t.name ? ` (${t.name})` : ''}`);
  }
}

function structLayout(lib: Libbpf, btf: unknown, id: number): StructLayout | string {
  const t = typeRec(lib, btf, id, extraWords);
  if (t.kind !== KIND.STRUCT) {
    // An array map's key: a plain integer, one field without a name.
    const ft = fieldType(lib, btf, id);
    if (ft instanceof NotUnderstood) return ft.why;
    const size = fieldSize(ft);
    return { cName: '', size, fields: [{ name: '', type: ft, offset: 0, size }] };
  }
  const fields: FieldInfo[] = [];
  for (let i = 0; i < t.vlen; i++) {
    const [nameOff = 0, type = 0, off = 0] = t.words.slice(3 * i, 3 * i + 3);
    const name = lib.btf__name_by_offset(btf, nameOff) ?? '';
    const bitSize = t.kflag ? off >>> 24 : 0;
    const bitOff = t.kflag ? off & 0xffffff : off;
    if (bitSize !== 0 || bitOff % 8 !== 0) return `field ${name} of ${t.name} is a bitfield`;
    const ft = fieldType(lib, btf, type);
    if (ft instanceof NotUnderstood) return `field ${name} of ${t.name} is ${ft.why}`;
    fields.push({ name, type: ft, offset: bitOff / 8, size: fieldSize(ft) });
  }
  return { cName: t.name, size: t.sizeOrType, fields };
}

/** Reads a map's key and value layouts from the kernel's copy of its BTF. */
export function readLayoutBtf(btfId: number, keyTypeId: number, valueTypeId: number): ReadLayouts {
  if (btfId === 0 || valueTypeId === 0) return { none: true };
  const lib = libbpf();
  const btf = lib.btf__load_from_kernel_by_id(btfId);
  if (!btf) return { problem: `its BTF (id ${btfId}) cannot be read (errno ${lib.errno()})` };
  try {
    const key = keyTypeId === 0 ? 'no key type' : structLayout(lib, btf, keyTypeId);
    if (typeof key === 'string') return { problem: `its BTF key type is not understood: ${key}` };
    const value = structLayout(lib, btf, valueTypeId);
    if (typeof value === 'string')
      return { problem: `its BTF value type is not understood: ${value}` };
    return { layouts: { key, value } };
  } catch (e) {
    return { problem: `its BTF cannot be read: ${e instanceof Error ? e.message : String(e)}` };
  } finally {
    lib.btf__free(btf);
  }
}
