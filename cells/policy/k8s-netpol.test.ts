// NetworkPolicy → Cilium rules: each case compared with the rule Cilium's ParseNetworkPolicy
// makes for it (pkg/k8s/network_policy.go and its tests), in the stored (canonical) form; and
// the translated rules' verdicts checked against label sets, so a wrong selector cannot pass.
import { describe, expect, it } from 'vitest';
import { canonicalRule } from './canonical.js';
import { networkPolicyRuleJson, networkPolicyRules } from './k8s-netpol.js';
import { PolicyError, parseRuleObjects, type Rule } from './rules.js';

const NS = 'k8s:io.kubernetes.pod.namespace';
const labels = (uid = 'uid-1', ns = 'prod', name = 'np') => [
  { key: 'io.cilium.k8s.policy.derived-from', value: 'NetworkPolicy', source: 'k8s' },
  { key: 'io.cilium.k8s.policy.name', value: name, source: 'k8s' },
  { key: 'io.cilium.k8s.policy.namespace', value: ns, source: 'k8s' },
  { key: 'io.cilium.k8s.policy.uid', value: uid, source: 'k8s' },
];

function np(spec: Record<string, unknown>, meta: Record<string, unknown> = {}) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'np', namespace: 'prod', uid: 'uid-1', resourceVersion: '7', ...meta },
    spec,
  };
}

/** The one rule, stored form. */
function translate(obj: unknown): Record<string, unknown> {
  const t = networkPolicyRules(obj);
  expect(t.rules).toHaveLength(1);
  return canonicalRule(t.rules[0]!);
}

/** The same rule written by hand in Cilium's language (what Cilium's translation gives). */
function cilium(rule: Record<string, unknown>): Record<string, unknown> {
  const [r] = parseRuleObjects({ ...rule, labels: labels().map((l) => `k8s:${l.key}=${l.value}`) });
  return canonicalRule(r!);
}

function failure(obj: unknown): string {
  try {
    networkPolicyRules(obj);
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return (e as Error).message;
  }
  throw new Error('translated without an error');
}

const web = { podSelector: { matchLabels: { app: 'web' } } };
const podLabels = (ns: string, extra: string[] = [], nsLabels: string[] = []) => [
  `${NS}=${ns}`,
  ...extra.map((l) => `k8s:${l}`),
  ...nsLabels.map((l) => `k8s:io.cilium.k8s.namespace.labels.${l}`),
];
/** Whether a rule's first ingress element's endpoint selector selects `lbls`. */
const fromSelects = (r: Rule, i: number, lbls: string[]) =>
  r.ingress[i]!.endpoints.some((s) => s.matches(lbls));

describe('NetworkPolicy → Cilium rule', () => {
  it('selects the podSelector in the policy namespace, with Cilium labels', () => {
    const got = translate(
      np({ podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [web] }] }),
    );
    expect(got).toEqual({
      endpointSelector: { matchLabels: { 'k8s:app': 'db', [NS]: 'prod' } },
      ingress: [{ fromEndpoints: [{ matchLabels: { 'k8s:app': 'web', [NS]: 'prod' } }] }],
      labels: labels(),
    });
    expect(got).toEqual(
      cilium({
        endpointSelector: { matchLabels: { 'k8s:app': 'db', [NS]: 'prod' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { 'k8s:app': 'web', [NS]: 'prod' } }] }],
      }),
    );
    const [r] = networkPolicyRules(np({ podSelector: {}, ingress: [{ from: [web] }] })).rules;
    // An empty podSelector: every pod of the namespace, and only of it.
    expect(r!.endpointSelector!.matches(podLabels('prod', ['app=x']))).toBe(true);
    expect(r!.endpointSelector!.matches(podLabels('other', ['app=x']))).toBe(false);
    // The peer podSelector alone: pods of the policy's namespace only.
    expect(fromSelects(r!, 0, podLabels('prod', ['app=web']))).toBe(true);
    expect(fromSelects(r!, 0, podLabels('dev', ['app=web']))).toBe(false);
    expect(fromSelects(r!, 0, ['reserved:world'])).toBe(false);
  });

  it('keeps matchExpressions (In, NotIn, Exists, DoesNotExist) under the k8s source', () => {
    const sel = {
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['a', 'b'] },
        { key: 'env', operator: 'NotIn', values: ['dev'] },
        { key: 'team', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    };
    const [r] = networkPolicyRules(
      np({ podSelector: sel, ingress: [{ from: [{ podSelector: sel }] }] }),
    ).rules;
    const good = podLabels('prod', ['tier=b', 'env=prod', 'team=x']);
    expect(r!.endpointSelector!.matches(good)).toBe(true);
    expect(fromSelects(r!, 0, good)).toBe(true);
    for (const bad of [
      podLabels('prod', ['tier=c', 'env=prod', 'team=x']),
      podLabels('prod', ['tier=b', 'env=dev', 'team=x']),
      podLabels('prod', ['tier=b', 'env=prod']),
      podLabels('prod', ['tier=b', 'env=prod', 'team=x', 'legacy=1']),
      // The same labels from another source are not Kubernetes labels.
      [`${NS}=prod`, 'container:tier=b', 'container:env=prod', 'container:team=x'],
    ]) {
      expect(r!.endpointSelector!.matches(bad)).toBe(false);
      expect(fromSelects(r!, 0, bad)).toBe(false);
    }
  });

  it('reads namespaceSelector as namespace labels; empty: every namespace; with podSelector: both', () => {
    const got = translate(
      np({
        podSelector: {},
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { team: 'x' } } },
              { namespaceSelector: {} },
              {
                namespaceSelector: {
                  matchExpressions: [{ key: 'env', operator: 'In', values: ['a'] }],
                },
                ...web,
              },
            ],
          },
        ],
      }),
    );
    const nsl = 'k8s:io.cilium.k8s.namespace.labels';
    expect(got.ingress).toEqual([
      { fromEndpoints: [{ matchLabels: { [`${nsl}.team`]: 'x' } }] },
      { fromEndpoints: [{ matchExpressions: [{ key: NS, operator: 'Exists' }] }] },
      { fromEndpoints: [{ matchLabels: { 'k8s:app': 'web', [`${nsl}.env`]: 'a' } }] },
    ]);
    const [r] = networkPolicyRules(
      np({
        podSelector: {},
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { team: 'x' } }, ...web },
              { namespaceSelector: {} },
            ],
          },
        ],
      }),
    ).rules;
    // Pods matching in matching namespaces, whatever the policy's namespace.
    expect(fromSelects(r!, 0, podLabels('dev', ['app=web'], ['team=x']))).toBe(true);
    expect(fromSelects(r!, 0, podLabels('dev', ['app=db'], ['team=x']))).toBe(false);
    expect(fromSelects(r!, 0, podLabels('prod', ['app=web'], ['team=y']))).toBe(false);
    // A pod's own label named like a namespace label does not count as one.
    expect(fromSelects(r!, 0, podLabels('dev', ['app=web', 'team=x']))).toBe(false);
    // Every pod of every namespace, but not what is outside the cluster or the host.
    expect(fromSelects(r!, 1, podLabels('kube-system'))).toBe(true);
    expect(fromSelects(r!, 1, ['reserved:world'])).toBe(false);
    expect(fromSelects(r!, 1, ['reserved:host'])).toBe(false);
  });

  it('turns ipBlock into fromCIDRSet / toCIDRSet with except', () => {
    const block = { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.0.0/16'] } };
    const got = translate(
      np({
        podSelector: {},
        ingress: [{ from: [block] }],
        egress: [{ to: [{ ipBlock: { cidr: 'fd00::/64' } }] }],
      }),
    );
    expect(got.ingress).toEqual([
      { fromCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.0.0/16'] }] },
    ]);
    expect(got.egress).toEqual([{ toCIDRSet: [{ cidr: 'fd00::/64' }] }]);
  });

  it('allows every source when from (or to) is missing or empty, as Cilium: a wildcard selector', () => {
    const got = translate(
      np({
        podSelector: {},
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{}],
        egress: [{ to: [], ports: [{ port: 53, protocol: 'UDP' }] }],
      }),
    );
    expect(got.ingress).toEqual([{ fromEndpoints: [{}] }]);
    expect(got.egress).toEqual([
      { toEndpoints: [{}], toPorts: [{ ports: [{ port: '53', protocol: 'UDP' }] }] },
    ]);
    const [r] = networkPolicyRules(np({ podSelector: {}, ingress: [{}] })).rules;
    // The wildcard: every identity, the world and the host too.
    expect(r!.ingress[0]!.endpoints[0]!.wildcard).toBe(true);
  });

  it('applies the ports to every peer: number, TCP by default, UDP, SCTP, endPort, no port', () => {
    const got = translate(
      np({
        podSelector: {},
        ingress: [
          {
            from: [web, { ipBlock: { cidr: '192.168.0.0/16' } }],
            ports: [
              { port: 80 },
              { protocol: 'UDP', port: 53 },
              { protocol: 'SCTP', port: 9000, endPort: 9010 },
              { protocol: 'TCP', port: 32000, endPort: 32768 },
              { protocol: 'UDP' },
            ],
          },
        ],
      }),
    );
    const toPorts = [
      {
        ports: [
          { port: '80', protocol: 'TCP' },
          { port: '53', protocol: 'UDP' },
          { port: '9000', endPort: 9010, protocol: 'SCTP' },
          { port: '32000', endPort: 32768, protocol: 'TCP' },
          { port: '0', protocol: 'UDP' },
        ],
      },
    ];
    expect(got.ingress).toEqual([
      { fromEndpoints: [{ matchLabels: { 'k8s:app': 'web', [NS]: 'prod' } }], toPorts },
      { fromCIDRSet: [{ cidr: '192.168.0.0/16' }], toPorts },
    ]);
    // Ports alone (no from): every source on these ports.
    const only = translate(np({ podSelector: {}, ingress: [{ ports: [{ port: 443 }] }] }));
    expect(only.ingress).toEqual([
      { fromEndpoints: [{}], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] },
    ]);
  });

  it('leaves named ports out, closed: a peer with only named ports allows nothing', () => {
    const t = networkPolicyRules(
      np({
        podSelector: {},
        ingress: [
          { from: [web], ports: [{ port: 'http' }, { port: 8080 }] },
          { from: [web], ports: [{ port: 'metrics' }] },
        ],
      }),
    );
    expect(canonicalRule(t.rules[0]!).ingress).toEqual([
      {
        fromEndpoints: [{ matchLabels: { 'k8s:app': 'web', [NS]: 'prod' } }],
        toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }],
      },
    ]);
    expect(t.warnings).toEqual([
      'spec.ingress[0].ports[0].port: named port "http" is not resolved by this agent: left out (that traffic stays denied)',
      'spec.ingress[1].ports[0].port: named port "metrics" is not resolved by this agent: left out (that traffic stays denied)',
    ]);
    // Every element gone: the pods stay isolated (default deny), never opened.
    const all = translate(np({ podSelector: {}, ingress: [{ ports: [{ port: 'http' }] }] }));
    expect(all.ingress).toEqual([{}]);
  });

  it('isolates by policyTypes as Kubernetes and Cilium do (default deny: an empty element)', () => {
    // No policyTypes, no rules: ingress isolation only (Cilium's k8s 1.7 default).
    expect(translate(np({ podSelector: {} }))).toEqual({
      endpointSelector: { matchLabels: { [NS]: 'prod' } },
      ingress: [{}],
      labels: labels(),
    });
    expect(translate(np({ podSelector: {}, policyTypes: ['Ingress'] })).ingress).toEqual([{}]);
    const egressOnly = translate(np({ podSelector: {}, policyTypes: ['Egress'] }));
    expect(egressOnly.ingress).toBeUndefined();
    expect(egressOnly.egress).toEqual([{}]);
    const both = translate(np({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
    expect([both.ingress, both.egress]).toEqual([[{}], [{}]]);
    // No policyTypes with egress rules: both directions (Kubernetes' default).
    const implied = translate(np({ podSelector: {}, egress: [{ to: [web] }] }));
    expect(implied.ingress).toEqual([{}]);
    expect(implied.egress).toEqual([
      { toEndpoints: [{ matchLabels: { 'k8s:app': 'web', [NS]: 'prod' } }] },
    ]);
    // Ingress rules in an Egress-only policy do not apply (Kubernetes' policyTypes semantics).
    const ignored = translate(
      np({ podSelector: {}, policyTypes: ['Egress'], ingress: [{ from: [web] }] }),
    );
    expect(ignored.ingress).toBeUndefined();
  });

  it('takes the default namespace when none is given, and the uid only when there is one', () => {
    const got = translate(np({ podSelector: {} }, { namespace: undefined, uid: undefined }));
    expect(got.endpointSelector).toEqual({ matchLabels: { [NS]: 'default' } });
    expect(got.labels).toEqual(labels('', 'default').slice(0, 3));
  });

  it("reads client-node's `_from` (its typed objects' name for `from`) as `from`", () => {
    const wire = translate(np({ podSelector: {}, ingress: [{ from: [web] }] }));
    expect(translate(np({ podSelector: {}, ingress: [{ _from: [web] }] }))).toEqual(wire);
  });

  it('reads its output back as the same rule (the stored form loads again)', () => {
    const { rule } = networkPolicyRuleJson(
      np({
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [{ from: [web, { namespaceSelector: {} }] }],
      }),
    );
    const [once] = parseRuleObjects(rule);
    const [twice] = parseRuleObjects(canonicalRule(once!));
    expect(canonicalRule(twice!)).toEqual(canonicalRule(once!));
  });
});

describe('NetworkPolicy: hostile input refused with the field named', () => {
  it.each([
    [null, 'NetworkPolicy: must be an object, not null'],
    [
      { metadata: { name: 'x' } },
      'NetworkPolicy default/x: spec: must be an object, not undefined',
    ],
    [np({}), 'NetworkPolicy prod/np: spec.podSelector: is required'],
    [np({ podSelector: [] }), 'NetworkPolicy prod/np: spec.podSelector: must be an object, not []'],
    [
      np({ podSelector: {} }, { name: 'Bad Name' }),
      'NetworkPolicy prod/Bad Name: metadata.name: "Bad Name" is not a resource name',
    ],
    [
      np({ podSelector: {} }, { namespace: 'a/b' }),
      'NetworkPolicy a/b/np: metadata.namespace: "a/b" is not a namespace name',
    ],
    [
      np({ podSelector: {} }, { uid: 'x=y' }),
      'NetworkPolicy prod/np: metadata.uid: "x=y" is not a uid',
    ],
    [
      np({ podSelector: {}, policyTypes: ['Both'] }),
      'NetworkPolicy prod/np: spec.policyTypes[0]: "Both" is not Ingress or Egress',
    ],
    [
      np({ podSelector: {}, ingress: [{ from: [{}] }] }),
      'NetworkPolicy prod/np: spec.ingress[0].from[0]: a peer needs a podSelector, a namespaceSelector or an ipBlock',
    ],
    [
      np({ podSelector: {}, ingress: [{ from: [{ pods: {} }] }] }),
      'NetworkPolicy prod/np: spec.ingress[0].from[0].pods: unknown field (expected podSelector, namespaceSelector, ipBlock)',
    ],
    [
      np({ podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP', port: 1 }] }] }),
      'NetworkPolicy prod/np: spec.ingress[0].ports[0].protocol: "ICMP" is not a protocol (TCP, UDP, SCTP)',
    ],
    [
      np({ podSelector: {}, ingress: [{ ports: [{ port: 'no_such!' }] }] }),
      'NetworkPolicy prod/np: spec.ingress[0].ports[0].port: "no_such!" is not a port or a port name',
    ],
    [
      np({ podSelector: {}, ingress: [{ ports: [{ port: 70000 }] }] }),
      'NetworkPolicy prod/np: ingress[0].toPorts[0].ports[0].port: "70000" is not a port (0-65535)',
    ],
    [
      np({ podSelector: {}, ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }),
      'NetworkPolicy prod/np: ingress[0].toPorts[0].ports[0].endPort: 80 is below port 90',
    ],
    [
      np({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] }),
      'NetworkPolicy prod/np: ingress[0].fromCIDRSet[0].cidr: "10.0.0.0/33" is not a CIDR or an IP address',
    ],
    [
      np({
        podSelector: {},
        ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] } }] }],
      }),
      'NetworkPolicy prod/np: ingress[0].fromCIDRSet[0].except[0]: "11.0.0.0/16" is not strictly inside cidr 10.0.0.0/8',
    ],
    [
      np({ podSelector: { matchLabels: { app: 5 } } }),
      'NetworkPolicy prod/np: endpointSelector.matchExpressions[0].values[0]: must be a string, not 5',
    ],
    [
      np({ podSelector: { matchExpressions: [{ key: 'a', operator: 'Near' }] } }),
      'NetworkPolicy prod/np: endpointSelector.matchExpressions[0].operator: "Near" is not an operator (In, NotIn, Exists, DoesNotExist)',
    ],
    [
      np({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }),
      'NetworkPolicy prod/np: endpointSelector.matchExpressions[0].values: In needs at least one value',
    ],
  ])('%#: %j', (obj, message) => {
    expect(failure(obj)).toBe(message);
  });
});
