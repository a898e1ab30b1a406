import { token } from './token.js';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { Subject, type Observable, filter, map } from 'rxjs';
import { parse as parseYaml } from 'yaml';
import { checkFlagSchema, isSimpleSchema } from './flag-schema.js';
import type { FlagSpec } from './flags.js';

/** Where flag values come from; earlier entries in this list win. */
export interface ConfigSources {
  /** Programmatic values (tests, embedders); they win over everything. */
  readonly values?: Readonly<Record<string, unknown>>;
  /** Parsed command-line flags: name → text, or `true` for a bare `--flag`. */
  readonly flags?: Readonly<Record<string, string | true>>;
  /** The environment; `CELLIUM_API_SOCKET` sets `--api-socket`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A directory with one file per flag, as a Kubernetes ConfigMap is mounted. */
  readonly dir?: string;
  /** A YAML or JSON file mapping flag names to values. */
  readonly file?: string;
}

/** One flag registered by a config cell of the hive. */
export interface FlagInfo {
  readonly name: string;
  readonly module: string;
  readonly spec: FlagSpec<unknown>;
}

/** One problem with a flag's value. */
export interface ConfigIssue {
  readonly flag: string;
  readonly message: string;
}

/** Invalid or unknown flags; the agent exits 2 with this message before anything starts. */
export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `--${i.flag}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** The environment variable that sets a flag. */
export function envName(flag: string): string {
  return `CELLIUM_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** A compiled validator, used as a plain predicate (not as a type guard). */
interface Validator {
  (value: unknown): boolean;
  errors?: ValidateFunction['errors'];
}

let ajv: Ajv | undefined;
const validators = new WeakMap<object, Validator>();

/** What ajv says is wrong with a value of a schema beyond the simple subset; compiled once. */
function ajvProblem(schema: Record<string, unknown>, value: unknown): string | undefined {
  let validate = validators.get(schema);
  if (!validate) {
    ajv ??= new Ajv({ allErrors: true, strict: false });
    validate = ajv.compile(schema) as Validator;
    validators.set(schema, validate);
  }
  return validate(value) ? undefined : (validate.errors?.[0]?.message ?? 'invalid');
}

function check(info: FlagInfo, value: unknown): string | undefined {
  const schema = info.spec.schema;
  const problem = isSimpleSchema(schema)
    ? checkFlagSchema(schema, value)
    : ajvProblem(schema, value);
  if (problem === undefined) {
    const extra = info.spec.check?.(value);
    return extra === undefined ? undefined : `invalid value ${extra}`;
  }
  const shown = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  const allowed = Array.isArray(info.spec.schema.enum)
    ? ` (${(info.spec.schema.enum as unknown[]).map(String).join(',')})`
    : '';
  return `invalid value ${shown}: ${problem}${allowed}`;
}

function readFileSource(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([{ flag: 'config', message: `cannot read ${path}: ${String(e)}` }]);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (e) {
    throw new ConfigError([{ flag: 'config', message: `${path} is not YAML/JSON: ${String(e)}` }]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([{ flag: 'config', message: `${path} must map flag names to values` }]);
  }
  return parsed as Record<string, unknown>;
}

function readDirSource(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new ConfigError([{ flag: 'config-dir', message: `cannot read ${dir}: ${String(e)}` }]);
  }
  for (const name of names) {
    // ConfigMap mounts carry `..data` links and dot-files; they are not keys.
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    out[name] = readFileSync(path, 'utf8').trim();
  }
  return out;
}

/**
 * Resolves every flag's value from its sources, in precedence order, parses and validates it.
 * Throws ConfigError listing every bad or unknown flag; `warn` gets keys that are ignored.
 */
export function resolveConfig(
  flags: readonly FlagInfo[],
  src: ConfigSources,
  warn: (msg: string) => void = () => undefined,
): Map<string, unknown> {
  const byName = new Map(flags.map((f) => [f.name, f]));
  const issues: ConfigIssue[] = [];
  for (const name of Object.keys(src.flags ?? {})) {
    if (!byName.has(name)) issues.push({ flag: name, message: 'unknown flag' });
  }
  for (const name of Object.keys(src.values ?? {})) {
    if (!byName.has(name)) issues.push({ flag: name, message: 'unknown flag' });
  }
  const file = src.file === undefined ? {} : readFileSource(src.file);
  const dir = src.dir === undefined ? {} : readDirSource(src.dir);
  for (const [where, keys] of [
    [src.file, Object.keys(file)],
    [src.dir, Object.keys(dir)],
  ] as const) {
    for (const k of keys) if (!byName.has(k)) warn(`${where ?? ''}: ignoring unknown key '${k}'`);
  }

  const out = new Map<string, unknown>();
  for (const info of flags) {
    const { name, spec } = info;
    const fromArgv = src.flags?.[name];
    const fromEnv = src.env?.[envName(name)];
    let value: unknown = spec.default;
    if (src.values && name in src.values) {
      const v = src.values[name];
      value = typeof v === 'string' ? spec.parse(v) : v;
    } else if (fromArgv === true) {
      if (spec.schema.type !== 'boolean') {
        issues.push({ flag: name, message: 'needs a value (--' + name + '=VALUE)' });
        continue;
      }
      value = true;
    } else if (fromArgv !== undefined) value = spec.parse(fromArgv);
    else if (fromEnv !== undefined) value = spec.parse(fromEnv);
    else if (name in dir) value = spec.parse(dir[name] ?? '');
    else if (name in file) {
      const v = file[name];
      value = typeof v === 'string' ? spec.parse(v) : v;
    }
    const problem = check(info, value);
    if (problem !== undefined) issues.push({ flag: name, message: problem });
    else out.set(name, value);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return out;
}

/** A change of a runtime-changeable flag. */
export interface ConfigChange {
  readonly flag: string;
  readonly value: unknown;
}

/** The hive's resolved flags; runtime-changeable ones can be set and observed. */
export class ConfigStore {
  private readonly changes = new Subject<ConfigChange>();
  private readonly infos: Map<string, FlagInfo>;

  constructor(
    flags: readonly FlagInfo[],
    private readonly values: Map<string, unknown>,
  ) {
    this.infos = new Map(flags.map((f) => [f.name, f]));
  }

  /** Every flag with its module, spec and current value, sorted by name. */
  list(): { info: FlagInfo; value: unknown }[] {
    return [...this.infos.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((info) => ({ info, value: this.values.get(info.name) }));
  }

  /** The current value of a flag. */
  get(flag: string): unknown {
    return this.values.get(flag);
  }

  /** The current value of a flag as text, the way `--help` and GET /v1/config show it. */
  format(flag: string): string {
    const info = this.infos.get(flag);
    return info ? info.spec.format(this.values.get(flag)) : '';
  }

  /**
   * Changes runtime-changeable flags atomically: every value is checked first; on any
   * problem nothing changes and ConfigError names each offending flag.
   */
  set(updates: Readonly<Record<string, unknown>>): void {
    const issues: ConfigIssue[] = [];
    const parsed = new Map<string, unknown>();
    for (const [name, raw] of Object.entries(updates)) {
      const info = this.infos.get(name);
      if (!info) {
        issues.push({ flag: name, message: 'unknown option' });
        continue;
      }
      if (!info.spec.mutable) {
        issues.push({ flag: name, message: 'cannot be changed at runtime' });
        continue;
      }
      const value = typeof raw === 'string' ? info.spec.parse(raw) : raw;
      const problem = check(info, value);
      if (problem !== undefined) issues.push({ flag: name, message: problem });
      else parsed.set(name, value);
    }
    if (issues.length > 0) throw new ConfigError(issues);
    for (const [flag, value] of parsed) {
      if (this.values.get(flag) === value) continue;
      this.values.set(flag, value);
      this.changes.next({ flag, value });
    }
  }

  /** Emits the new value each time `flag` changes at runtime. */
  watch(flag: string): Observable<unknown> {
    return this.changes.pipe(
      filter((c) => c.flag === flag),
      map((c) => c.value),
    );
  }
}

/** The hive's resolved flags, for GET/PATCH /v1/config and runtime-changeable options. */
export const HiveConfig = token<ConfigStore>('hive/HiveConfig');
