import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import type { Logger } from '../hive/logger.js';
import { ApiError, type ApiRegistry } from './registry.js';
import type { ApiSpec, OperationSpec } from './spec.js';
import { isApiStream, STREAM_HIGH_WATER, type ApiStream } from './types.js';
import { SpecValidator, ValidationError } from './validate.js';

/** How the API app is built. */
export interface ApiAppOptions {
  readonly spec: ApiSpec;
  readonly registry: ApiRegistry;
  readonly logger: Logger;
  /** Largest request body accepted, in bytes. */
  readonly bodyLimit: number;
  /** Check every reply against the spec (tests); a mismatch becomes a 500. */
  readonly validateResponses?: boolean;
}

/** Bindings @hono/node-server passes: Node's request (headers, bodies on GET). */
interface NodeEnv {
  incoming?: IncomingMessage;
}

function errorBody(
  c: Context,
  status: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): Response {
  return c.json(message, status as 400, headers);
}

async function readIncoming(incoming: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) throw new ApiError(413, `request body is larger than ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readStream(body: ReadableStream<Uint8Array>, limit: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new ApiError(413, `request body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A body the client stopped sending (it went away): the client's doing, not an agent error. */
async function cutOff(read: Promise<string>): Promise<string> {
  try {
    return await read;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(
      400,
      `body: could not be read: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/**
 * A request header, read from Node's request when there is one: asking the web Request for
 * its headers builds a Headers object, and the first one loads undici (~20 ms of a cold start).
 */
function header(c: Context, name: string): string | undefined {
  const incoming = (c.env as NodeEnv | undefined)?.incoming;
  if (!incoming) return c.req.header(name);
  const v = incoming.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

async function readBody(c: Context<{ Bindings: NodeEnv }>, limit: number): Promise<unknown> {
  const len = Number(header(c, 'content-length') ?? '0');
  if (len > limit) throw new ApiError(413, `request body is larger than ${limit} bytes`);
  let text: string;
  // Read from Node's request (the adapter drops bodies of GET requests, and Cilium's clients
  // send label filters there); the web Request's stream only without one.
  const incoming = (c.env as NodeEnv | undefined)?.incoming;
  if (incoming) {
    const chunked = header(c, 'transfer-encoding') !== undefined;
    if (len === 0 && !chunked) return undefined;
    text = await cutOff(readIncoming(incoming, limit));
  } else {
    const body = c.req.raw.body;
    if (body === null) return undefined;
    text = await cutOff(readStream(body, limit));
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ValidationError(`body is not valid JSON: ${(e as Error).message}`);
  }
}

function queryValues(c: Context, op: OperationSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of op.params) {
    if (p.in !== 'query') continue;
    const all = c.req.queries(p.name);
    if (!all || all.length === 0) continue;
    const isArray = p.schema.type === 'array';
    out[p.name] = isArray ? all.flatMap((v) => v.split(',')) : all[all.length - 1];
  }
  return out;
}

function headerValues(c: Context, op: OperationSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of op.params) {
    if (p.in !== 'header') continue;
    const v = header(c, p.name);
    if (v !== undefined) out[p.name] = v;
  }
  return out;
}

/**
 * Why a request's raw path cannot be served, or undefined: a `.` or `..` segment (also written
 * `%2e`) would be resolved away by URL parsing, so `/endpoint/%2e%2e/config` would reach
 * `/config`. Checked on the raw request line, before any parsing.
 */
export function dotSegmentProblem(rawUrl: string): string | undefined {
  const path = rawUrl.split('?')[0] ?? '';
  for (const seg of path.split('/')) {
    let v = seg;
    try {
      v = decodeURIComponent(seg);
    } catch {
      // not valid percent-encoding: not a dot segment either
    }
    if (v === '.' || v === '..') {
      return `path segment ${JSON.stringify(seg)} is not allowed: an id or name cannot be '.' or '..'`;
    }
  }
  return undefined;
}

/** The issue that brings an operation's cell (`x-cellium-issue`), when the spec names one. */
function issueOf(spec: ApiSpec, op: OperationSpec): number | string | undefined {
  const paths = spec.document.paths as Record<string, Record<string, Record<string, unknown>>>;
  const v = paths[op.path]?.[op.method.toLowerCase()]?.['x-cellium-issue'];
  return typeof v === 'number' || typeof v === 'string' ? v : undefined;
}

/**
 * A streamed 200: each object the handler sends becomes one line of JSON, flushed at once. The
 * handler's signal aborts when the client goes away (the adapter cancels the body when the
 * socket closes) or the server closes its connections at stop.
 */
function streamed(s: ApiStream, logger: Logger, op: string): Response {
  const ac = new AbortController();
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>(
    {
      start(ctl) {
        const send = (obj: unknown): boolean => {
          if (ac.signal.aborted) return false;
          ctl.enqueue(enc.encode(`${JSON.stringify(obj)}\n`));
          return (ctl.desiredSize ?? 0) > 0;
        };
        s.run(send, ac.signal).then(
          () => {
            if (!ac.signal.aborted) ctl.close();
          },
          (e: unknown) => {
            logger.error({ err: e, op }, 'API stream failed');
            if (!ac.signal.aborted) ctl.error(e);
          },
        );
      },
      cancel() {
        ac.abort();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: STREAM_HIGH_WATER }),
  );
  return new Response(body, {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' },
  });
}

/**
 * Builds the hono app serving every operation of the spec under its base path: requests are
 * validated before a handler sees them (400 naming the field), operations no cell serves
 * answer 501, and every error body is a JSON string as in Cilium's API.
 */
export function createApiApp(opts: ApiAppOptions): Hono<{ Bindings: NodeEnv }> {
  const { spec, registry, logger, bodyLimit } = opts;
  const validator = new SpecValidator(spec);
  const app = new Hono<{ Bindings: NodeEnv }>();

  // A fixed path wins over a parameterized one (`/identity/endpoints` before `/identity/{id}`):
  // hono tries routes in the order they are added.
  const params = (path: string): number => path.split('{').length - 1;
  const ordered = [...spec.operations.values()].sort((a, b) => params(a.path) - params(b.path));
  for (const op of ordered) {
    const honoPath = spec.basePath + op.path.replace(/\{([^}]+)\}/g, ':$1');
    const label = `${op.method} ${spec.basePath}${op.path}`;
    const serve = async (c: Context<{ Bindings: NodeEnv }>): Promise<Response> => {
      const handler = registry.get(op.id);
      if (!handler) {
        const issue = issueOf(spec, op);
        const later = issue === undefined ? '' : ` yet (it arrives with issue ${issue})`;
        return errorBody(
          c,
          501,
          `${label} is served by the '${op.cell}' cell, which is not part of this agent${later}`,
        );
      }
      const v = validator.for(op);
      let reply: { status: number; body?: unknown };
      try {
        const params: Record<string, unknown> = { ...c.req.param() };
        const query = queryValues(c, op);
        const headers = headerValues(c, op);
        v.params('path', params);
        v.params('query', query);
        v.params('header', headers);
        const body = op.body || c.req.method !== 'GET' ? await readBody(c, bodyLimit) : undefined;
        v.body(body);
        reply = (await handler({ params, query, headers, body } as never)) as typeof reply;
      } catch (e) {
        if (e instanceof ValidationError) return errorBody(c, 400, `invalid request: ${e.message}`);
        if (e instanceof ApiError) return errorBody(c, e.status, e.message, e.headers);
        logger.error({ err: e, op: op.id }, 'API handler failed');
        return errorBody(c, 500, `${op.id} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (isApiStream(reply.body)) return streamed(reply.body, logger, op.id);
      if (opts.validateResponses) {
        try {
          v.response(reply.status, reply.body);
        } catch (e) {
          return errorBody(c, 500, `reply does not match the spec: ${(e as Error).message}`);
        }
      }
      return reply.body === undefined
        ? c.body(null, reply.status as 200)
        : c.json(reply.body as object, reply.status as 200);
    };
    // Observers (request metrics) may register after the app is built: checked per request.
    app.on(op.method, honoPath, async (c) => {
      if (!registry.hasObservers()) return serve(c);
      const t0 = performance.now();
      const res = await serve(c);
      registry.report(op, res.status, (performance.now() - t0) / 1000);
      return res;
    });
  }
  app.notFound((c) => errorBody(c, 404, `no such API path: ${c.req.method} ${c.req.path}`));
  app.onError((e, c) => {
    logger.error({ err: e }, 'API error');
    return errorBody(c, 500, e.message);
  });
  return app;
}
