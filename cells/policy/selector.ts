// Label selectors as Cilium compiles them: each key carries a source (`k8s:app`), a key without
// one matches labels of every source (`any:`), and a compiled selector is a sorted list of
// requirements with a canonical key, so equal meanings share one selector (and one cache entry).
import {
  MAX_LIST,
  PolicyError,
  asList,
  asObject,
  asString,
  checkFields,
  child,
  given,
  show,
} from './policy-error.js';

/** The four operators of a Kubernetes label selector. */
export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** A Kubernetes label selector as rules write it. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: Operator; values?: string[] }[];
}

/** One requirement on an identity's labels. */
export interface Requirement {
  /** The label source the key must come from; `any` matches every source. */
  readonly source: string;
  readonly key: string;
  readonly op: Operator;
  /** Sorted and deduplicated; empty for Exists and DoesNotExist. */
  readonly values: readonly string[];
}

/**
 * An identity's labels parsed once for matching: values by `source:key`, and by `any:key` for
 * every source. Build it with labelIndex.
 */
export type LabelIndex = ReadonlyMap<string, readonly string[]>;

/** A compiled selector. */
export interface Selector {
  /** Canonical JSON (Cilium's form, `{"matchLabels":{"any:app":"web"}}`): equal meaning, equal key. */
  readonly key: string;
  /** Sorted canonically, deduplicated; all must hold. */
  readonly requirements: readonly Requirement[];
  /** No requirements: selects every identity. */
  readonly wildcard: boolean;
  /** Whether an identity's labels (the array, or its labelIndex) satisfy every requirement. */
  matches(labels: readonly string[] | LabelIndex): boolean;
}

const OPERATORS: readonly Operator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
const SOURCE = /^[A-Za-z0-9-]+$/;
/** A Kubernetes label key: a 253-character prefix, a slash, a 63-character name. */
const MAX_KEY = 317;
const MAX_VALUE = 63;

/** The source before the first `:`, when that text is a source name (no `=`, `.` or `/`). */
function splitSource(text: string): [string | undefined, string] {
  const colon = text.indexOf(':');
  if (colon > 0) {
    const source = text.slice(0, colon);
    if (SOURCE.test(source)) return [source, text.slice(colon + 1)];
  }
  return [undefined, text];
}

/**
 * Splits an identity label `source:key=value` (no `=`: value ''). A label without a source gets
 * `defaultSource` (`unspec` for labels, `any` for selector keys and label filters).
 */
export function parseLabel(
  label: string,
  defaultSource = 'unspec',
): { source: string; key: string; value: string } {
  const [source, rest] = splitSource(label);
  const eq = rest.indexOf('=');
  return {
    source: source ?? defaultSource,
    key: eq < 0 ? rest : rest.slice(0, eq),
    value: eq < 0 ? '' : rest.slice(eq + 1),
  };
}

// Identities' label arrays never change once made, so each is parsed once for all selectors.
const indexes = new WeakMap<readonly string[], LabelIndex>();

/** Parses an identity's labels for matching (cached per array: treat the array as immutable). */
export function labelIndex(labels: readonly string[]): LabelIndex {
  const cached = indexes.get(labels);
  if (cached) return cached;
  const idx = new Map<string, string[]>();
  const add = (k: string, v: string): void => {
    const values = idx.get(k);
    if (values) values.push(v);
    else idx.set(k, [v]);
  };
  for (const label of labels) {
    const { source, key, value } = parseLabel(label);
    add(`${source}:${key}`, value);
    if (source !== 'any') add(`any:${key}`, value);
  }
  indexes.set(labels, idx);
  return idx;
}

function isIndex(labels: readonly string[] | LabelIndex): labels is LabelIndex {
  return labels instanceof Map;
}

/** A selector key (`app`, `k8s:app`, `any:app`) as source and key; a PolicyError if malformed. */
function selectorKey(text: string, path: string): { source: string; key: string } {
  const [source, key] = splitSource(text);
  if (key === '') throw new PolicyError('a label key must not be empty', path);
  if (key.length > MAX_KEY) {
    throw new PolicyError(`the label key is longer than ${MAX_KEY} characters`, path);
  }
  if (/[\s=]/.test(key)) {
    throw new PolicyError(`${show(text)} is not a label key (no whitespace or "=")`, path);
  }
  return { source: source ?? 'any', key };
}

function labelValue(v: unknown, path: string): string {
  const value = asString(v, path);
  if (value.length > MAX_VALUE) {
    throw new PolicyError(`the label value is longer than ${MAX_VALUE} characters`, path);
  }
  return value;
}

function expression(v: unknown, path: string): Requirement {
  const e = asObject(v, path);
  checkFields(e, path, ['key', 'operator', 'values']);
  const { source, key } = selectorKey(asString(e.key, child(path, 'key')), child(path, 'key'));
  const op = e.operator;
  if (typeof op !== 'string' || !(OPERATORS as readonly string[]).includes(op)) {
    throw new PolicyError(
      `${show(op)} is not an operator (${OPERATORS.join(', ')})`,
      child(path, 'operator'),
    );
  }
  const vpath = child(path, 'values');
  const raw = asList(e.values, vpath);
  const values = raw.map((x, i) => labelValue(x, `${vpath}[${i}]`));
  if ((op === 'In' || op === 'NotIn') && values.length === 0) {
    throw new PolicyError(`${op} needs at least one value`, vpath);
  }
  if ((op === 'Exists' || op === 'DoesNotExist') && given(e.values) && raw.length > 0) {
    throw new PolicyError(`${op} takes no values`, vpath);
  }
  return { source, key, op: op as Operator, values };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareRequirements(a: Requirement, b: Requirement): number {
  return (
    compareStrings(a.source, b.source) ||
    compareStrings(a.key, b.key) ||
    OPERATORS.indexOf(a.op) - OPERATORS.indexOf(b.op) ||
    compareStrings(JSON.stringify(a.values), JSON.stringify(b.values))
  );
}

/** Sorted, deduplicated values; requirements sorted and deduplicated (A and A is A). */
function canonical(reqs: readonly Requirement[]): Requirement[] {
  const sorted = reqs
    .map((r) => ({ ...r, values: [...new Set(r.values)].sort(compareStrings) }))
    .sort(compareRequirements);
  return sorted.filter((r, i) => i === 0 || compareRequirements(sorted[i - 1] ?? r, r) !== 0);
}

/** Cilium's JSON form of the requirements: single-value Ins as matchLabels, the rest as expressions. */
function canonicalKey(reqs: readonly Requirement[]): string {
  const labels = new Map<string, string>();
  const expressions: { key: string; operator: Operator; values?: readonly string[] }[] = [];
  for (const r of reqs) {
    const key = `${r.source}:${r.key}`;
    const only = r.values[0];
    if (r.op === 'In' && r.values.length === 1 && only !== undefined && !labels.has(key)) {
      labels.set(key, only);
    } else {
      const values = r.op === 'In' || r.op === 'NotIn' ? { values: r.values } : {};
      expressions.push({ key, operator: r.op, ...values });
    }
  }
  return JSON.stringify({
    ...(labels.size > 0 ? { matchLabels: Object.fromEntries(labels) } : {}),
    ...(expressions.length > 0 ? { matchExpressions: expressions } : {}),
  });
}

// A requirement prepared for matching: the index key it reads and the values it wants.
interface Test {
  readonly lookup: string;
  readonly op: Operator;
  readonly values: ReadonlySet<string>;
}

class CompiledSelector implements Selector {
  readonly key: string;
  readonly wildcard: boolean;
  readonly requirements: readonly Requirement[];
  readonly #tests: readonly Test[];

  constructor(requirements: readonly Requirement[]) {
    this.requirements = requirements;
    this.key = canonicalKey(requirements);
    this.wildcard = requirements.length === 0;
    this.#tests = requirements.map((r) => ({
      lookup: `${r.source}:${r.key}`,
      op: r.op,
      values: new Set(r.values),
    }));
  }

  matches(labels: readonly string[] | LabelIndex): boolean {
    if (this.wildcard) return true;
    const idx = isIndex(labels) ? labels : labelIndex(labels);
    for (const t of this.#tests) {
      const have = idx.get(t.lookup);
      switch (t.op) {
        case 'Exists':
          if (have === undefined) return false;
          break;
        case 'DoesNotExist':
          if (have !== undefined) return false;
          break;
        case 'In':
          if (have?.some((v) => t.values.has(v)) !== true) return false;
          break;
        case 'NotIn':
          if (have?.some((v) => t.values.has(v)) === true) return false;
          break;
      }
    }
    return true;
  }
}

/**
 * Compiles and validates a selector (untrusted input: a PolicyError names the bad field,
 * relative to the selector). `extra` requirements are ANDed (a namespaced policy's namespace).
 */
export function compileSelector(sel: LabelSelector, extra: readonly Requirement[] = []): Selector {
  const o = asObject(sel, '');
  checkFields(o, '', ['matchLabels', 'matchExpressions']);
  const reqs: Requirement[] = [];
  if (given(o.matchLabels)) {
    const labels = Object.entries(asObject(o.matchLabels, 'matchLabels'));
    if (labels.length > MAX_LIST) {
      throw new PolicyError(`has ${labels.length} labels, more than ${MAX_LIST}`, 'matchLabels');
    }
    for (const [k, v] of labels) {
      const path = child('matchLabels', k);
      reqs.push({ ...selectorKey(k, path), op: 'In', values: [labelValue(v, path)] });
    }
  }
  asList(o.matchExpressions, 'matchExpressions').forEach((e, i) => {
    reqs.push(expression(e, `matchExpressions[${i}]`));
  });
  return new CompiledSelector(canonical([...reqs, ...extra]));
}
