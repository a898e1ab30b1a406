import type { ApiSpec } from '../../core/api/index.js';
import { knownEndpoints, shouldHaveRefused, type Knowledge, type PodCidr } from './agent-fuzz.js';
import { judge, type FindingLog, type OracleContext } from './fuzz-oracle.js';
import {
  ClosedEarlyError,
  HangError,
  withHangLimit,
  type FuzzReply,
  type FuzzRequest,
  type FuzzTarget,
} from './fuzz-target.js';

const NAMING = ['id', 'container-id', 'k8s-namespace', 'k8s-pod-name', 'addressing', 'user'];

function briefBody(body: string | undefined): string {
  if (body === undefined) return '';
  try {
    const v = JSON.parse(body) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      return ` ${JSON.stringify(Object.fromEntries(NAMING.filter((k) => k in o).map((k) => [k, o[k]])))}`;
    }
  } catch {
    // not JSON: shown clipped below
  }
  return ` ${JSON.stringify(body.slice(0, 60))}`;
}

/** The last requests sent, to show what led to a broken invariant. */
export class Trail {
  private readonly items: string[] = [];
  constructor(private readonly size = 8) {}

  /** Remembers a request and its status, with only the body fields that name things. */
  push(req: FuzzRequest, status: number | string): void {
    this.items.push(`${req.method} /v1${req.path}${briefBody(req.body)} → ${status}`);
    if (this.items.length > this.size) this.items.shift();
  }

  /** The remembered requests, oldest first. */
  lines(): string[] {
    return [...this.items];
  }
}

/** How requests reach the agent and are judged. */
export interface Exchange {
  readonly target: FuzzTarget;
  readonly spec: ApiSpec;
  readonly ctx: OracleContext;
  readonly log: FindingLog;
  readonly pools: readonly PodCidr[];
  readonly trail: Trail;
  /** Generous: only to tell a hang from an answer. */
  readonly hangMs: number;
  /** Requests sent so far. */
  sent: number;
}

/** Sends a request, judges the reply, and records hangs and lost connections as findings. */
export async function exchange(
  x: Exchange,
  req: FuzzRequest,
  quiet = false,
): Promise<FuzzReply | undefined> {
  const op = x.spec.operations.get(req.op);
  x.sent++;
  let reply: FuzzReply;
  try {
    reply = await withHangLimit(x.target.send(req), x.hangMs, `${req.method} ${req.path}`);
  } catch (e) {
    // A body nobody reads (a GET without one in the spec) may be cut off by the server.
    if (e instanceof ClosedEarlyError && !op?.body) return undefined;
    const kind = e instanceof HangError ? 'hang' : 'no answer';
    x.log.add(kind, req.op, undefined, e instanceof Error ? e.message : String(e), req);
    x.trail.push(req, kind);
    return undefined;
  }
  if (!quiet) x.trail.push(req, reply.status);
  judge(x.ctx, op, req, reply, x.log);
  if (reply.status < 300) {
    const why = shouldHaveRefused(req, x.pools);
    if (why !== undefined) x.log.add('invalid input accepted', req.op, reply.status, why, req);
  }
  return reply;
}

/** A request outside the generator (stateful steps, invariant reads). */
export function plain(
  op: string,
  method: string,
  path: string,
  opts: { body?: unknown; headers?: Record<string, string>; note?: string } = {},
): FuzzRequest {
  return {
    op,
    method,
    path,
    headers: {
      ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...opts.headers,
    },
    ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    note: opts.note ?? 'stateful step',
  };
}

/** Reads what the fuzzer aims at: endpoints, maps, identities. */
export async function learn(x: Exchange): Promise<Knowledge> {
  const eps = await exchange(x, plain('GetEndpoint', 'GET', '/endpoint', { note: 'read' }), true);
  const maps = await exchange(x, plain('GetMap', 'GET', '/map', { note: 'read' }), true);
  const ids = await exchange(x, plain('GetIdentity', 'GET', '/identity', { note: 'read' }), true);
  const mapList = (maps?.json as { maps?: { name?: string }[] } | undefined)?.maps ?? [];
  const idList = Array.isArray(ids?.json) ? (ids.json as { id?: number }[]) : [];
  return {
    endpoints: knownEndpoints(eps?.json),
    maps: mapList.map((m) => m.name ?? '').filter(Boolean),
    identities: idList.map((i) => i.id ?? 0),
  };
}
