import type { ApiSpec, OperationSpec, ParamSpec } from '../../core/api/index.js';
import type { FuzzRequest } from './fuzz-target.js';
import {
  deref,
  mutateValue,
  NASTY_NUMBERS,
  NASTY_STRINGS,
  rawBodyMutation,
  validValue,
  type Hints,
  type Rng,
} from './spec-fuzz.js';

/** Meaningful values for one operation's parameters and body fields (ids, IPs, map names). */
export interface RequestHints {
  /** A generator for a parameter, or undefined to generate it from its schema. */
  param(op: OperationSpec, p: ParamSpec): ((rng: Rng) => string) | undefined;
  /** Generators of body fields by property name. */
  readonly body: Hints;
  /** A whole valid body for an operation, when the schema alone cannot make a useful one. */
  wholeBody?(op: OperationSpec, rng: Rng): unknown;
}

// Parameters ride in URLs and headers: no multi-kilobyte values (the HTTP parser's own limits
// would answer before the agent), no control characters in headers.
const PARAM_STRINGS = NASTY_STRINGS.filter((s) => s.length <= 300);
const HEADER_STRINGS = PARAM_STRINGS.filter((s) => /^[\x20-\x7e]*$/.test(s));

function paramFromSchema(rng: Rng, spec: ApiSpec, p: ParamSpec): string {
  const v = validValue(rng, spec.document, p.schema);
  return Array.isArray(v) ? v.map(String).join(',') : String(v);
}

function badParam(rng: Rng, spec: ApiSpec, p: ParamSpec): string {
  const s = deref(spec.document, p.schema);
  const pool = p.in === 'header' ? HEADER_STRINGS : PARAM_STRINGS;
  if (s.type === 'integer') {
    return rng.pick([
      ...NASTY_NUMBERS.map(String),
      'abc',
      '1.5',
      '1e3',
      '0x10',
      '',
      ' 7',
      '9'.repeat(30),
    ]);
  }
  if (s.type === 'boolean') return rng.pick(['yes', 'maybe', '2', '', 'TRUE', 'null', '-1']);
  if (Array.isArray(s.enum)) {
    const e = String(rng.pick(s.enum as unknown[]));
    return rng.pick([e.toUpperCase(), `${e} `, '', 'ipv5', 'null']);
  }
  return rng.pick(pool);
}

function encodePath(op: OperationSpec, values: Record<string, string>, raw: boolean): string {
  return op.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const v = values[name] ?? '';
    return raw ? encodeURI(v).replaceAll('?', '%3F').replaceAll('#', '%23') : encodeURIComponent(v);
  });
}

/** A request for `op`: valid from the spec and the hints, or with one part mutated. */
export function buildRequest(
  rng: Rng,
  spec: ApiSpec,
  op: OperationSpec,
  hints: RequestHints,
  mutate: boolean,
): FuzzRequest {
  const values: Record<string, string | undefined> = {};
  for (const p of op.params) {
    if (p.in === 'path' || p.required || rng.chance(0.5)) {
      values[`${p.in}:${p.name}`] = hints.param(op, p)?.(rng) ?? paramFromSchema(rng, spec, p);
    }
  }
  let body: unknown =
    op.body && (op.body.required || rng.chance(0.5))
      ? (hints.wholeBody?.(op, rng) ?? validValue(rng, spec.document, op.body.schema, hints.body))
      : undefined;
  let rawBody: string | undefined;
  let rawPath = false;
  const extraQuery: [string, string][] = [];
  let contentType = 'application/json';
  let note = 'valid';

  if (mutate) {
    const targets = ['param', 'param', 'body', 'body', 'body', 'raw-body', 'no-body', 'extra'];
    const target = rng.pick(targets.filter((t) => op.params.length > 0 || t !== 'param'));
    if (target === 'param') {
      const p = rng.pick(op.params);
      const key = `${p.in}:${p.name}`;
      if (p.in !== 'path' && rng.chance(0.2)) {
        values[key] = undefined;
        note = `${p.in} ${p.name} left out`;
      } else {
        values[key] = badParam(rng, spec, p);
        rawPath = p.in === 'path' && rng.chance(0.15);
        note = `${p.in} ${p.name} = ${JSON.stringify(values[key])}${rawPath ? ' (not encoded)' : ''}`;
      }
    } else if (target === 'body') {
      const m = mutateValue(rng, body ?? {});
      body = m.value;
      note = m.note;
    } else if (target === 'raw-body') {
      const m = rawBodyMutation(rng, JSON.stringify(body ?? {}));
      rawBody = m.value as string;
      note = m.note;
    } else if (target === 'no-body') {
      body = undefined;
      rawBody = rng.chance(0.5) ? undefined : '';
      note = 'no body';
    } else {
      const choice = rng.int(0, 2);
      if (choice === 0) {
        extraQuery.push(['unknown-param', rng.pick(PARAM_STRINGS)]);
        note = 'unknown query parameter';
      } else if (choice === 1) {
        const q = op.params.find((p) => p.in === 'query');
        if (q)
          extraQuery.push(
            [q.name, paramFromSchema(rng, spec, q)],
            [q.name, badParam(rng, spec, q)],
          );
        note = 'query parameter repeated';
      } else {
        contentType = rng.pick(['text/plain', 'application/x-www-form-urlencoded', '']);
        note = `content-type '${contentType}'`;
      }
    }
  }

  const pathValues: Record<string, string> = {};
  const query = new URLSearchParams();
  const headers: Record<string, string> = {};
  for (const p of op.params) {
    const v = values[`${p.in}:${p.name}`];
    if (v === undefined) continue;
    if (p.in === 'path') pathValues[p.name] = v;
    else if (p.in === 'query') query.append(p.name, v);
    else headers[p.name] = v;
  }
  for (const [k, v] of extraQuery) query.append(k, v);
  const text = rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
  if (text !== undefined && contentType !== '') headers['content-type'] = contentType;
  const qs = query.toString();
  return {
    op: op.id,
    method: op.method,
    path: encodePath(op, pathValues, rawPath) + (qs ? `?${qs}` : ''),
    headers,
    ...(text === undefined ? {} : { body: text }),
    note,
  };
}
