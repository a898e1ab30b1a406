// Label and field selectors as the API server parses them (?labelSelector=, ?fieldSelector=).
// Label: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma = AND.
// Field: `path=v`, `path==v`, `path!=v`, comma = AND, over the fields the resource supports.
import { badRequest } from './status.js';

/** A parsed selector: true when an object's labels (or fields) match. */
export type Matcher<T> = (subject: T) => boolean;

type Req =
  | { op: 'eq' | 'ne'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'absent'; key: string };

// Splits at commas that are not inside parentheses.
function terms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

const KEY =
  /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, sel: string): string {
  if (!KEY.test(key))
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${sel}"`);
  return key;
}

function checkValue(value: string, sel: string): string {
  if (!VALUE.test(value) || value.length > 63)
    throw badRequest(`unable to parse requirement: invalid label value "${value}" in "${sel}"`);
  return value;
}

function parseTerm(t: string, sel: string): Req {
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(t);
  if (set) {
    const [, key = '', op, list = ''] = set;
    const values = list.split(',').map((v) => checkValue(v.trim(), sel));
    return { op: op === 'in' ? 'in' : 'notin', key: checkKey(key, sel), values };
  }
  const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(t);
  if (cmp) {
    const [, key = '', op, value = ''] = cmp;
    return {
      op: op === '!=' ? 'ne' : 'eq',
      key: checkKey(key, sel),
      value: checkValue(value.trim(), sel),
    };
  }
  if (t.startsWith('!')) return { op: 'absent', key: checkKey(t.slice(1).trim(), sel) };
  return { op: 'exists', key: checkKey(t, sel) };
}

function test(r: Req, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const v = labels[r.key];
  switch (r.op) {
    case 'eq':
      return has && v === r.value;
    case 'ne':
      return !has || v !== r.value;
    case 'in':
      return has && r.values.includes(v ?? '');
    case 'notin':
      return !has || !r.values.includes(v ?? '');
    case 'exists':
      return has;
    case 'absent':
      return !has;
  }
}

/** Parses a label selector (empty: everything); 400 BadRequest when it does not parse. */
export function parseLabelSelector(
  sel: string | undefined,
): Matcher<Readonly<Record<string, string>>> {
  const reqs = terms(sel ?? '').map((t) => parseTerm(t, sel ?? ''));
  return (labels) => reqs.every((r) => test(r, labels));
}

/** Reads one selectable field of an object ('' when unset, as the API server compares). */
export type FieldGetter = (obj: Readonly<Record<string, unknown>>) => string;

/**
 * Parses a field selector against the fields a resource supports; 400 BadRequest for an
 * unsupported field (`field label not supported: x`) or a term that does not parse.
 */
export function parseFieldSelector(
  sel: string | undefined,
  fields: Readonly<Record<string, FieldGetter>>,
): Matcher<Readonly<Record<string, unknown>>> {
  const reqs = terms(sel ?? '').map((t) => {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(t);
    if (!m) throw badRequest(`invalid selector: '${sel ?? ''}'; can't understand '${t}'`);
    const [field, op, value] = [(m[1] ?? '').trim(), m[2], (m[3] ?? '').trim()];
    const get = fields[field];
    if (!get) throw badRequest(`field label not supported: ${field}`);
    return { get, ne: op === '!=', value };
  });
  return (obj) => reqs.every((r) => (r.get(obj) === r.value) !== r.ne);
}
