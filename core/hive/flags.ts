import { isIPv4 } from 'node:net';
import { isIPv6Address } from '../ip.js';

/** A JSON schema fragment (ajv draft-07 subset) describing one flag's value. */
export type JsonSchema = Record<string, unknown>;

/** One flag: its JSON schema (with default and description) and how to read it from text. */
export interface FlagSpec<T> {
  readonly schema: JsonSchema;
  readonly default: T;
  readonly description: string;
  /** Runtime-changeable through PATCH /v1/config. */
  readonly mutable: boolean;
  /** Turns text from argv, the environment or a config directory into a value. */
  readonly parse: (raw: string) => unknown;
  /** Renders a value back to text (GET /v1/config, `--help`). */
  format(v: T): string;
  /** A check beyond the schema (e.g. a CIDR's syntax); returns what is wrong, if anything. */
  check?(v: T): string | undefined;
}

/** The flags of one config cell, keyed by kebab-case flag name. */
export type FlagSet = Record<string, FlagSpec<unknown>>;

type Camel<S extends string> = S extends `${infer H}-${infer T}`
  ? `${H}${Capitalize<Camel<T>>}`
  : S;

/** The typed value a config cell provides: flag `api-body-limit` becomes `apiBodyLimit`. */
export type ConfigOf<F extends FlagSet> = {
  readonly [K in keyof F as Camel<K & string>]: F[K] extends FlagSpec<infer T> ? T : never;
};

/** Converts a kebab-case flag name to the camelCase property of its config value. */
export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

interface Opts {
  mutable?: boolean;
}

const DURATION = /^(\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go-style duration ("100ms", "1m30s") into milliseconds; NaN when malformed. */
export function parseDuration(raw: string): number {
  const s = raw.trim();
  if (/^\d+$/.test(s)) return Number(s);
  if (!DURATION.test(s)) return NaN;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? NaN);
  }
  return total;
}

/** Renders milliseconds as a Go-style duration. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * What is wrong with a CIDR, or undefined when it is a valid IPv4 or IPv6 prefix (of `family`
 * when one is asked for).
 */
export function cidrProblem(v: string, family?: 'ipv4' | 'ipv6'): string | undefined {
  const [ip = '', len, extra] = v.split('/');
  if (len === undefined || extra !== undefined) return `'${v}' is not a CIDR (like 10.0.0.0/24)`;
  const v6 = ip.includes(':');
  if (family !== undefined && v6 !== (family === 'ipv6')) {
    return `'${v}' is not an ${family === 'ipv6' ? 'IPv6' : 'IPv4'} CIDR`;
  }
  const max = v6 ? 128 : 32;
  const bits = Number(len);
  if (!/^\d+$/.test(len) || bits > max) return `'${v}': prefix length must be 0 to ${max}`;
  const ok = v6 ? isIPv6Address(ip) : isIPv4(ip);
  return ok ? undefined : `'${v}': '${ip}' is not an ${v6 ? 'IPv6' : 'IPv4'} address`;
}

function parseBool(raw: string): unknown {
  const s = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on', 'enabled'].includes(s)) return true;
  if (['false', '0', 'no', 'off', 'disabled'].includes(s)) return false;
  return raw;
}

function parseNumber(raw: string): unknown {
  const s = raw.trim();
  return s !== '' && Number.isFinite(Number(s)) ? Number(s) : raw;
}

function spec<T>(
  schema: JsonSchema,
  def: T,
  description: string,
  opts: Opts | undefined,
  parse: (raw: string) => unknown,
  format: (v: T) => string = String,
): FlagSpec<T> {
  return {
    schema: { ...schema, description },
    default: def,
    description,
    mutable: opts?.mutable ?? false,
    parse,
    format,
  };
}

/** Builders for flags; each one is a JSON schema with a default and a description. */
export const flag = {
  string(def: string, description: string, opts?: Opts & { pattern?: string }): FlagSpec<string> {
    const schema: JsonSchema = { type: 'string' };
    if (opts?.pattern !== undefined) schema.pattern = opts.pattern;
    return spec(schema, def, description, opts, (raw) => raw);
  },
  int(
    def: number,
    description: string,
    opts?: Opts & { min?: number; max?: number },
  ): FlagSpec<number> {
    const schema: JsonSchema = { type: 'integer' };
    if (opts?.min !== undefined) schema.minimum = opts.min;
    if (opts?.max !== undefined) schema.maximum = opts.max;
    return spec(schema, def, description, opts, parseNumber);
  },
  /** A number that may have a fraction (a ratio). */
  number(
    def: number,
    description: string,
    opts?: Opts & { min?: number; max?: number },
  ): FlagSpec<number> {
    const schema: JsonSchema = { type: 'number' };
    if (opts?.min !== undefined) schema.minimum = opts.min;
    if (opts?.max !== undefined) schema.maximum = opts.max;
    return spec(schema, def, description, opts, parseNumber);
  },
  bool(def: boolean, description: string, opts?: Opts): FlagSpec<boolean> {
    return spec({ type: 'boolean' }, def, description, opts, parseBool);
  },
  /** A duration written like "30s" or "1m"; the value is in milliseconds. */
  duration(def: string, description: string, opts?: Opts & { min?: string }): FlagSpec<number> {
    const ms = parseDuration(def);
    if (Number.isNaN(ms)) throw new Error(`bad default duration '${def}'`);
    const schema: JsonSchema = {
      type: 'number',
      minimum: parseDuration(opts?.min ?? '0'),
      'x-kind': 'duration',
    };
    return spec(
      schema,
      ms,
      description,
      opts,
      (raw) => {
        const v = parseDuration(raw);
        return Number.isNaN(v) ? `${raw} (not a duration like 30s, 5m or 1h)` : v;
      },
      formatDuration,
    );
  },
  /** A CIDR ("10.0.0.0/24", "fd00::/112"), of one family if given; `''` when `optional`. */
  cidr(
    def: string,
    description: string,
    opts?: Opts & { optional?: boolean; family?: 'ipv4' | 'ipv6' },
  ): FlagSpec<string> {
    const base = spec({ type: 'string' }, def, description, opts, (raw) => raw.trim());
    return {
      ...base,
      check: (v: string) => (v === '' && opts?.optional ? undefined : cidrProblem(v, opts?.family)),
    };
  },
  /** A list; on the command line and in the environment it is comma-separated. */
  list(def: readonly string[], description: string, opts?: Opts): FlagSpec<readonly string[]> {
    return spec(
      { type: 'array', items: { type: 'string' }, 'x-kind': 'list' },
      def,
      description,
      opts,
      (raw) =>
        raw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      (v) => v.join(','),
    );
  },
  oneOf<const V extends string>(
    values: readonly V[],
    def: V,
    description: string,
    opts?: Opts,
  ): FlagSpec<V> {
    return spec({ type: 'string', enum: values }, def, description, opts, (raw) => raw.trim());
  },
};
