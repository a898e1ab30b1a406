// The double's HTTP(S) front: bearer-token auth, kube-apiserver's paths (/api/v1/..., /apis/...,
// the legacy /watch/ prefix), verbs from method and path as its RequestInfo does, JSON answers and
// Status errors, watch streams as newline-delimited JSON, injected failures and the request log.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, VERSION } from './discovery.js';
import { isObject, type JsonObject } from './patch.js';
import { qualifiedName, type ResourceDef } from './resources.js';
import type { ApiState, PatchType } from './state.js';
import { ApiError, failure, pathNotFound } from './status.js';

/** A request's verb, as RBAC names it. */
export type RequestVerb =
  | 'get'
  | 'list'
  | 'watch'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'deletecollection'
  | 'discovery';

/** What a request asked for (kube-apiserver's RequestInfo). */
export interface RequestInfo {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly verb: RequestVerb;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly subresource: string;
  readonly namespace: string;
  readonly name: string;
  readonly contentType: string;
  readonly userAgent: string;
}

/** One request as logged: what it asked and the HTTP code it got. */
export interface RequestRecord extends RequestInfo {
  readonly code: number;
}

/** An injected failure: requests it matches get `code` (a Status) instead of an answer. */
export interface FailureRule {
  readonly match?: (r: RequestInfo) => boolean;
  /** HTTP code (500, 429, 503, 403...). */
  readonly code: number;
  readonly reason?: string;
  readonly message?: string;
  /** How many requests fail (default: every matching one until removed). */
  readonly times?: number;
  /** Sent as Retry-After and in the Status's details (429). */
  readonly retryAfterSeconds?: number;
  /** Never answer (the connection stays open until pause() or stop()): `code` is then only logged. */
  readonly hang?: boolean;
}

const PATCH_TYPES: readonly PatchType[] = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

interface Parsed {
  info: RequestInfo;
  /** Where to answer from: discovery, or a resource. */
  route:
    | { kind: 'doc'; doc: JsonObject | string }
    | { kind: 'resource'; def: ResourceDef; watchPrefix: boolean };
}

/** What the HTTP front needs from the double. */
export interface FrontDeps {
  readonly state: ApiState;
  readonly token: string;
  hostPort(): string;
  /** The injected failure for this request, if any (consumes one of its `times`). */
  failureFor(info: RequestInfo): FailureRule | undefined;
  log(r: RequestRecord): void;
}

function emptyInfo(req: IncomingMessage, url: URL): RequestInfo {
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    verb: 'discovery',
    group: '',
    version: '',
    resource: '',
    subresource: '',
    namespace: '',
    name: '',
    contentType: (req.headers['content-type'] ?? '').replace(/;.*$/, '').trim(),
    userAgent: req.headers['user-agent'] ?? '',
  };
}

function parse(req: IncomingMessage, url: URL, deps: FrontDeps): Parsed {
  const base = emptyInfo(req, url);
  const parts = url.pathname.split('/').filter((p) => p !== '');
  const [p0, p1 = '', p2 = ''] = parts;
  const doc = (d: JsonObject | string | undefined): Parsed => {
    if (d === undefined) throw pathNotFound();
    return { info: base, route: { kind: 'doc', doc: d } };
  };
  const defs = deps.state.resources();
  if (parts.length === 1 && p0 === 'api') return doc(apiVersions(deps.hostPort()));
  if (parts.length === 1 && p0 === 'apis') return doc(apiGroupList(defs));
  let group: string;
  let version: string;
  let rest: string[];
  if (p0 === 'api' && parts.length >= 2) [group, version, rest] = ['', p1, parts.slice(2)];
  else if (p0 === 'apis' && parts.length === 2) return doc(apiGroup(defs, p1));
  else if (p0 === 'apis' && parts.length >= 3) [group, version, rest] = [p1, p2, parts.slice(3)];
  else throw pathNotFound();
  if (rest.length === 0) return doc(apiResourceList(defs, group, version));
  const watchPrefix = rest[0] === 'watch';
  if (watchPrefix) rest = rest.slice(1);
  let namespace = '';
  if (rest[0] === 'namespaces' && rest[1] !== undefined) {
    namespace = rest[1];
    if (rest.length > 2 && rest[2] !== 'status' && rest[2] !== 'finalize') rest = rest.slice(2);
  }
  if (rest.length === 0 || rest.length > 3) throw pathNotFound();
  const [resource = '', name = '', subresource = ''] = rest;
  const def = deps.state.resolve(group, version, resource);
  if (!def) throw pathNotFound();
  const binding = subresource === 'binding' && def.kind === 'Pod' && base.method === 'POST';
  if (subresource && !binding && (subresource !== 'status' || !def.status)) throw pathNotFound();
  const q = url.searchParams;
  const method = base.method;
  const watch = watchPrefix || q.get('watch') === 'true' || q.get('watch') === '1';
  const verb: RequestVerb =
    method === 'GET' || method === 'HEAD'
      ? watch
        ? 'watch'
        : name
          ? 'get'
          : 'list'
      : method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : method === 'DELETE'
              ? name
                ? 'delete'
                : 'deletecollection'
              : 'discovery';
  return {
    info: { ...base, verb, group, version, resource, subresource, namespace, name },
    route: { kind: 'resource', def, watchPrefix },
  };
}

interface Reply {
  readonly code: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
}

function reply(code: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { code, body, headers };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function jsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ApiError(400, 'BadRequest', `json: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Serves one request. */
export async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  deps: FrontDeps,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://double');
  let info = emptyInfo(req, url);
  const answer = ({ code, body, headers }: Reply): void => {
    deps.log({ ...info, code });
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
      'Cache-Control': 'no-cache, private',
      ...headers,
    });
    res.end(text);
  };
  // The answer, or undefined when a watch stream took the response.
  const handle = async (): Promise<Reply | undefined> => {
    const body = await readBody(req);
    if (['/healthz', '/livez', '/readyz'].includes(url.pathname)) return reply(200, 'ok');
    // kube-apiserver lets anyone read its version (system:public-info-viewer).
    if (url.pathname === '/version') return reply(200, VERSION);
    if (req.headers.authorization !== `Bearer ${deps.token}`)
      return reply(401, failure(401, 'Unauthorized', 'Unauthorized'));
    const parsed = parse(req, url, deps);
    info = parsed.info;
    const fail = deps.failureFor(info);
    if (fail?.hang) {
      deps.log({ ...info, code: fail.code });
      return undefined;
    }
    if (fail) {
      const retry = fail.retryAfterSeconds;
      return reply(
        fail.code,
        failure(
          fail.code,
          fail.reason ?? REASONS[fail.code] ?? 'InternalError',
          fail.message ?? `injected failure (${fail.code})`,
          retry !== undefined ? { retryAfterSeconds: retry } : undefined,
        ),
        retry !== undefined ? { 'Retry-After': String(retry) } : {},
      );
    }
    if (parsed.route.kind === 'doc') return reply(200, parsed.route.doc);
    const { def } = parsed.route;
    const st = deps.state;
    const q = info.query;
    const ns = def.namespaced ? info.namespace || undefined : undefined;
    const sub = info.subresource === 'status' ? 'status' : undefined;
    const wo = {
      dryRun: q.dryRun === 'All',
      ...(q.fieldManager ? { fieldManager: q.fieldManager } : {}),
    };
    if (def.namespaced && !ns && info.name) throw pathNotFound();
    switch (info.verb) {
      case 'get':
        return reply(200, st.get(def, ns, info.name));
      case 'list':
        return reply(
          200,
          st.list(def, ns, {
            ...(q.labelSelector !== undefined ? { labelSelector: q.labelSelector } : {}),
            ...(q.fieldSelector !== undefined ? { fieldSelector: q.fieldSelector } : {}),
            ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
            ...(q.continue !== undefined ? { continue: q.continue } : {}),
            ...(q.resourceVersion !== undefined ? { resourceVersion: q.resourceVersion } : {}),
            ...(q.resourceVersionMatch !== undefined
              ? { resourceVersionMatch: q.resourceVersionMatch }
              : {}),
          }),
        );
      case 'watch': {
        const fieldSelector = info.name
          ? `metadata.name=${info.name}${q.fieldSelector ? `,${q.fieldSelector}` : ''}`
          : q.fieldSelector;
        const start = st.watch(def, ns, {
          ...(q.resourceVersion !== undefined ? { resourceVersion: q.resourceVersion } : {}),
          ...(q.labelSelector !== undefined ? { labelSelector: q.labelSelector } : {}),
          ...(fieldSelector !== undefined ? { fieldSelector } : {}),
          allowWatchBookmarks: q.allowWatchBookmarks === 'true' || q.allowWatchBookmarks === '1',
          sendInitialEvents: q.sendInitialEvents === 'true',
          ...(q.timeoutSeconds !== undefined ? { timeoutSeconds: Number(q.timeoutSeconds) } : {}),
        });
        deps.log({ ...info, code: 200 });
        res.writeHead(200, {
          'Content-Type': 'application/json',
          'Cache-Control': 'no-cache, private',
          'Transfer-Encoding': 'chunked',
        });
        res.flushHeaders();
        const w = start({
          write: (ev) => void res.write(`${JSON.stringify(ev)}\n`),
          writeRaw: (line) => void res.write(`${line}\n`),
          end: () => res.end(),
          destroy: () => res.destroy(),
        });
        res.on('close', () => w.end());
        return;
      }
      case 'create':
        if (info.subresource === 'binding')
          return reply(201, st.bind(ns, info.name, jsonBody(body)));
        if (info.name) throw pathNotFound();
        return reply(201, st.create(def, ns, jsonBody(body), wo));
      case 'update':
        return reply(200, st.update(def, ns, info.name, jsonBody(body), sub, wo));
      case 'patch': {
        const type = info.contentType as PatchType;
        if (!PATCH_TYPES.includes(type))
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`,
          );
        const existed = (() => {
          try {
            st.get(def, ns, info.name);
            return true;
          } catch {
            return false;
          }
        })();
        const out = st.patch(def, ns, info.name, type, body, sub, wo);
        return reply(existed ? 200 : 201, out);
      }
      case 'delete': {
        const opts = jsonBody(body);
        const o = isObject(opts) ? opts : {};
        const pre = isObject(o.preconditions) ? o.preconditions : {};
        const dry = Array.isArray(o.dryRun) ? o.dryRun.includes('All') : wo.dryRun;
        return reply(
          200,
          st.delete(def, ns, info.name, {
            preconditions: {
              ...(typeof pre.uid === 'string' ? { uid: pre.uid } : {}),
              ...(typeof pre.resourceVersion === 'string'
                ? { resourceVersion: pre.resourceVersion }
                : {}),
            },
            dryRun: dry,
          }),
        );
      }
      case 'deletecollection':
        return reply(
          200,
          st.deleteCollection(def, ns, {
            ...(q.labelSelector !== undefined ? { labelSelector: q.labelSelector } : {}),
            ...(q.fieldSelector !== undefined ? { fieldSelector: q.fieldSelector } : {}),
          }),
        );
      default:
        throw new ApiError(
          405,
          'MethodNotAllowed',
          `the server does not allow this method on the requested resource (${qualifiedName(def)})`,
        );
    }
  };
  try {
    const r = await handle();
    if (r) answer(r);
  } catch (e) {
    if (res.headersSent) res.destroy();
    else if (e instanceof ApiError) answer(reply(e.code, e.status()));
    else {
      const msg = e instanceof Error ? e.message : String(e);
      answer(reply(500, failure(500, 'InternalError', `Internal error occurred: ${msg}`)));
    }
  }
}

/** Tracks a server's sockets so they can all be cut (pause, stop). */
export function trackSockets(sockets: Set<Socket>): (s: Socket) => void {
  return (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
}
