import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** The identity cell's flags (used in kvstore mode). */
export const identityFlags = {
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
