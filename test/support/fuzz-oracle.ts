import { isIP } from 'node:net';
import type { OperationSpec, SpecValidator } from '../../core/api/index.js';
import { isStreamReply, type FuzzReply, type FuzzRequest } from './fuzz-target.js';
import { schemaFieldNames } from './spec-fuzz.js';

/** One distinct problem the fuzzer found, with the first request that showed it. */
export interface Finding {
  readonly kind: string;
  readonly op: string;
  readonly status: number | undefined;
  readonly message: string;
  readonly request: FuzzRequest;
  /** What led there (the last requests before a broken invariant); not part of the identity. */
  readonly context?: string;
  count: number;
}

/** Messages that vary only in addresses, numbers, quoted values or uuids count as one. */
export function normalizeMessage(s: string): string {
  return s
    .replace(/[\s\p{C}]+/gu, ' ')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/\b\d{1,3}(\.\d{1,3}){3}\b/g, '<ipv4>')
    .replace(/\b[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}\b/gi, '<ipv6>')
    .replace(/'[^']*'/g, "'<v>'")
    .replace(/"[^"]*"/g, '"<v>"')
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, '<n>')
    .replace(/(.)\1{20,}/g, '$1…')
    .slice(0, 200);
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n)}… (${s.length} chars)`;
}

/** A request written so a reader can send it again (over the socket with curl). */
export function showRequest(r: FuzzRequest): string {
  const headers = Object.entries(r.headers)
    .filter(([k]) => k !== 'content-type')
    .map(([k, v]) => ` -H '${k}: ${v}'`)
    .join('');
  const body = r.body === undefined ? '' : ` --data-raw ${clip(JSON.stringify(r.body), 300)}`;
  return `${r.method} /v1${clip(r.path, 200)}${headers}${body}   [${r.note}]`;
}

/** Kinds of findings, worst first. */
const SEVERITY = [
  'no answer',
  'hang',
  '5xx',
  'invariant',
  'invalid input accepted',
  'valid request refused',
  '4xx without a clear message',
];

/** Collects findings, deduplicated by (kind, operation, status, normalized message). */
export class FindingLog {
  private readonly byKey = new Map<string, Finding>();

  /** Records a finding; a repeat of a known one only bumps its count. */
  add(
    kind: string,
    op: string,
    status: number | undefined,
    message: string,
    request: FuzzRequest,
    context?: string,
  ): void {
    const key = `${kind}|${op}|${status ?? '-'}|${normalizeMessage(message)}`;
    const known = this.byKey.get(key);
    if (known) known.count++;
    else {
      const f = { kind, op, status, message, request, count: 1 };
      this.byKey.set(key, context === undefined ? f : { ...f, context });
    }
  }

  /** Distinct findings, the worst kinds first, then by operation. */
  list(): Finding[] {
    const rank = (k: string): number => {
      const i = SEVERITY.indexOf(k);
      return i < 0 ? SEVERITY.length : i;
    };
    return [...this.byKey.values()].sort(
      (a, b) => rank(a.kind) - rank(b.kind) || a.op.localeCompare(b.op),
    );
  }

  get size(): number {
    return this.byKey.size;
  }

  /**
   * A readable summary of up to `limit` problems, each with a reproducing request; findings
   * that differ only in the operation (one cause behind many routes) are shown once.
   */
  summary(title: string, seed: number, limit = 40): string {
    const groups = new Map<string, Finding[]>();
    for (const f of this.list()) {
      const key = `${f.kind}|${f.status ?? '-'}|${normalizeMessage(f.message.replace(f.op, '<op>'))}`;
      groups.set(key, [...(groups.get(key) ?? []), f]);
    }
    const all = [...groups.values()];
    const lines = all.slice(0, limit).map((fs, i) => {
      const f = fs[0] as Finding;
      const status = f.status === undefined ? '' : ` → ${f.status}`;
      const ops = fs.map((x) => x.op).join(', ');
      const count = fs.reduce((n, x) => n + x.count, 0);
      const context = f.context === undefined ? '' : `\n   ${f.context}`;
      return (
        `${i + 1}. [${f.kind}] ${ops}${status} (${count}×): ${clip(f.message, 300)}\n` +
        `   ${showRequest(f.request)}${context}`
      );
    });
    const more = all.length > limit ? `\n… and ${all.length - limit} more` : '';
    return (
      `${title}: ${this.size} distinct findings in ${all.length} groups (FUZZ_SEED=${seed})\n` +
      `${lines.join('\n')}${more}`
    );
  }
}

/** What the oracle needs to know about the agent under test. */
export interface OracleContext {
  /** Operation ids some cell serves (ApiRegistry.served()); the rest may answer 501. */
  readonly served: ReadonlySet<string>;
  readonly doc: Record<string, unknown>;
  /** Checks replies against the spec's documented statuses and schemas. */
  readonly validator: SpecValidator;
  /** Where replies that differ from the spec are noted (reported, not failing). */
  readonly notes: FindingLog;
}

const GENERIC = new Set([
  'bad request',
  'invalid',
  'invalid request',
  'invalid input',
  'error',
  'failed',
  'not found',
  'conflict',
  'internal server error',
  'unprocessable entity',
]);

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether a message mentions a token: whole words for short ones and numbers, quoted if blank. */
export function mentions(message: string, token: string): boolean {
  const m = message.toLowerCase();
  const t = token.toLowerCase();
  if (t === '') return false;
  // Quoted as JSON (control characters escaped) is how the agent shows odd values.
  if (m.includes(JSON.stringify(t))) return true;
  if (invisible(t)) return m.includes(`'${t}'`);
  if (!/[a-z0-9]/.test(t)) return m.includes(t);
  if (t.length > 40) return m.includes(t.slice(0, 24));
  if (t.length <= 3 || /^-?\d+(\.\d+)?$/.test(t)) {
    return new RegExp(`(^|[^a-z0-9_])${escapeRe(t)}($|[^a-z0-9_])`).test(m);
  }
  return m.includes(t);
}

function invisible(s: string): boolean {
  return /^[\s\p{C}]+$/u.test(s);
}

// A value as the agent may echo it: whole, in parts (`pod-name:ns:x` → ns/x), numbers canonical,
// an address by its family ("IPv6 is disabled" names what is wrong with fd00::7).
function valueTokens(v: string, out: string[]): void {
  out.push(v);
  if (isIP(v) !== 0) out.push(`ipv${isIP(v)}`);
  for (const part of v.split(/[:/]/)) {
    out.push(part);
    if (/^\d+$/.test(part)) out.push(String(Number(part)));
  }
}

function leaves(v: unknown, out: string[], depth = 0): void {
  if (depth > 8 || out.length > 200) return;
  if (Array.isArray(v)) for (const x of v) leaves(x, out, depth + 1);
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      leaves(x, out, depth + 1);
    }
  } else if (v !== undefined) valueTokens(typeof v === 'string' ? v : JSON.stringify(v), out);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Everything a 4xx may name to say what was wrong: the operation's parameter and body field
 * names, and every value the request carried (path values, query, headers, body leaves).
 */
export function requestTokens(
  req: FuzzRequest,
  op: OperationSpec | undefined,
  doc: Record<string, unknown>,
): string[] {
  const out: string[] = [];
  const [pathPart = '', query = ''] = req.path.split('?', 2);
  const fixed = new Set((op?.path ?? '').split('/'));
  // The router's 404 names the whole path.
  out.push(`/v1${pathPart}`, `/v1${safeDecode(pathPart)}`);
  for (const seg of pathPart.split('/')) if (!fixed.has(seg)) valueTokens(safeDecode(seg), out);
  for (const [k, v] of new URLSearchParams(query)) out.push(k, v);
  for (const [k, v] of Object.entries(req.headers)) if (k !== 'content-type') out.push(k, v);
  for (const p of op?.params ?? []) out.push(p.name);
  if (op?.body || req.body !== undefined) out.push('body');
  if (req.body !== undefined) {
    try {
      leaves(JSON.parse(req.body), out);
    } catch {
      out.push('json');
    }
  }
  if (op?.body) out.push(...schemaFieldNames(doc, op.body.schema));
  return out;
}

/** Why a 4xx body does not say what was wrong, or undefined when it does. */
export function vague4xx(reply: FuzzReply, tokens: readonly string[]): string | undefined {
  if (typeof reply.json !== 'string') {
    return `the body is not a JSON string: ${clip(reply.text, 200) || '(empty)'}`;
  }
  const msg = reply.json;
  const bare = msg
    .toLowerCase()
    .replace(/[^a-z ]/g, '')
    .trim();
  if (GENERIC.has(bare) || msg.trim().length < 6) return `generic message: ${JSON.stringify(msg)}`;
  if (!tokens.some((t) => mentions(msg, t))) {
    const blank = tokens.find((t) => t.trim() !== '' && invisible(t) && msg.includes(t));
    return blank === undefined
      ? `names no field, parameter or value: ${msg}`
      : `shows the value ${JSON.stringify(blank)} unquoted, invisible to a reader: ${msg}`;
  }
  return undefined;
}

/** Notes a status the spec does not document for the operation, or a reply off its schema. */
function noteSpecMismatch(
  ctx: OracleContext,
  op: OperationSpec,
  req: FuzzRequest,
  reply: FuzzReply,
): void {
  if (reply.status === 404 && reply.text.includes('no such API path')) return;
  if (!op.responses.has(reply.status)) {
    const msg = `${op.method} ${op.path} does not document ${reply.status}`;
    ctx.notes.add(
      'status not in the spec',
      op.id,
      reply.status,
      msg,
      req,
      `reply: ${clip(reply.text, 200)}`,
    );
    return;
  }
  if (isStreamReply(reply.header)) {
    // A stream of JSON objects, one per line (map events): each line must be an object.
    const bad = reply.text.split('\n').find((l) => l !== '' && !isJsonObject(l));
    if (bad !== undefined) {
      ctx.notes.add(
        'reply off the spec schema',
        op.id,
        reply.status,
        `stream line ${clip(bad, 80)}`,
        req,
      );
    }
    return;
  }
  try {
    ctx.validator.for(op).response(reply.status, reply.json);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    ctx.notes.add('reply off the spec schema', op.id, reply.status, why, req);
  }
}

// How core/api/validate.ts words a schema violation.
const SCHEMA_ERROR =
  /^invalid request: (path|query|header|body)\S* (must be|is required|.*\(\w+\)$)/;

/**
 * Whether a 4xx to a request generated valid from the spec cannot be right: the operation
 * takes no input at all, or the agent's own spec validation refused it.
 */
function refusesValid(op: OperationSpec, message: string): boolean {
  const noInput = op.params.length === 0 && op.body === undefined;
  return noInput || SCHEMA_ERROR.test(message);
}

/**
 * Judges one reply: 5xx only where this agent may give one (501 for a cell it lacks or a feature
 * turned off by a flag the message names, 502 for an
 * exhausted pool from POST /ipam, 503 with Retry-After while restoring), 4xx naming what was
 * wrong. Records findings in `log`; returns whether the reply was acceptable.
 */
export function judge(
  ctx: OracleContext,
  op: OperationSpec | undefined,
  req: FuzzRequest,
  reply: FuzzReply,
  log: FindingLog,
): boolean {
  const opId = op?.id ?? req.op;
  const text = typeof reply.json === 'string' ? reply.json : reply.text;
  if (op && ctx.served.has(op.id)) noteSpecMismatch(ctx, op, req, reply);
  if (reply.status >= 500) {
    if (reply.status === 501 && op && !ctx.served.has(op.id) && text.includes(op.cell)) return true;
    // A feature that is off (as BGP's 501 Disabled): documented, and the message names the flag.
    if (reply.status === 501 && op?.responses.has(501) && /--[a-z][a-z0-9-]+/.test(text)) {
      return true;
    }
    if (reply.status === 502 && opId === 'PostIpam' && /exhausted/i.test(text)) return true;
    if (reply.status === 503 && reply.header('retry-after') !== undefined) return true;
    log.add('5xx', opId, reply.status, clip(text, 400), req);
    return false;
  }
  if (reply.status >= 400 && req.note === 'valid' && op && refusesValid(op, text)) {
    log.add('valid request refused', opId, reply.status, clip(text, 400), req);
    return false;
  }
  if (reply.status >= 400) {
    const why = vague4xx(reply, requestTokens(req, op, ctx.doc));
    if (why !== undefined) {
      log.add('4xx without a clear message', opId, reply.status, why, req);
      return false;
    }
  }
  return true;
}

function isJsonObject(line: string): boolean {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}
