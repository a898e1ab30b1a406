// A rule's own labels (what `policy get/delete <labels>` select rules by): strings or Cilium's
// Label objects in, `source:key=value` strings out, plus the labels Cilium derives from the
// manifest a rule came from.
import {
  PolicyError,
  asList,
  asObject,
  asString,
  checkFields,
  child,
  given,
  show,
} from './policy-error.js';
import { parseLabel } from './selector.js';

/** Cilium's JSON form of a label. */
export interface LabelObject {
  readonly key: string;
  readonly value: string;
  readonly source: string;
}

const SOURCE = /^[A-Za-z0-9-]+$/;
/** The label key prefix of the labels Cilium derives from a policy manifest. */
const DERIVED = 'k8s:io.cilium.k8s.policy';

/** `source:key=value`, or `source:key` when the value is empty (Cilium's Label.String). */
export function formatLabel(source: string, key: string, value: string): string {
  return value === '' ? `${source}:${key}` : `${source}:${key}=${value}`;
}

function checkKey(key: string, path: string): void {
  if (key === '') throw new PolicyError('a label key must not be empty', path);
  if (/[\s=]/.test(key)) {
    throw new PolicyError(`${show(key)} is not a label key (no whitespace or "=")`, path);
  }
}

function ruleLabel(v: unknown, path: string): string {
  if (typeof v === 'string') {
    const { source, key, value } = parseLabel(asString(v, path));
    checkKey(key, path);
    return formatLabel(source, key, value);
  }
  const o = asObject(v, path);
  checkFields(o, path, ['key', 'value', 'source']);
  const key = asString(o.key, child(path, 'key'));
  checkKey(key, child(path, 'key'));
  const value = given(o.value) ? asString(o.value, child(path, 'value')) : '';
  const source = given(o.source) ? asString(o.source, child(path, 'source')) : 'unspec';
  if (!SOURCE.test(source)) {
    throw new PolicyError(`${show(source)} is not a label source`, child(path, 'source'));
  }
  return formatLabel(source, key, value);
}

/** A rule's `labels` (strings `[source:]key[=value]` or `{key, value, source}`), normalized. */
export function parseRuleLabels(v: unknown, path: string): string[] {
  return asList(v, path).map((l, i) => ruleLabel(l, `${path}[${i}]`));
}

/** The labels Cilium gives every rule of a policy manifest (uid only when it has one). */
export function derivedLabels(
  kind: string,
  name: string,
  namespace: string | undefined,
  uid: string | undefined,
): string[] {
  return [
    `${DERIVED}.derived-from=${kind}`,
    `${DERIVED}.name=${name}`,
    ...(namespace === undefined ? [] : [`${DERIVED}.namespace=${namespace}`]),
    ...(uid === undefined ? [] : [`${DERIVED}.uid=${uid}`]),
  ];
}

/** Labels as Cilium's JSON shows them. */
export function labelObjects(labels: readonly string[]): LabelObject[] {
  return labels.map((l) => {
    const { key, value, source } = parseLabel(l);
    return { key, value, source };
  });
}

/**
 * Whether a rule carries every label of `filter` (selecting rules for GET, DELETE and replace);
 * a filter label without a source, or with `any:`, matches every source.
 */
export function labelsMatch(ruleLabels: readonly string[], filter: readonly string[]): boolean {
  const have = ruleLabels.map((l) => parseLabel(l));
  return filter.every((f) => {
    const want = parseLabel(f, 'any');
    return have.some(
      (h) =>
        h.key === want.key &&
        h.value === want.value &&
        (want.source === 'any' || want.source === h.source),
    );
  });
}
