// Where the Kubernetes tests run: the API server double, or a real cluster when KUBECONFIG is set.
import type { Wire } from '../../cells/k8s/types.js';

/**
 * A plain JSON object as a body for client-node's typed APIs, which declare classes (V1Pod...)
 * although the wire carries plain objects (and the lint rule refuses literals for classes).
 */
export function wire<T>(o: Wire<T>): T {
  return o as T;
}

/** An answer of client-node's typed APIs as the plain JSON type (to spread into the next body). */
export function plain<T>(o: T): Wire<T> {
  return o as Wire<T>;
}
