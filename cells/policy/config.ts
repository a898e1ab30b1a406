import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** The policy cell's flags. */
export const policyFlags = {
  'allow-localhost': flag.oneOf(
    ['auto', 'always', 'policy'],
    'auto',
    "Whether the node's own traffic may always reach endpoints (Cilium's): auto and always let it in whatever the ingress policy says (a deny rule still wins), policy leaves it to the rules",
  ),
} as const;

/** The policy cell's configuration. */
export type PolicyConfig = ConfigOf<typeof policyFlags>;

/** The policy cell's configuration. */
export const PolicyConfig = token<PolicyConfig>('policy/PolicyConfig');
