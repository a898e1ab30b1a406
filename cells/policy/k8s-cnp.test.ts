// CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy objects as the API server sends them
// (with its own metadata and a status) → rules: namespace confinement, spec and specs, derived
// labels, and refusals naming the policy.
import { describe, expect, it } from 'vitest';
import { canonicalRule } from './canonical.js';
import { ciliumPolicyRules } from './k8s-cnp.js';
import { PolicyError } from './rules.js';

const NS = 'k8s:io.kubernetes.pod.namespace';

function obj(kind: string, spec: unknown, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'cilium.io/v2',
    kind,
    metadata: {
      name: 'p',
      ...(kind === 'CiliumNetworkPolicy' ? { namespace: 'prod' } : {}),
      uid: 'u-9',
      resourceVersion: '12',
      generation: 3,
      managedFields: [{ manager: 'kubectl' }],
      annotations: { a: 'b' },
    },
    status: { derivativePolicies: {} },
    ...spec!,
    ...extra,
  };
}

function failure(o: unknown, kind: 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy') {
  try {
    ciliumPolicyRules(o, kind);
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return (e as Error).message;
  }
  throw new Error('parsed without an error');
}

describe('CiliumNetworkPolicy objects', () => {
  it('confines selectors to the namespace unless they name one; spec then specs; derived labels', () => {
    const rules = ciliumPolicyRules(
      obj('CiliumNetworkPolicy', {
        spec: {
          endpointSelector: { matchLabels: { app: 'db' } },
          ingress: [
            { fromEndpoints: [{ matchLabels: { app: 'web' } }] },
            { fromEndpoints: [{ matchLabels: { app: 'mon', [NS]: 'monitoring' } }] },
            { fromEndpoints: [{ matchLabels: { 'reserved:host': '' } }] },
          ],
        },
        specs: [{ endpointSelector: {}, egress: [{ toEntities: ['world'] }] }],
      }),
      'CiliumNetworkPolicy',
    ).map(canonicalRule);
    const derived = [
      { key: 'io.cilium.k8s.policy.derived-from', value: 'CiliumNetworkPolicy', source: 'k8s' },
      { key: 'io.cilium.k8s.policy.name', value: 'p', source: 'k8s' },
      { key: 'io.cilium.k8s.policy.namespace', value: 'prod', source: 'k8s' },
      { key: 'io.cilium.k8s.policy.uid', value: 'u-9', source: 'k8s' },
    ];
    expect(rules).toEqual([
      {
        endpointSelector: { matchLabels: { 'any:app': 'db', [NS]: 'prod' } },
        ingress: [
          { fromEndpoints: [{ matchLabels: { 'any:app': 'web', [NS]: 'prod' } }] },
          { fromEndpoints: [{ matchLabels: { 'any:app': 'mon', [NS]: 'monitoring' } }] },
          { fromEndpoints: [{ matchLabels: { 'reserved:host': '' } }] },
        ],
        labels: derived,
      },
      {
        endpointSelector: { matchLabels: { [NS]: 'prod' } },
        egress: [{ toEntities: ['world'] }],
        labels: derived,
      },
    ]);
  });

  it('a clusterwide policy: no namespace on its subject, any pod as peer, its own derived-from', () => {
    const [r] = ciliumPolicyRules(
      obj('CiliumClusterwideNetworkPolicy', {
        spec: {
          endpointSelector: {},
          ingress: [{ fromEndpoints: [{ matchLabels: { app: 'web' } }] }],
        },
      }),
      'CiliumClusterwideNetworkPolicy',
    ).map(canonicalRule);
    expect(r).toEqual({
      endpointSelector: {},
      ingress: [
        {
          fromEndpoints: [
            {
              matchLabels: { 'any:app': 'web' },
              matchExpressions: [{ key: NS, operator: 'Exists' }],
            },
          ],
        },
      ],
      labels: [
        {
          key: 'io.cilium.k8s.policy.derived-from',
          value: 'CiliumClusterwideNetworkPolicy',
          source: 'k8s',
        },
        { key: 'io.cilium.k8s.policy.name', value: 'p', source: 'k8s' },
        { key: 'io.cilium.k8s.policy.uid', value: 'u-9', source: 'k8s' },
      ],
    });
  });

  it('refuses invalid policies naming the policy, the rule and the field', () => {
    expect(
      failure(
        obj('CiliumNetworkPolicy', {
          spec: { endpointSelector: {}, ingress: [{ fromEndpoints: [{ matchLabels: { a: 1 } }] }] },
        }),
        'CiliumNetworkPolicy',
      ),
    ).toBe(
      'rule 0 (CiliumNetworkPolicy prod/p): ingress[0].fromEndpoints[0].matchLabels.a: must be a string, not 1',
    );
    expect(failure(obj('CiliumNetworkPolicy', {}), 'CiliumNetworkPolicy')).toBe(
      'rule 0 (CiliumNetworkPolicy prod/p): a policy needs a spec or specs',
    );
    expect(
      failure(
        obj('CiliumNetworkPolicy', {
          spec: { endpointSelector: {}, egress: [{ toFQDNs: [{ matchName: 'x.io' }] }] },
        }),
        'CiliumNetworkPolicy',
      ),
    ).toBe(
      'rule 0 (CiliumNetworkPolicy prod/p): egress[0].toFQDNs: toFQDNs needs a DNS proxy, which this agent does not have',
    );
    expect(
      failure(
        obj('CiliumClusterwideNetworkPolicy', {
          specs: [{ endpointSelector: {} }, { nodeSelector: {}, ingress: [{}] }],
        }),
        'CiliumClusterwideNetworkPolicy',
      ),
    ).toMatch(
      /^rule 1 \(CiliumClusterwideNetworkPolicy p\): nodeSelector: host policies are not enforced/,
    );
    expect(failure({ metadata: { name: 5 } }, 'CiliumNetworkPolicy')).toBe(
      'rule 0 (CiliumNetworkPolicy): metadata.name: must be a string, not 5',
    );
    expect(failure('x', 'CiliumNetworkPolicy')).toBe('must be an object, not "x"');
  });
});
