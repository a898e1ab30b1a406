// CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy objects → rules, through the rule
// language's parser (the same one `cellium policy import` uses): a CNP's selectors confined to
// its namespace unless they name one, a CCNP's peers any pod, Cilium's derived labels on every
// rule. Only the fields a policy means are read from the object: the API server's own metadata
// (managedFields, resourceVersion...) and status never reach the parser.
import { PolicyError, asObject, given } from './policy-error.js';
import { parseRuleObjects, type Rule } from './rules.js';

/** The derived-from value (and kind) of a CiliumNetworkPolicy's rules. */
export const CILIUM_NETWORK_POLICY = 'CiliumNetworkPolicy';
/** The derived-from value (and kind) of a CiliumClusterwideNetworkPolicy's rules. */
export const CILIUM_CLUSTERWIDE_NETWORK_POLICY = 'CiliumClusterwideNetworkPolicy';

/** The two Cilium policy kinds. */
export type CiliumPolicyKind =
  typeof CILIUM_NETWORK_POLICY | typeof CILIUM_CLUSTERWIDE_NETWORK_POLICY;

/**
 * A CNP's or CCNP's rules; a PolicyError (naming the policy, the rule and the field) for
 * anything malformed, and for host policies (nodeSelector), which this agent cannot enforce.
 */
export function ciliumPolicyRules(obj: unknown, kind: CiliumPolicyKind): Rule[] {
  const o = asObject(obj, '');
  const meta = asObject(o.metadata, 'metadata');
  const manifest = {
    apiVersion: 'cilium.io/v2',
    kind,
    metadata: {
      name: meta.name,
      ...(kind === CILIUM_NETWORK_POLICY && given(meta.namespace)
        ? { namespace: meta.namespace }
        : {}),
      ...(given(meta.uid) ? { uid: meta.uid } : {}),
    },
    ...(given(o.spec) ? { spec: o.spec } : {}),
    ...(given(o.specs) ? { specs: o.specs } : {}),
  };
  const rules = parseRuleObjects(manifest);
  const host = rules.findIndex((r) => r.nodeSelector !== undefined);
  if (host >= 0) {
    const name = typeof meta.name === 'string' ? meta.name : '';
    throw new PolicyError(
      'host policies are not enforced by this agent (it has no host firewall), so the policy is not applied rather than applied as if it protected the node',
      'nodeSelector',
      `rule ${host} (${kind} ${name})`,
    );
  }
  return rules;
}
