// The API server through @kubernetes/client-node, which client.ts imports (dynamically) only in
// Kubernetes mode, when the cell starts, and hands in here: an embedded agent never loads it (it
// is ESM-only, so the CommonJS agent bundle can only reach it through import()). Every request,
// typed or raw, passes the access check first.
import type * as ClientNode from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import * as http from 'node:http';
import * as https from 'node:https';
import { createInterface } from 'node:readline';
import { errorMessage } from '../../core/hive/index.js';
import { checkRequest } from './access.js';
import {
  K8sHttpError,
  type ConnectOptions,
  type RawResponse,
  type RequestOptions,
  type Transport,
  type WatchEvent,
} from './transport.js';
import type { K8sAccess } from './types.js';

/** How long a request (or a watch's headers) may take before it is given up and retried. */
export const REQUEST_TIMEOUT_MS = 30_000;

type Query = Readonly<Record<string, string | number | boolean | undefined>>;

/** What the transport reports to the client: every answer, and every request that got none. */
export interface TransportHooks {
  answered(): void;
  unreachable(e: unknown): void;
}

function kubeConfig(cn: typeof ClientNode, o: ConnectOptions): KubeConfig {
  const kc = new cn.KubeConfig();
  if (o.kubeconfigPath !== '') kc.loadFromFile(o.kubeconfigPath);
  else if (o.inCluster) kc.loadFromCluster();
  else
    kc.loadFromClusterAndUser(
      { name: 'cluster', server: o.apiServer, skipTLSVerify: false },
      { name: 'user' },
    );
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig ${o.kubeconfigPath}: no current cluster`);
  if (o.apiServer !== '' && cluster.server !== o.apiServer) {
    // --k8s-api-server overrides the address, keeping the kubeconfig's credentials.
    const clusters = kc.clusters.map((c) =>
      c.name === cluster.name ? { ...c, server: o.apiServer } : c,
    );
    kc.loadFromOptions({
      clusters,
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.getCurrentContext(),
    });
  }
  return kc;
}

function withQuery(path: string, query: Query | undefined): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? path : `${path}?${s}`;
}

/** Reads the kubeconfig and builds the typed APIs and the raw requests over client-node. */
export function connect(
  cn: typeof ClientNode,
  o: ConnectOptions,
  access: K8sAccess,
  hooks: TransportHooks,
  /** How long a request (a watch: its headers) may take; REQUEST_TIMEOUT_MS unless a test says. */
  requestTimeoutMs: number = REQUEST_TIMEOUT_MS,
): Transport {
  const kc = kubeConfig(cn, o);
  const server = (kc.getCurrentCluster()?.server ?? '').replace(/\/+$/, '');
  const fetcher = new cn.IsomorphicFetchHttpLibrary();
  const config = cn.createConfiguration({
    baseServer: new cn.ServerConfiguration(server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: (ctx) => {
          checkRequest(access, ctx.getHttpMethod(), ctx.getUrl());
          // client-node sets no timeout: a hung API server would hold a typed call (a
          // CiliumEndpoint or CiliumNode write, the node's patch) and the reconciler or job
          // awaiting it forever. node-fetch drops its listener once the body is read.
          if (ctx.getSignal() === undefined) ctx.setSignal(AbortSignal.timeout(requestTimeoutMs));
          return Promise.resolve(ctx);
        },
        post: (res) => {
          hooks.answered();
          return Promise.resolve(res);
        },
      },
    ],
  });

  async function request(
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<RawResponse> {
    const url = `${server}${withQuery(path, opts.query)}`;
    checkRequest(access, method, url);
    const ctx = new cn.RequestContext(
      url,
      cn.HttpMethod[method.toUpperCase() as keyof typeof cn.HttpMethod],
    );
    ctx.setHeaderParam('Accept', 'application/json');
    if (opts.body !== undefined) {
      const type =
        opts.contentType ??
        (method.toUpperCase() === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
      ctx.setHeaderParam('Content-Type', type);
      ctx.setBody(JSON.stringify(opts.body));
    }
    // A signal of this request only: node-fetch leaves its abort listener on the signal after the
    // answer, and aborting it then (the agent stopping) breaks the finished response's socket.
    const outer = opts.signal;
    const local = new AbortController();
    const onAbort = (): void => {
      local.abort(outer?.reason);
    };
    outer?.addEventListener('abort', onAbort, { once: true });
    // An API server that never answers must not hold a list (and the table's sync) forever.
    const timer = setTimeout(() => {
      local.abort(new Error(`no answer in ${requestTimeoutMs / 1000}s`));
    }, requestTimeoutMs);
    ctx.setSignal(local.signal);
    let status: number;
    let text: string;
    try {
      if (outer?.aborted) throw new Error('stopped');
      await kc.applySecurityAuthentication(ctx);
      const res = await fetcher.send(ctx).toPromise();
      status = res.httpStatusCode;
      text = await res.body.text();
    } catch (e) {
      if (!outer?.aborted) hooks.unreachable(e);
      throw e;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
    hooks.answered();
    let body: unknown = undefined;
    if (text !== '') {
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        body = text;
      }
    }
    return { status, body };
  }

  async function watch(
    path: string,
    query: Query,
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const url = new URL(`${server}${withQuery(path, { ...query, watch: true })}`);
    checkRequest(access, 'GET', url.href);
    if (signal.aborted) return;
    // Node's http(s) with the kubeconfig's TLS and credentials (client-node's Watch cannot be
    // aborted before the server answers: a stopping agent would leave the request open).
    const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
    await kc.applyToHTTPSOptions(opts);
    await new Promise<void>((resolve, reject) => {
      const lib = url.protocol === 'https:' ? https : http;
      let done = false;
      const finish = (err?: unknown): void => {
        if (done) return;
        done = true;
        if (err === undefined || signal.aborted) resolve();
        else reject(err instanceof Error ? err : new Error(errorMessage(err)));
      };
      // Headers that never come (a hung API server) end the attempt; the reader retries.
      const headers = setTimeout(() => {
        finish(new Error(`watch ${path}: no answer in ${requestTimeoutMs / 1000}s`));
        req.destroy();
      }, requestTimeoutMs);
      // A stream the server should have ended (timeoutSeconds) but that stays open is a dead
      // connection (no RST: a lost node, a load balancer's dropped state): ended as if the server
      // had ended it, so the reader resumes from its last event instead of waiting forever.
      const timeoutSeconds = Number(query.timeoutSeconds);
      const deadline =
        Number.isFinite(timeoutSeconds) && timeoutSeconds > 0
          ? setTimeout(
              () => {
                finish();
                req.destroy();
              },
              timeoutSeconds * 1000 + requestTimeoutMs,
            )
          : undefined;
      const req = lib.request(url, { ...opts, signal }, (res) => {
        clearTimeout(headers);
        hooks.answered();
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            let body: unknown;
            try {
              body = JSON.parse(text) as unknown;
            } catch {
              body = undefined;
            }
            finish(K8sHttpError.of(`watch ${path}`, status, body));
          });
          res.on('error', finish);
          return;
        }
        const lines = createInterface({ input: res, crlfDelay: Infinity });
        lines.on('line', (line) => {
          if (done || line.trim() === '') return;
          let e: unknown;
          try {
            e = JSON.parse(line) as unknown;
          } catch {
            e = undefined;
          }
          const ev = (typeof e === 'object' && e !== null ? e : {}) as {
            type?: unknown;
            object?: unknown;
          };
          if (typeof ev.type !== 'string') {
            // A torn or garbled line: the stream is not to be trusted past it; ending it here makes
            // the reader watch again from its last event, so the event this was is sent again.
            finish(new Error(`watch ${path}: malformed event line: ${line.slice(0, 80)}`));
            req.destroy();
            return;
          }
          onEvent({ type: ev.type, object: ev.object });
        });
        lines.on('close', () => {
          finish();
        });
        // readline re-emits its input's errors (a stream cut, or ours aborted at stop).
        lines.on('error', (err) => {
          finish(signal.aborted ? undefined : err);
        });
        res.on('error', (err) => {
          finish(signal.aborted ? undefined : err);
        });
      });
      req.on('close', () => {
        clearTimeout(headers);
        clearTimeout(deadline);
      });
      req.on('error', (err) => {
        if (!signal.aborted) hooks.unreachable(err);
        finish(err);
      });
      req.end();
    });
  }

  /** A typed call's middleware: its signal also aborts when `signal` does. */
  function callOptions(signal: AbortSignal): ClientNode.ConfigurationOptions {
    return {
      middleware: [
        {
          pre: (ctx) => {
            const own = ctx.getSignal();
            ctx.setSignal(own ? AbortSignal.any([own, signal]) : signal);
            return new cn.Observable(Promise.resolve(ctx));
          },
          post: (res) => new cn.Observable(Promise.resolve(res)),
        },
      ],
      // After the configuration's own (the access check and the timeout).
      middlewareMergeStrategy: 'append',
    };
  }

  return {
    server,
    callOptions,
    apis: {
      core: new cn.CoreV1Api(config),
      discovery: new cn.DiscoveryV1Api(config),
      networking: new cn.NetworkingV1Api(config),
      custom: new cn.CustomObjectsApi(config),
      apiextensions: new cn.ApiextensionsV1Api(config),
    },
    request,
    watch,
  };
}
