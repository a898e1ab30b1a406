// Kubernetes label selectors as peering policies use them (nodeSelector, serviceSelector,
// advertisedPathAttributes[].selector): plain keys, no label sources (unlike policy selectors).
import { PolicyFileError, fieldsOf, type Where } from './policy-error.js';

/** One matchExpressions entry. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values: readonly string[];
}

/** A validated label selector; no requirements selects everything. */
export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly LabelRequirement[];
}

/** The selector that selects everything (`{}`). */
export const EVERYTHING: LabelSelector = { matchLabels: {}, matchExpressions: [] };

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** Whether labels satisfy a selector (Kubernetes semantics: every requirement holds). */
export function selects(sel: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) if (labels[k] !== v) return false;
  for (const r of sel.matchExpressions) {
    const have = Object.hasOwn(labels, r.key) ? labels[r.key] : undefined;
    switch (r.operator) {
      case 'In':
        if (have === undefined || !r.values.includes(have)) return false;
        break;
      case 'NotIn':
        if (have !== undefined && r.values.includes(have)) return false;
        break;
      case 'Exists':
        if (have === undefined) return false;
        break;
      case 'DoesNotExist':
        if (have !== undefined) return false;
        break;
    }
  }
  return true;
}

function str(v: unknown, w: Where, field: string): string {
  if (typeof v !== 'string')
    throw new PolicyFileError(w, field, `must be a string, not ${JSON.stringify(v)}`);
  return v;
}

/** Validates a selector from the file; `w`/`field` name where it is for errors. */
export function parseSelector(raw: unknown, w: Where, field: string): LabelSelector {
  const o = fieldsOf(raw, w, field, ['matchLabels', 'matchExpressions']);
  const matchLabels: Record<string, string> = {};
  if (o.matchLabels !== undefined && o.matchLabels !== null) {
    const ml = fieldsOf(o.matchLabels, w, `${field}.matchLabels`);
    for (const [k, v] of Object.entries(ml))
      matchLabels[k] = str(v, w, `${field}.matchLabels.${k}`);
  }
  const exprs = o.matchExpressions ?? [];
  if (!Array.isArray(exprs)) {
    throw new PolicyFileError(w, `${field}.matchExpressions`, 'must be a list');
  }
  const matchExpressions = exprs.map((e: unknown, i): LabelRequirement => {
    const at = `${field}.matchExpressions[${i}]`;
    const x = fieldsOf(e, w, at, ['key', 'operator', 'values']);
    const key = str(x.key, w, `${at}.key`);
    const op = str(x.operator, w, `${at}.operator`);
    if (!(OPERATORS as readonly string[]).includes(op)) {
      throw new PolicyFileError(
        w,
        `${at}.operator`,
        `'${op}' is not one of ${OPERATORS.join(', ')}`,
      );
    }
    const vals = x.values ?? [];
    if (!Array.isArray(vals)) throw new PolicyFileError(w, `${at}.values`, 'must be a list');
    const values = vals.map((v: unknown, j) => str(v, w, `${at}.values[${j}]`));
    const needsValues = op === 'In' || op === 'NotIn';
    if (needsValues !== values.length > 0) {
      throw new PolicyFileError(
        w,
        `${at}.values`,
        needsValues ? `${op} needs at least one value` : `${op} takes no values`,
      );
    }
    return { key, operator: op as LabelRequirement['operator'], values };
  });
  return { matchLabels, matchExpressions };
}
