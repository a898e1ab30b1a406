import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** Where cluster-wide identities live (Cilium's modes; the newer double-write ones are not). */
export const IDENTITY_ALLOCATION_MODES = ['crd', 'kvstore'] as const;

/** The identity cell's flags. */
export const identityFlags = {
  'identity-allocation-mode': flag.oneOf(
    IDENTITY_ALLOCATION_MODES,
    'kvstore',
    'Where cluster-wide identities are allocated in Kubernetes mode: kvstore (etcd; without --kvstore, crd is used, as Cilium does) or crd (CiliumIdentity objects); embedded mode allocates locally (or in the kvstore when one is configured)',
  ),
  'identity-allocation-timeout': flag.duration(
    '2m',
    'How long a new label set waits for the Kubernetes API server in crd mode before its allocation fails (Cellium; Cilium retries in the endpoint)',
    { min: '1ms' },
  ),
  'identity-gc-interval': flag.duration(
    '15m',
    "Interval of the kvstore identity garbage collection: an identity no node has used for a whole interval is deleted (Cilium's default)",
    { min: '1ms' },
  ),
} as const;

/** The identity cell's configuration. */
export type IdentityConfig = ConfigOf<typeof identityFlags>;

/** The identity cell's configuration. */
export const IdentityConfig = token<IdentityConfig>('identity/IdentityConfig');
