import type { Model } from '../../core/api/index.js';
import { token } from '../../core/hive/index.js';

/** What the policy cell says about an endpoint's policy, for the Endpoint model. */
export interface EndpointPolicyState {
  /** The policy the endpoint is being brought to (the repository's revision). */
  readonly spec: Model<'EndpointPolicy'>;
  /** What its policy map holds (`policy-revision` is what `policy wait` waits for). */
  readonly realized: Model<'EndpointPolicy'>;
  /** EndpointHealth.policy: OK, Pending (being written) or Failure (the previous policy stays). */
  readonly health: 'OK' | 'Pending' | 'Failure';
}

/**
 * Where the endpoint model reads policy from: the policy cell registers its source at
 * construction. Without one (a hive without the policy cell) no policy selects an endpoint.
 */
export interface EndpointPolicyStatus {
  set(
    source: (id: number) => EndpointPolicyState | undefined,
    waitRealized?: (id: number, timeoutMs: number) => Promise<void>,
  ): void;
  get(id: number): EndpointPolicyState | undefined;
  /** Whether a policy cell manages endpoints' policy (their lxc entries say so to bpf_lxc). */
  managed(): boolean;
  /**
   * Resolves once endpoint `id`'s policy is in its map and enforced (at once without a policy
   * cell); rejects when it cannot be, or after `timeoutMs`.
   */
  waitRealized(id: number, timeoutMs: number): Promise<void>;
}

/** Where the endpoint model reads policy from. */
export const EndpointPolicyStatus = token<EndpointPolicyStatus>('endpoint/EndpointPolicyStatus');

/** A registry with no source yet. */
export function newEndpointPolicyStatus(): EndpointPolicyStatus {
  let source: ((id: number) => EndpointPolicyState | undefined) | undefined;
  let wait: ((id: number, timeoutMs: number) => Promise<void>) | undefined;
  return {
    set: (s, w) => {
      source = s;
      wait = w;
    },
    get: (id) => source?.(id),
    managed: () => source !== undefined,
    waitRealized: (id, timeoutMs) => wait?.(id, timeoutMs) ?? Promise.resolve(),
  };
}
