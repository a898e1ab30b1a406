import type { Readable } from 'node:stream';
import { ApiClient } from './client.js';
import { OPERATIONS, Operations } from './ops.gen.js';
import type { CallArgs, OperationId, Success } from './types.js';

/** One parameter value on the wire: booleans and numbers as text, lists repeated. */
function texts(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.flatMap(texts);
  return [typeof v === 'string' ? v : JSON.stringify(v)];
}

/** The request line and headers of one operation, as Cilium's generated clients send them. */
export function requestOf<K extends OperationId>(
  op: K,
  args: CallArgs<K>,
): { method: string; path: string; headers: Record<string, string>; body: unknown } {
  const route = OPERATIONS[op];
  const a = args as {
    params?: Record<string, unknown>;
    query?: Record<string, unknown>;
    headers?: Record<string, unknown>;
    body?: unknown;
  };
  let path: string = route.path;
  for (const name of route.path_params) {
    const value = texts(a.params?.[name])[0];
    if (value === undefined) throw new Error(`${op}: missing path parameter '${name}'`);
    // URL parsing would resolve them away and reach another operation.
    if (value === '.' || value === '..') {
      throw new Error(`${name} '${value}' is not valid: it cannot be '.' or '..'`);
    }
    path = path.replace(`{${name}}`, encodeURIComponent(value));
  }
  const query = new URLSearchParams();
  for (const name of route.query) for (const v of texts(a.query?.[name])) query.append(name, v);
  const headers: Record<string, string> = {};
  for (const name of route.headers) {
    const v = texts(a.headers?.[name])[0];
    if (v !== undefined) headers[name] = v;
  }
  const q = query.toString();
  return { method: route.method, path: q === '' ? path : `${path}?${q}`, headers, body: a.body };
}

/**
 * The typed client of the agent's API: one method per operation of the spec (generated into
 * `ops.gen.ts`), sent over the unix socket. Failures reject with `ApiClientError` (status and
 * the agent's message) or `AgentUnreachableError`.
 */
export class CelliumClient extends Operations {
  readonly raw: ApiClient;

  constructor(socketPath?: string) {
    super();
    this.raw = new ApiClient(socketPath);
  }

  protected call<K extends OperationId>(op: K, args: CallArgs<K>): Promise<Success<K>> {
    const r = requestOf(op, args);
    return this.raw.request<Success<K>>(r.method, r.path, { headers: r.headers, body: r.body });
  }

  protected stream<K extends OperationId>(op: K, args: CallArgs<K>): Promise<Readable> {
    const r = requestOf(op, args);
    return this.raw.stream(r.method, r.path, { headers: r.headers, body: r.body });
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.raw.close();
  }
}
