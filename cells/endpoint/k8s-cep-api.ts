// The CiliumEndpoint objects on the API server, behind a small interface: the real one over
// client-node's CustomObjectsApi, an in-memory one (k8s-cep.memory.ts) for cell tests.
import {
  apiStatus,
  CILIUM_GROUP,
  CILIUM_VERSION,
  K8sDisabledError,
  type K8sClient,
  type K8sObject,
} from '../k8s/index.js';
import type { NamedPort } from './k8s-labels.js';

/** The plural of the CiliumEndpoint CRD. */
export const CEP_PLURAL = 'ciliumendpoints';

/** A CiliumEndpoint's status, with Cilium's field names. */
export interface CepStatus {
  readonly id: number;
  readonly 'external-identifiers': Readonly<Record<string, string>>;
  readonly identity: { readonly id: number; readonly labels: readonly string[] };
  readonly networking: {
    readonly addressing: readonly { readonly ipv4?: string; readonly ipv6?: string }[];
    readonly node: string;
  };
  readonly state: string;
  readonly 'named-ports': readonly NamedPort[];
  readonly encryption: Readonly<Record<string, never>>;
}

/** A CiliumEndpoint (cilium.io/v2): no spec; the whole object is written (no status subresource). */
export interface CiliumEndpointObject extends K8sObject {
  status?: CepStatus;
}

/** A failed call, with the API server's HTTP status (0: no answer). */
export class CepApiError extends Error {
  override name = 'CepApiError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * What the CiliumEndpoint reconciler does on the API server; each call is given up when `signal`
 * (the reconciler's, aborted when the agent stops) aborts.
 */
export interface CepApi {
  /** The object, or undefined when there is none. */
  get(
    namespace: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<CiliumEndpointObject | undefined>;
  /** Creates it; CepApiError 409 when it exists. */
  create(obj: CiliumEndpointObject, signal?: AbortSignal): Promise<CiliumEndpointObject>;
  /** Replaces it (metadata.resourceVersion set); CepApiError 409 on a conflict, 404 when gone. */
  replace(obj: CiliumEndpointObject, signal?: AbortSignal): Promise<CiliumEndpointObject>;
  /** Deletes it; absent is success. */
  delete(namespace: string, name: string, signal?: AbortSignal): Promise<void>;
  /** Every CiliumEndpoint of the cluster. */
  list(signal?: AbortSignal): Promise<CiliumEndpointObject[]>;
}

async function call<T>(what: string, fn: () => Promise<unknown>): Promise<T> {
  try {
    return (await fn()) as T;
  } catch (e) {
    const code = apiStatus(e) ?? 0; // 0: no answer
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new CepApiError(code, `${what}: ${code !== 0 ? `HTTP ${code}` : (msg ?? '')}`);
  }
}

/**
 * The CepApi of the cluster (client-node's CustomObjectsApi); calls wait for client.ready().
 * Without a client (embedded mode) every call fails with K8sDisabledError.
 */
export function k8sCepApi(client: K8sClient | undefined): CepApi {
  const at = { group: CILIUM_GROUP, version: CILIUM_VERSION, plural: CEP_PLURAL };
  const api = async (signal: AbortSignal | undefined) => {
    if (!client?.enabled) throw new K8sDisabledError();
    await client.ready(signal);
    return { custom: client.custom(), opts: signal ? client.callOptions(signal) : undefined };
  };
  return {
    async get(namespace, name, signal) {
      try {
        return await call<CiliumEndpointObject>(`get ${namespace}/${name}`, async () => {
          const { custom, opts } = await api(signal);
          return custom.getNamespacedCustomObject({ ...at, namespace, name }, opts);
        });
      } catch (e) {
        if (e instanceof CepApiError && e.code === 404) return undefined;
        throw e;
      }
    },
    create: (obj, signal) =>
      call(`create ${obj.metadata.namespace ?? ''}/${obj.metadata.name}`, async () => {
        const { custom, opts } = await api(signal);
        return custom.createNamespacedCustomObject(
          { ...at, namespace: obj.metadata.namespace ?? '', body: obj },
          opts,
        );
      }),
    replace: (obj, signal) =>
      call(`update ${obj.metadata.namespace ?? ''}/${obj.metadata.name}`, async () => {
        const { custom, opts } = await api(signal);
        return custom.replaceNamespacedCustomObject(
          { ...at, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name, body: obj },
          opts,
        );
      }),
    async delete(namespace, name, signal) {
      try {
        await call(`delete ${namespace}/${name}`, async () => {
          const { custom, opts } = await api(signal);
          return custom.deleteNamespacedCustomObject({ ...at, namespace, name }, opts);
        });
      } catch (e) {
        if (!(e instanceof CepApiError && e.code === 404)) throw e;
      }
    },
    async list(signal) {
      const out = await call<{ items?: unknown }>('list', async () => {
        const { custom, opts } = await api(signal);
        return custom.listCustomObjectForAllNamespaces(at, opts);
      });
      return Array.isArray(out.items) ? (out.items as CiliumEndpointObject[]) : [];
    },
  };
}
