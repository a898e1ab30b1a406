// The CiliumIdentity calls of the CRD allocator through the k8s cell's client (client-node's
// CustomObjectsApi): create, and get after an AlreadyExists.
import type { K8sClient } from '../k8s/index.js';
import { apiStatus, CILIUM_GROUP, CILIUM_VERSION } from '../k8s/index.js';
import type { CiliumIdentityStore } from './crd-allocator.js';
import { CILIUM_IDENTITIES } from './crd-labels.js';
import { untilAborted } from './kvstore-queue.js';

/** A request given up when `signal` aborts (client-node takes no signal; the answer is dropped). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return untilAborted(p, signal, () => undefined);
}

/** The CiliumIdentity store over the API server. */
export function k8sIdentityStore(client: K8sClient): CiliumIdentityStore {
  const target = { group: CILIUM_GROUP, version: CILIUM_VERSION, plural: CILIUM_IDENTITIES };
  return {
    async create(obj, signal) {
      await client.ready(signal);
      try {
        await abortable(
          client
            .custom()
            .createClusterCustomObject({ ...target, body: obj }, client.callOptions(signal)),
          signal,
        );
        return true;
      } catch (e) {
        if (apiStatus(e) === 409) return false;
        throw e;
      }
    },
    async get(name, signal) {
      await client.ready(signal);
      try {
        return (await abortable(
          client.custom().getClusterCustomObject({ ...target, name }, client.callOptions(signal)),
          signal,
        )) as unknown;
      } catch (e) {
        if (apiStatus(e) === 404) return undefined;
        throw e;
      }
    },
  };
}
