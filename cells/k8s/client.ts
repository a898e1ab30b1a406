// The K8sClient: in Kubernetes mode @kubernetes/client-node is imported when the cell starts (as
// the kvstore cell's etcd3), the kubeconfig read, and /version asked until the API server answers;
// in embedded mode nothing is loaded and every call throws K8sDisabledError.
import type * as ClientNode from '@kubernetes/client-node';
import type { ConfigurationOptions } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { BehaviorSubject, type Observable } from 'rxjs';
import type { Model } from '../../core/api/index.js';
import { errorMessage, sleep, type Health, type Logger } from '../../core/hive/index.js';
import type { K8sConfig } from './config.js';
import { jittered } from './backoff.js';
import type { connect as ConnectFn } from './client-node.js';
import type { ConnectOptions, Transport, TypedApis } from './transport.js';
import { K8sDisabledError, type K8sAccess, type K8sClient } from './types.js';

/** Where a pod's service account token is (the in-cluster mode needs it). */
export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * How this agent reaches its cluster, or undefined for embedded mode: --enable-k8s and one of
 * --k8s-kubeconfig-path, --k8s-api-server, or the in-cluster environment (KUBERNETES_SERVICE_HOST
 * and the service account token).
 */
export function connectOptions(
  c: K8sConfig,
  env: NodeJS.ProcessEnv = process.env,
  exists: (p: string) => boolean = existsSync,
): ConnectOptions | undefined {
  if (!c.enableK8s) return undefined;
  const inCluster = (env.KUBERNETES_SERVICE_HOST ?? '') !== '' && exists(SERVICE_ACCOUNT_TOKEN);
  if (c.k8sKubeconfigPath === '' && c.k8sApiServer === '' && !inCluster) return undefined;
  if (c.k8sKubeconfigPath !== '' && !exists(c.k8sKubeconfigPath)) {
    throw new Error(`--k8s-kubeconfig-path: ${c.k8sKubeconfigPath}: no such file`);
  }
  if (c.k8sApiServer !== '' && !/^https?:\/\/[^/]/.test(c.k8sApiServer)) {
    throw new Error(`--k8s-api-server: '${c.k8sApiServer}' is not an http(s) URL`);
  }
  return {
    kubeconfigPath: c.k8sKubeconfigPath,
    apiServer: c.k8sApiServer,
    inCluster: c.k8sKubeconfigPath === '' && inCluster,
  };
}

/** The API server's /version answer. */
export interface VersionInfo {
  readonly major?: string;
  readonly minor?: string;
  readonly gitVersion?: string;
  readonly platform?: string;
}

/** Cilium's K8sStatus message: `1.31 (v1.31.0) [linux/amd64]`. */
export function versionText(v: VersionInfo): string {
  return `${v.major ?? '?'}.${v.minor ?? '?'} (${v.gitVersion ?? 'unknown'}) [${v.platform ?? 'unknown'}]`;
}

/** What the Kubernetes-mode client needs. */
export interface ApiServerClientParams {
  readonly connect: ConnectOptions;
  readonly access: K8sAccess;
  readonly health: Health;
  readonly logger: Logger;
  /** Longest wait between attempts (--k8s-watch-backoff-max). */
  readonly backoffMaxMs: number;
  /** The names of the APIs the reflectors use, for /healthz `k8s-api-versions`. */
  readonly apiNames: () => string[];
  /** How long a request may take (default REQUEST_TIMEOUT_MS of client-node.ts). */
  readonly requestTimeoutMs?: number;
}

/** The Kubernetes-mode client: connects in the background, ready once /version answers. */
export class ApiServerClient implements K8sClient {
  readonly enabled = true;
  private readonly connectedSubject = new BehaviorSubject(false);
  private current: Transport | undefined;
  private version: VersionInfo | undefined;
  private lastError: string | undefined;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;

  constructor(private readonly p: ApiServerClientParams) {
    this.readyPromise = new Promise((resolve) => (this.resolveReady = resolve));
  }

  get connected$(): Observable<boolean> {
    return this.connectedSubject.asObservable();
  }

  /** What the agent calls the API server in messages: its URL once known, else where from. */
  target(): string {
    if (this.current) return this.current.server;
    const c = this.p.connect;
    if (c.apiServer !== '') return c.apiServer;
    return c.kubeconfigPath !== '' ? `(kubeconfig ${c.kubeconfigPath})` : '(in-cluster)';
  }

  /**
   * Loads client-node, reads the kubeconfig and asks /version until it answers (forever, with
   * backoff), saying in health what it waits for; the cell's start schedules it as a job.
   */
  async run(signal: AbortSignal): Promise<void> {
    // Through the launcher's import() when run from the built agent (scripts/launcher.ts).
    const viaLauncher = (globalThis as { __celliumImport?: (s: string) => Promise<unknown> })
      .__celliumImport;
    const cn = viaLauncher
      ? ((await viaLauncher('@kubernetes/client-node')) as typeof ClientNode)
      : await import('@kubernetes/client-node');
    const { connect } = await import('./client-node.js');
    try {
      this.current = this.connectWith(connect, cn);
    } catch (e) {
      // A kubeconfig that cannot be read or used: said in the status; nothing to retry.
      this.lastError = errorMessage(e);
      this.p.health.degraded(`cannot use ${this.target()}: ${this.lastError}`);
      throw e;
    }
    const current = this.current;
    const stopped = (): boolean => signal.aborted; // read afresh after each await
    for (let attempt = 0; !stopped(); attempt++) {
      try {
        await this.probe(signal);
        this.p.logger.info(
          { server: current.server, version: this.version },
          'connected to the API server',
        );
        this.resolveReady();
        return;
      } catch (e) {
        if (stopped()) return;
        const delay = jittered(attempt, this.p.backoffMaxMs);
        this.p.health.degraded(
          `waiting for the API server at ${current.server}: ${errorMessage(e)} (retry in ${Math.round(delay)} ms)`,
        );
        await sleep(delay, signal);
      }
    }
  }

  private connectWith(connect: typeof ConnectFn, cn: typeof ClientNode): Transport {
    return connect(
      cn,
      this.p.connect,
      this.p.access,
      {
        answered: () => {
          this.lastError = undefined;
          if (!this.connectedSubject.value) this.connectedSubject.next(true);
        },
        unreachable: (e) => {
          this.lastError = errorMessage(e);
          if (this.connectedSubject.value) this.connectedSubject.next(false);
        },
      },
      ...(this.p.requestTimeoutMs !== undefined ? [this.p.requestTimeoutMs] : []),
    );
  }

  /** Asks /version; keeps the answer for the status, or the error. */
  async probe(signal?: AbortSignal): Promise<VersionInfo> {
    const t = this.transport();
    try {
      const res = await t.request('GET', '/version', signal ? { signal } : {});
      if (res.status !== 200 || typeof res.body !== 'object' || res.body === null) {
        throw new Error(`GET /version: HTTP ${res.status}`);
      }
      const b = res.body as Record<string, unknown>;
      const str = (k: string): string | undefined => (typeof b[k] === 'string' ? b[k] : undefined);
      const v: VersionInfo = {
        ...(str('major') !== undefined ? { major: str('major') } : {}),
        ...(str('minor') !== undefined ? { minor: str('minor') } : {}),
        ...(str('gitVersion') !== undefined ? { gitVersion: str('gitVersion') } : {}),
        ...(str('platform') !== undefined ? { platform: str('platform') } : {}),
      };
      this.version = v;
      this.lastError = undefined;
      this.p.health.ok(`connected to ${t.server}: ${versionText(v)}`);
      return v;
    } catch (e) {
      this.lastError = errorMessage(e);
      if (this.connectedSubject.value) this.connectedSubject.next(false);
      if (this.version !== undefined) {
        this.p.health.degraded(`the API server at ${t.server} does not answer: ${this.lastError}`);
      }
      throw e;
    }
  }

  /** /healthz `kubernetes`, as Cilium's K8sStatus. */
  status(): Model<'K8sStatus'> {
    const apis = this.p.apiNames();
    if (this.version === undefined) {
      return {
        state: 'Warning',
        msg: `waiting for the API server at ${this.target()}${this.lastError ? `: ${this.lastError}` : ''}`,
        'k8s-api-versions': apis,
      };
    }
    if (this.lastError !== undefined || !this.connectedSubject.value) {
      return {
        state: 'Failure',
        msg: `${versionText(this.version)}: ${this.lastError ?? 'not connected'}`,
        'k8s-api-versions': apis,
      };
    }
    return { state: 'Ok', msg: versionText(this.version), 'k8s-api-versions': apis };
  }

  ready(signal?: AbortSignal): Promise<void> {
    if (!signal) return this.readyPromise;
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void this.readyPromise.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** The connection (raw requests and watches), for the cell's own code; after run() loaded it. */
  transport(): Transport {
    if (!this.current)
      throw new Error('the Kubernetes client is not loaded yet: await ready() first');
    return this.current;
  }

  private apis(): TypedApis {
    return this.transport().apis;
  }

  callOptions(signal: AbortSignal): ConfigurationOptions {
    return this.transport().callOptions(signal);
  }

  core(): TypedApis['core'] {
    return this.apis().core;
  }
  discovery(): TypedApis['discovery'] {
    return this.apis().discovery;
  }
  networking(): TypedApis['networking'] {
    return this.apis().networking;
  }
  custom(): TypedApis['custom'] {
    return this.apis().custom;
  }
  apiextensions(): TypedApis['apiextensions'] {
    return this.apis().apiextensions;
  }
}

const never = new BehaviorSubject(false).asObservable();

/** The client of an embedded agent: disabled, every call throws K8sDisabledError. */
export function disabledK8sClient(): K8sClient {
  const fail = (): never => {
    throw new K8sDisabledError();
  };
  return {
    enabled: false,
    ready: () => Promise.reject(new K8sDisabledError()),
    connected$: never,
    core: fail,
    discovery: fail,
    networking: fail,
    custom: fail,
    apiextensions: fail,
    callOptions: fail,
  };
}
