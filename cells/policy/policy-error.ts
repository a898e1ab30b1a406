// The error every policy and selector check throws, and the small input checks that throw it.
// Checks take the JSON path of the value so a message always names the field it is about.

/** Why a policy or selector was rejected: `<context>: <path>: <reason>`. */
export class PolicyError extends Error {
  override name = 'PolicyError';
  /** What is wrong, without the path. */
  readonly reason: string;
  /** The JSON path of the field (relative to the rule, or to the selector). */
  readonly path: string;
  /** The rule or document the field is in (`rule 2 (CiliumNetworkPolicy default/x)`). */
  readonly context: string;

  constructor(reason: string, path = '', context = '') {
    super([context, path, reason].filter((s) => s !== '').join(': '));
    this.reason = reason;
    this.path = path;
    this.context = context;
  }

  /** The same error for a field nested under `prefix`. */
  under(prefix: string): PolicyError {
    let path = this.path;
    if (prefix !== '') {
      if (path === '') path = prefix;
      else path = path.startsWith('[') ? prefix + path : `${prefix}.${path}`;
    }
    return new PolicyError(this.reason, path, this.context);
  }

  /** The same error, told which rule or document it is in. */
  within(context: string): PolicyError {
    return new PolicyError(this.reason, this.path, context);
  }
}

/** The longest string any field may hold. */
export const MAX_STRING = 1024;
/** The longest list any field may hold. */
export const MAX_LIST = 1000;

/** `path.key`, or `path["odd key"]` when the key is not a plain identifier. */
export function child(path: string, key: string): string {
  if (!/^[A-Za-z_$][\w$-]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** A value as a message quotes it (shortened: it may be any size). */
export function show(v: unknown): string {
  const s = typeof v === 'number' ? String(v) : (JSON.stringify(v) as string | undefined);
  if (s === undefined) return typeof v;
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Whether an optional field is present (YAML writes an empty one as null). */
export function given(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/** The value as a plain object, or a PolicyError. */
export function asObject(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new PolicyError(`must be an object, not ${show(v)}`, path);
  }
  return v as Record<string, unknown>;
}

/** The value as a list of at most `max` elements (null or absent: empty), or a PolicyError. */
export function asList(v: unknown, path: string, max = MAX_LIST): readonly unknown[] {
  if (!given(v)) return [];
  if (!Array.isArray(v)) throw new PolicyError(`must be a list, not ${show(v)}`, path);
  if (v.length > max) throw new PolicyError(`has ${v.length} entries, more than ${max}`, path);
  return v as unknown[];
}

/** The value as a string of at most `max` characters, or a PolicyError. */
export function asString(v: unknown, path: string, max = MAX_STRING): string {
  if (typeof v !== 'string') throw new PolicyError(`must be a string, not ${show(v)}`, path);
  if (v.length > max) throw new PolicyError(`is longer than ${max} characters`, path);
  return v;
}

/** The value as a boolean, or a PolicyError. */
export function asBoolean(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw new PolicyError(`must be true or false, not ${show(v)}`, path);
  return v;
}

/**
 * Rejects fields outside `allowed`, and fields this agent knows but cannot honour (with the
 * reason in `unsupported`), so a policy never silently means less than it says.
 */
export function checkFields(
  obj: Record<string, unknown>,
  path: string,
  allowed: readonly string[],
  unsupported: Readonly<Record<string, string>> = {},
): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const why = Object.hasOwn(unsupported, key) ? unsupported[key] : undefined;
    if (why !== undefined) {
      if (given(obj[key])) throw new PolicyError(why, child(path, key));
      continue;
    }
    throw new PolicyError(`unknown field (expected ${allowed.join(', ')})`, child(path, key));
  }
}
