// What the cell's own code (version probe, CRDs, reflectors) needs from the API server: raw JSON
// requests and watch streams, every one checked against the declared access rules. The
// implementation (client-node.ts) is loaded only in Kubernetes mode.
import type {
  ApiextensionsV1Api,
  ConfigurationOptions,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  NetworkingV1Api,
} from '@kubernetes/client-node';

/** A watch event as the API server sends it. */
export interface WatchEvent {
  readonly type: string;
  readonly object: unknown;
}

/** Options of a raw request. */
export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Sent as JSON (the content type is `application/merge-patch+json` for PATCH unless given). */
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

/** The API server's answer to a raw request: the status and the body parsed as JSON. */
export interface RawResponse {
  readonly status: number;
  readonly body: unknown;
}

/** The API server's typed clients (client-node), every request through the access check. */
export interface TypedApis {
  readonly core: CoreV1Api;
  readonly discovery: DiscoveryV1Api;
  readonly networking: NetworkingV1Api;
  readonly custom: CustomObjectsApi;
  readonly apiextensions: ApiextensionsV1Api;
}

/** One connection to the API server (client-node loaded, kubeconfig read). */
export interface Transport {
  /** The API server's URL. */
  readonly server: string;
  readonly apis: TypedApis;
  /** Options of a typed call that abort it when `signal` does (its timeout still applies). */
  callOptions(signal: AbortSignal): ConfigurationOptions;
  /** A request with a JSON answer; throws K8sAccessError before sending when no rule allows it. */
  request(method: string, path: string, opts?: RequestOptions): Promise<RawResponse>;
  /**
   * Follows a watch stream (`watch=true` is added), calling `onEvent` per event; resolves when
   * the stream ends or `signal` aborts, rejects with K8sHttpError when the server refuses it.
   */
  watch(
    path: string,
    query: Readonly<Record<string, string | number | boolean | undefined>>,
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

/** An error status from the API server (its Status object's reason and message when it sent one). */
export class K8sHttpError extends Error {
  override name = 'K8sHttpError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }

  /** Builds the error of an answer: the Status object's message, or the HTTP status. */
  static of(what: string, status: number, body: unknown): K8sHttpError {
    const s = (typeof body === 'object' && body !== null ? body : {}) as {
      reason?: unknown;
      message?: unknown;
    };
    const reason = typeof s.reason === 'string' ? s.reason : '';
    const msg = typeof s.message === 'string' && s.message !== '' ? s.message : `HTTP ${status}`;
    return new K8sHttpError(
      status,
      reason,
      `${what}: ${status}${reason ? ` ${reason}` : ''}: ${msg}`,
    );
  }
}

/** True for the API server's "resourceVersion too old" answers (410 Gone, reason Expired). */
export function isGone(e: unknown): boolean {
  return (
    e instanceof K8sHttpError && (e.status === 410 || e.reason === 'Expired' || e.reason === 'Gone')
  );
}

/** How the agent finds its cluster: a kubeconfig file, an API server URL, in-cluster, or none. */
export interface ConnectOptions {
  readonly kubeconfigPath: string;
  readonly apiServer: string;
  readonly inCluster: boolean;
}
