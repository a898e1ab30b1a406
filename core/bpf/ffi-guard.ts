// The one check between JavaScript values and C: every bound function gets its arguments checked
// against rules derived from its C signature (plus a few hints C cannot express, such as
// IFNAMSIZ) before koffi sees them. koffi turns a number where a `const char *` is expected into
// a raw address and the process dies with SIGSEGV; after this guard it is a FfiArgumentError.
// No koffi here: the rules are plain predicates, so they are cheap and testable without libbpf.

/** A value of the wrong type or range on its way to a C function, caught before the call. */
export class FfiArgumentError extends TypeError {
  override readonly name = 'FfiArgumentError';

  constructor(
    /** The C function. */
    readonly fn: string,
    /** The parameter (`opts.ifindex` for a struct field, `arguments` for a wrong count). */
    readonly param: string,
    /** What the parameter accepts, in words. */
    readonly expected: string,
    /** What it got, in words. */
    readonly got: string,
  ) {
    super(`${fn}: ${param} must be ${expected}, got ${got}`);
  }
}

/** What a parameter accepts beyond its C type. */
export interface ParamHint {
  /** A string's limit in bytes without the terminating NUL (IFNAMSIZ - 1 for an interface name). */
  readonly maxBytes?: number;
  /** NULL is accepted too (a Buffer, struct or opaque pointer parameter). */
  readonly nullable?: boolean;
  /** Only NULL is accepted (an options pointer Cellium never passes). */
  readonly nullOnly?: boolean;
  /** This length must not exceed the byte size of the named Buffer or struct parameter. */
  readonly sizeOf?: string;
}

/** One C function: its koffi signature and the hints for its parameters. */
export interface FfiDecl {
  readonly sig: string;
  readonly hints?: Readonly<Record<string, ParamHint>>;
}

/** A struct as declared to koffi: its size and each field's C type. */
export interface FfiStruct {
  readonly size: number;
  readonly fields: Readonly<Record<string, string>>;
}

/** The named types signatures may use besides C's own: structs and opaque handles. */
export interface FfiTypes {
  readonly structs: ReadonlyMap<string, FfiStruct>;
  readonly opaques: ReadonlySet<string>;
  /** Type names that stand for another C type (`ssize_t` → `int64_t`). */
  readonly aliases?: ReadonlyMap<string, string>;
}

/** One parameter of a parsed signature. */
export interface CParam {
  readonly name: string;
  /** Normalised C type: no `const`, single spaces, `*` attached (`char *`, `uint32_t`). */
  readonly type: string;
  readonly dir: 'in' | 'out' | 'inout';
}

/** A C prototype as koffi reads it. */
export interface CSignature {
  readonly name: string;
  readonly ret: string;
  readonly params: readonly CParam[];
}

/** A check of one value: a cheap predicate, and the words for the error. */
export interface Rule {
  readonly expect: string;
  readonly ok: (v: unknown) => boolean;
  /** For composite values: which part failed (`.ifindex`) and what it accepts. */
  readonly explain?: (v: unknown) => { path: string; expect: string; got: unknown } | undefined;
}

function normalise(type: string): string {
  return type
    .replace(/\bconst\b/g, '')
    .replace(/\s*\*\s*/g, ' *')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Parses `ret name(type a, _Out_ type *b)`; every parameter must be named (errors name them). */
export function parseSignature(sig: string): CSignature {
  const m = /^\s*(.*?)\b(\w+)\s*\(([^)]*)\)\s*$/.exec(sig);
  if (!m) throw new Error(`cannot parse C signature: ${sig}`);
  const [, ret = '', name = '', list = ''] = m;
  const params: CParam[] = [];
  const trimmed = list.trim();
  if (trimmed !== '' && trimmed !== 'void') {
    for (const raw of trimmed.split(',')) {
      const d = /^\s*(_In_|_Out_|_Inout_)?\s*(.*?)\s*\b(\w+)\s*$/.exec(raw);
      const type = d?.[2] ?? '';
      if (!d || type === '' || !/[\w*\]]$/.test(type.trim()))
        throw new Error(`${name}: parameter "${raw.trim()}" needs a type and a name`);
      const dir = d[1] === '_Out_' ? 'out' : d[1] === '_Inout_' ? 'inout' : 'in';
      params.push({ name: d[3] ?? '', type: normalise(type), dir });
    }
  }
  return { name, ret: normalise(ret), params };
}

const INT_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int8_t: [-(2n ** 7n), 2n ** 7n - 1n],
  uint8_t: [0n, 2n ** 8n - 1n],
  int16_t: [-(2n ** 15n), 2n ** 15n - 1n],
  short: [-(2n ** 15n), 2n ** 15n - 1n],
  uint16_t: [0n, 2n ** 16n - 1n],
  'unsigned short': [0n, 2n ** 16n - 1n],
  int: [-(2n ** 31n), 2n ** 31n - 1n],
  int32_t: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32_t: [0n, 2n ** 32n - 1n],
  'unsigned int': [0n, 2n ** 32n - 1n],
  int64_t: [-(2n ** 63n), 2n ** 63n - 1n],
  long: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64_t: [0n, 2n ** 64n - 1n],
  'unsigned long': [0n, 2n ** 64n - 1n],
  size_t: [0n, 2n ** 64n - 1n],
};

function intRule(type: string, min: bigint, max: bigint): Rule {
  const expect = `an integer from ${min} to ${max} (${type})`;
  if (max - min < 2n ** 53n) {
    const lo = Number(min);
    const hi = Number(max);
    // The two commonest types get the cheapest test: they sit on the map update path.
    if (lo === -(2 ** 31) && hi === 2 ** 31 - 1)
      return { expect, ok: (v) => typeof v === 'number' && (v | 0) === v };
    if (lo === 0 && hi === 2 ** 32 - 1)
      return { expect, ok: (v) => typeof v === 'number' && v >>> 0 === v };
    return {
      expect,
      ok: (v) => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi,
    };
  }
  // 64-bit: a number must be exact (a safe integer); a bigint may use the whole range.
  const safeLo = min < 0n ? Number.MIN_SAFE_INTEGER : 0;
  return {
    expect: `a safe integer or bigint from ${min} to ${max} (${type})`,
    ok: (v) =>
      typeof v === 'number'
        ? Number.isSafeInteger(v) && v >= safeLo
        : typeof v === 'bigint' && v >= min && v <= max,
  };
}

function stringRule(maxBytes: number | undefined): Rule {
  if (maxBytes === undefined)
    return {
      expect: 'a string without NUL',
      ok: (v) => typeof v === 'string' && !v.includes('\0'),
    };
  return {
    expect: `a string of at most ${maxBytes} bytes without NUL`,
    ok: (v) =>
      typeof v === 'string' &&
      // A UTF-16 unit is at most 3 UTF-8 bytes, so short strings skip the byte count.
      (v.length * 3 <= maxBytes || Buffer.byteLength(v) <= maxBytes) &&
      !v.includes('\0'),
  };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

const orNull = (r: Rule): Rule => ({
  expect: `${r.expect} or null`,
  ok: (v) => v === null || r.ok(v),
  ...(r.explain ? { explain: (v: unknown) => (v === null ? undefined : r.explain?.(v)) } : {}),
});

const orUndefined = (r: Rule): Rule => ({
  expect: r.expect,
  ok: (v) => v === undefined || r.ok(v),
});

const NULL_ONLY: Rule = { expect: 'null', ok: (v) => v === null };
const BUFFER: Rule = { expect: 'a Buffer', ok: (v) => v instanceof Uint8Array };
const U32_ARRAY: Rule = {
  expect: 'a Uint32Array of at least 1 element',
  ok: (v) => v instanceof Uint32Array && v.length >= 1,
};

const POINTER_END = 2n ** 64n;

function pointerRule(name: string): Rule {
  // koffi 3 pointers are bigints; a number, string or undefined would be taken as an address.
  return {
    expect: `a ${name} pointer from libbpf`,
    ok: (v) => typeof v === 'bigint' && v > 0n && v < POINTER_END,
  };
}

function structRule(name: string, s: FfiStruct, dir: CParam['dir'], types: FfiTypes): Rule {
  if (dir === 'out') return { expect: `an object (struct ${name}, filled in)`, ok: isObject };
  // Fields left out are zero; a field that is present must fit its C type.
  const fields = Object.entries(s.fields).map(
    ([f, t]) =>
      [f, orUndefined(valueRule(`${name}.${f}`, t, 'in', { nullable: true }, types))] as const,
  );
  const fieldsOk = (v: Record<string, unknown>): boolean => {
    for (const [f, r] of fields) if (!r.ok(v[f])) return false;
    return true;
  };
  return {
    expect: `an object (struct ${name})`,
    ok: (v) => isObject(v) && fieldsOk(v),
    explain: (v) => {
      if (!isObject(v)) return undefined;
      for (const [f, r] of fields)
        if (!r.ok(v[f])) return { path: `.${f}`, expect: r.expect, got: v[f] };
      return undefined;
    },
  };
}

/** The rule for a value of C type `type` (a parameter or a struct field). */
export function valueRule(
  where: string,
  type: string,
  dir: CParam['dir'],
  hint: ParamHint,
  types: FfiTypes,
): Rule {
  const t = types.aliases?.get(type) ?? type;
  const withNull = (r: Rule): Rule => (hint.nullable ? orNull(r) : r);
  if (hint.nullOnly) {
    if (!t.endsWith('*')) throw new Error(`${where}: only a pointer can be null-only`);
    return NULL_ONLY;
  }
  if (hint.maxBytes !== undefined && t !== 'char *')
    throw new Error(`${where}: maxBytes is for strings, not ${t}`);
  const range = INT_RANGES[t];
  if (range) return intRule(t, range[0], range[1]);
  const arr = /^char\[(\d+)\]$/.exec(t);
  if (arr) return stringRule(Math.min(Number(arr[1]) - 1, hint.maxBytes ?? Infinity));
  if (t === 'char *') return withNull(stringRule(hint.maxBytes));
  if (t === 'void *') return withNull(BUFFER);
  if (!t.endsWith(' *')) throw new Error(`${where}: no rule for C type ${t}`);
  const base = t.slice(0, -2);
  const struct = types.structs.get(base);
  if (struct) return withNull(structRule(base, struct, dir, types));
  if (types.opaques.has(base)) return withNull(pointerRule(base));
  const elem = INT_RANGES[types.aliases?.get(base) ?? base];
  if (elem && dir === 'in' && base === 'uint32_t') return U32_ARRAY;
  if (elem) {
    // koffi writes an _Out_/_Inout_ scalar back into element 0 of a one-element array.
    const inner = intRule(base, elem[0], elem[1]);
    return {
      expect: `an array of one ${dir === 'out' ? base : inner.expect}`,
      ok: (v) => Array.isArray(v) && v.length === 1 && (dir === 'out' || inner.ok(v[0])),
    };
  }
  throw new Error(`${where}: no rule for C type ${t}`);
}

/** Describes a value for an error message: its type and, briefly, the value. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  switch (typeof v) {
    case 'string': {
      const s = JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
      const n = Buffer.byteLength(v);
      return `string ${s} (${n} byte${n === 1 ? '' : 's'}${v.includes('\0') ? ', with NUL' : ''})`;
    }
    case 'number':
    case 'boolean':
      return `${typeof v} ${String(v)}`;
    case 'bigint':
      return `bigint ${v}n`;
    case 'object': {
      if (Buffer.isBuffer(v)) return `Buffer of ${v.length} bytes`;
      if (Array.isArray(v)) return `array of ${v.length} elements`;
      if (ArrayBuffer.isView(v)) return `${v.constructor.name} of ${v.byteLength} bytes`;
      const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
      return ctor && ctor !== 'Object' ? `object (${ctor})` : 'object';
    }
    default:
      return typeof v;
  }
}

/** A length argument: a number, or element 0 of an _Inout_ one-element array. */
const lengthOf = (v: unknown): number | bigint => (Array.isArray(v) ? v[0] : v) as number | bigint;

/** The byte size a `sizeOf` hint compares against: a Buffer's length or a struct's size. */
function sizeOfValue(v: unknown, structSize: number | undefined): number {
  if (v instanceof Uint8Array) return v.byteLength;
  if (v === null || v === undefined) return 0;
  return structSize ?? 0;
}

/**
 * Wraps `call` (the koffi function for `decl.sig`) so every argument is checked first. Throws at
 * bind time when the signature uses a type without a rule, so no parameter goes unchecked.
 */
export function guardFfi<F extends (...args: never[]) => unknown>(
  decl: FfiDecl,
  types: FfiTypes,
  call: F,
): F {
  const sig = parseSignature(decl.sig);
  const fn = sig.name;
  const names = sig.params.map((p) => p.name);
  for (const h of Object.keys(decl.hints ?? {}))
    if (!names.includes(h)) throw new Error(`${fn}: hint for unknown parameter ${h}`);
  const rules = sig.params.map((p) =>
    valueRule(`${fn}(${p.name})`, p.type, p.dir, decl.hints?.[p.name] ?? {}, types),
  );
  const sizes = sig.params.flatMap((p, i) => {
    const of = decl.hints?.[p.name]?.sizeOf;
    if (of === undefined) return [];
    const j = names.indexOf(of);
    const target = sig.params[j];
    if (!target) throw new Error(`${fn}: ${p.name} is the size of unknown parameter ${of}`);
    const structSize = types.structs.get(target.type.replace(/ \*$/, ''))?.size;
    return [{ len: i, of: j, structSize }];
  });
  const n = rules.length;
  const fail = (args: readonly unknown[]): never => {
    for (let i = 0; i < n; i++) {
      const r = rules[i];
      const v = args[i];
      if (!r || r.ok(v)) continue;
      const part = r.explain?.(v);
      const name = names[i] ?? `#${i}`;
      if (part) throw new FfiArgumentError(fn, name + part.path, part.expect, describe(part.got));
      throw new FfiArgumentError(fn, name, r.expect, describe(v));
    }
    for (const s of sizes) {
      const max = sizeOfValue(args[s.of], s.structSize);
      if (lengthOf(args[s.len]) <= max) continue;
      throw new FfiArgumentError(
        fn,
        names[s.len] ?? '',
        `at most ${max} (the size of ${names[s.of] ?? ''})`,
        describe(lengthOf(args[s.len])),
      );
    }
    throw new Error(`${fn}: argument check failed`); // unreachable: fail() runs only on a failure
  };
  const sizesOk = (args: readonly unknown[]): boolean => {
    for (const s of sizes) {
      if (lengthOf(args[s.len]) > sizeOfValue(args[s.of], s.structSize)) return false;
    }
    return true;
  };
  return specialise(rules, sizes.length > 0 ? sizesOk : undefined, fail, call) as unknown as F;
}

type Call = (...args: never[]) => unknown;
type Check = (args: readonly unknown[]) => boolean;
type Ok = (v: unknown) => boolean;

const yes: Ok = () => true;

/**
 * The wrapper, written out per arity: a rest parameter and a spread (or touching `arguments`)
 * cost more than the checks themselves, and bpf_map_update_elem goes through here. A missing
 * argument is undefined and fails its rule; an extra one is refused by koffi.
 */
function specialise(
  rules: readonly Rule[],
  post: Check | undefined,
  fail: (args: readonly unknown[]) => never,
  fn: Call,
): (...args: unknown[]) => unknown {
  const call = fn as (...args: unknown[]) => unknown;
  const n = rules.length;
  const [k0 = yes, k1 = yes, k2 = yes, k3 = yes, k4 = yes, k5 = yes, k6 = yes] = rules.map(
    (r) => r.ok,
  );
  switch (n) {
    case 0:
      return () => call();
    case 1:
      return (a: unknown) => {
        if (!k0(a) || (post && !post([a]))) fail([a]);
        return call(a);
      };
    case 2:
      return (a: unknown, b: unknown) => {
        if (!k0(a) || !k1(b) || (post && !post([a, b]))) fail([a, b]);
        return call(a, b);
      };
    case 3:
      return (a: unknown, b: unknown, c: unknown) => {
        if (!k0(a) || !k1(b) || !k2(c) || (post && !post([a, b, c]))) fail([a, b, c]);
        return call(a, b, c);
      };
    case 4:
      return (a: unknown, b: unknown, c: unknown, d: unknown) => {
        if (!k0(a) || !k1(b) || !k2(c) || !k3(d) || (post && !post([a, b, c, d])))
          fail([a, b, c, d]);
        return call(a, b, c, d);
      };
    case 5:
      return (a: unknown, b: unknown, c: unknown, d: unknown, e: unknown) => {
        if (!k0(a) || !k1(b) || !k2(c) || !k3(d) || !k4(e) || (post && !post([a, b, c, d, e])))
          fail([a, b, c, d, e]);
        return call(a, b, c, d, e);
      };
    case 6:
      return (a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown) => {
        const args = [a, b, c, d, e, f];
        if (!k0(a) || !k1(b) || !k2(c) || !k3(d) || !k4(e) || !k5(f) || (post && !post(args)))
          fail(args);
        return call(a, b, c, d, e, f);
      };
    case 7:
      return (
        a: unknown,
        b: unknown,
        c: unknown,
        d: unknown,
        e: unknown,
        f: unknown,
        g: unknown,
      ) => {
        const ok = k0(a) && k1(b) && k2(c) && k3(d) && k4(e) && k5(f) && k6(g);
        if (!ok || (post && !post([a, b, c, d, e, f, g]))) fail([a, b, c, d, e, f, g]);
        return call(a, b, c, d, e, f, g);
      };
    default:
      return (...args: unknown[]) => {
        let ok = args.length === n;
        for (let i = 0; ok && i < n; i++) ok = (rules[i] as Rule).ok(args[i]);
        if (!ok || (post && !post(args))) fail(args);
        return call(...args);
      };
  }
}
