import { randomInt } from 'node:crypto';
import { Rng } from '../../core/testing/rng.js';

export { Rng };

/** A JSON schema fragment of the API spec (may be a `$ref` into the spec document). */
export type Schema = Record<string, unknown>;

/** The run's seed: FUZZ_SEED when set (decimal or 0x hex), otherwise a random one. */
export function fuzzSeed(): number {
  const env = process.env.FUZZ_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n)) throw new Error(`FUZZ_SEED must be an integer, not '${env}'`);
    return n >>> 0;
  }
  return randomInt(0, 2 ** 32 - 1);
}

/** Follows `$ref`s (`#/components/...`) through the spec document. */
export function deref(doc: Record<string, unknown>, schema: unknown): Schema {
  let s = (schema ?? {}) as Schema;
  for (let hops = 0; typeof s.$ref === 'string' && hops < 32; hops++) {
    let cur: unknown = doc;
    for (const part of s.$ref.replace(/^#\//, '').split('/')) {
      cur = (cur as Record<string, unknown> | undefined)?.[part];
    }
    s = (cur ?? {}) as Schema;
  }
  return s;
}

/** Every property name a schema can contain, at any depth: the fields a 400 may name. */
export function schemaFieldNames(doc: Record<string, unknown>, schema: unknown): Set<string> {
  const names = new Set<string>();
  const seen = new Set<Schema>();
  const walk = (raw: unknown): void => {
    const s = deref(doc, raw);
    if (seen.has(s)) return;
    seen.add(s);
    const props = s.properties as Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(props ?? {})) {
      names.add(k);
      walk(v);
    }
    if (s.items) walk(s.items);
    if (s.additionalProperties && typeof s.additionalProperties === 'object') {
      walk(s.additionalProperties);
    }
  };
  walk(schema);
  return names;
}

/** Generators of meaningful values by property name (an IP from the pod CIDR for `ipv4`). */
export type Hints = Readonly<Record<string, (rng: Rng) => unknown>>;

const WORDS = ['web', 'db', 'default', 'kube-system', 'app', 'x', 'pod', 'a1', 'c0ffee'];

function plainString(rng: Rng): string {
  const n = rng.int(1, 3);
  return Array.from({ length: n }, () => rng.pick(WORDS)).join('-');
}

/** A value that satisfies `schema` (types, enums, bounds, formats), using `hints` by name. */
export function validValue(
  rng: Rng,
  doc: Record<string, unknown>,
  schema: unknown,
  hints: Hints = {},
  name?: string,
  depth = 0,
): unknown {
  const s = deref(doc, schema);
  const hint = name === undefined ? undefined : hints[name];
  if (hint) {
    // A hint is by field name; where the schema lists the values, only one of them will do.
    const v = hint(rng);
    if (!Array.isArray(s.enum) || (s.enum as unknown[]).includes(v)) return v;
  }
  if (Array.isArray(s.enum)) return rng.pick(s.enum as unknown[]);
  switch (s.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const required = new Set((s.required as string[] | undefined) ?? []);
      const props = (s.properties ?? {}) as Record<string, unknown>;
      for (const [k, v] of Object.entries(props)) {
        if (required.has(k) || (depth < 3 && rng.chance(0.5))) {
          out[k] = validValue(rng, doc, v, hints, k, depth + 1);
        }
      }
      const extra = s.additionalProperties;
      if (extra && typeof extra === 'object' && depth < 3) {
        for (let i = rng.int(0, 2); i > 0; i--) {
          out[plainString(rng)] = validValue(rng, doc, extra, hints, undefined, depth + 1);
        }
      }
      return out;
    }
    case 'array':
      return Array.from({ length: depth < 3 ? rng.int(0, 3) : 0 }, () =>
        validValue(rng, doc, s.items, hints, name, depth + 1),
      );
    case 'integer': {
      const lo = typeof s.minimum === 'number' ? s.minimum : 0;
      const hi = typeof s.maximum === 'number' ? s.maximum : 1000;
      return rng.int(lo, hi);
    }
    case 'number':
      return Math.round(rng.next() * 1e6) / 1000;
    case 'boolean':
      return rng.chance(0.5);
    case 'string':
      if (s.format === 'date-time') return new Date(1.7e12 + rng.int(0, 1e9)).toISOString();
      if (s.format === 'ipv4') return `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
      return plainString(rng);
    default:
      return rng.pick<unknown>([plainString(rng), rng.int(0, 9), true, null]);
  }
}

/** Strings a parser or a kernel interface is likely to choke on. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  'x'.repeat(300),
  'y'.repeat(70_000),
  'ünïcødé-名前-🚀',
  'a\u0000b',
  '\u0000',
  '\n\r\t',
  '\u202e\u200b',
  '../../../etc/passwd',
  '%2F..%2F',
  'lo',
  'eth0',
  'cilium_host',
  'null',
  'true',
  '-1',
  '1e3',
  '0x10',
  '70000',
  '256.1.1.1',
  '10.0.0.0/8',
  '::ffff:10.0.0.1',
  "'; DROP TABLE endpoints; --",
  '${process.exit(1)}',
  '__proto__',
  'constructor',
];

/** Numbers at and past every bound the agent and the kernel use. */
export const NASTY_NUMBERS: readonly number[] = [
  0,
  -1,
  -3,
  1.5,
  -0.5,
  65535,
  65536,
  70_000,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e21,
  1e308,
  -1e308,
  Number.MIN_VALUE,
];

/** An object `n` levels deep (`{"a":{"a":...}}`), as JSON text. */
export function deepJson(n: number, open = '{"a":', close = '}'): string {
  return open.repeat(n) + '1' + close.repeat(n);
}

/** A value of a wrong or extreme kind: null, nasty numbers and strings, arrays, objects. */
export function nastyValue(rng: Rng): unknown {
  switch (rng.int(0, 6)) {
    case 0:
      return null;
    case 1:
      return rng.pick(NASTY_NUMBERS);
    case 2:
      return rng.pick(NASTY_STRINGS);
    case 3:
      return rng.chance(0.5);
    case 4:
      return rng.chance(0.5) ? [] : [rng.pick(NASTY_STRINGS), rng.pick(NASTY_NUMBERS)];
    case 5:
      return rng.chance(0.5) ? {} : { [rng.pick(NASTY_STRINGS)]: rng.pick(NASTY_NUMBERS) };
    default:
      return JSON.parse(deepJson(rng.int(20, 200))) as unknown;
  }
}

type Path = readonly (string | number)[];

function locations(v: unknown, path: Path = [], out: Path[] = []): Path[] {
  out.push(path);
  if (Array.isArray(v)) v.forEach((x, i) => locations(x, [...path, i], out));
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) locations(x, [...path, k], out);
  }
  return out;
}

function setAt(root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path.at(-1) as string | number] = value;
  return copy;
}

function getAt(root: unknown, path: Path): unknown {
  let cur = root;
  for (const k of path) cur = (cur as Record<string | number, unknown>)[k];
  return cur;
}

/** A mutated copy of a value and a note saying what was changed (for the failure report). */
export interface Mutation {
  readonly value: unknown;
  readonly note: string;
}

/** Changes one place of a JSON value: wrong type, extreme value, removed or extra field. */
export function mutateValue(rng: Rng, value: unknown): Mutation {
  const path = rng.pick(locations(value));
  const where = ['body', ...path].join('.');
  const old = getAt(value, path);
  const kind = rng.weighted({ nasty: 5, edge: 3, drop: 2, extra: 1, swap: 1 });
  if (kind === 'drop' && path.length > 0 && !Array.isArray(getAt(value, path.slice(0, -1)))) {
    const before = getAt(value, path.slice(0, -1)) as Record<string, unknown>;
    const parent = Object.fromEntries(Object.entries(before).filter(([k]) => k !== path.at(-1)));
    return { value: setAt(value, path.slice(0, -1), parent), note: `${where} removed` };
  }
  if (kind === 'extra' && old !== null && typeof old === 'object' && !Array.isArray(old)) {
    const k = rng.pick(['unknown-field', '__proto__', 'constructor', 'x'.repeat(200)]);
    return {
      value: setAt(value, path, { ...old, [k]: nastyValue(rng) }),
      note: `${where} gets extra field ${k.slice(0, 20)}`,
    };
  }
  if (kind === 'swap') {
    const v = Array.isArray(old) ? { 0: (old as unknown[])[0] } : [old];
    return { value: setAt(value, path, v), note: `${where} wrapped in the other container` };
  }
  if (kind === 'edge' && typeof old === 'number') {
    const v = rng.pick(NASTY_NUMBERS);
    return { value: setAt(value, path, v), note: `${where} = ${v}` };
  }
  if (kind === 'edge' && typeof old === 'string') {
    const v = rng.pick(NASTY_STRINGS);
    return { value: setAt(value, path, v), note: `${where} = ${JSON.stringify(v.slice(0, 40))}` };
  }
  const v = nastyValue(rng);
  return {
    value: setAt(value, path, v),
    note: `${where} = ${JSON.stringify(v).slice(0, 60)}`,
  };
}

/** Request bodies that are not what any schema wants: not JSON, truncated, huge, deep. */
export function rawBodyMutation(rng: Rng, validJson: string): Mutation {
  const options: [string, () => string][] = [
    ['not JSON', () => 'this is not json'],
    ['truncated JSON', () => validJson.slice(0, rng.int(1, Math.max(1, validJson.length - 1)))],
    ['JSON null', () => 'null'],
    ['JSON number', () => String(rng.pick(NASTY_NUMBERS))],
    ['JSON string', () => JSON.stringify(rng.pick(NASTY_STRINGS))],
    ['JSON array', () => `[${validJson}]`],
    ['number too large for a double', () => '{"id":1e400,"interface-index":1e400}'],
    ['duplicate keys', () => validJson.replace(/^\{/, '{"state":"ready","state":7,')],
    ['BOM and trailing garbage', () => `\ufeff${validJson}}}`],
    ['NUL bytes', () => `${validJson}\u0000\u0000`],
    ['deeply nested object', () => deepJson(rng.pick([500, 5000, 50_000]))],
    ['deeply nested array', () => deepJson(rng.pick([500, 5000, 50_000]), '[', ']')],
    ['whitespace only', () => ' \n\t '],
    ['lone surrogate', () => '{"labels":["\\ud800"],"state":"ready"}'],
  ];
  const [note, make] = rng.pick(options);
  return { value: make(), note: `body: ${note}` };
}
