import { describe, expect, it } from 'vitest';
import { canonicalRule } from './canonical.js';
import {
  PolicyError,
  labelsMatch,
  parseRuleObjects,
  parseRules,
  type ParseOptions,
  type Rule,
} from './rules.js';

/** The message of the PolicyError that parsing `input` throws. */
function failure(input: unknown, opts?: ParseOptions): string {
  try {
    if (typeof input === 'string') parseRules(input, opts);
    else parseRuleObjects(input, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return (e as Error).message;
  }
  throw new Error('parsed without an error');
}

const NS = 'k8s:io.kubernetes.pod.namespace';
const cnp = (spec: string, meta = 'name: allow-fe\n  namespace: prod') => `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  ${meta}
${spec}`;

describe('parseRules: input shapes', () => {
  const rule = { endpointSelector: { matchLabels: { app: 'web' } }, description: 'x' };

  it('reads a bare list, a single rule, as JSON or YAML', () => {
    const fromList = parseRules(JSON.stringify([rule, { endpointSelector: {} }]));
    expect(fromList).toHaveLength(2);
    expect(fromList[0]!.endpointSelector!.key).toBe('{"matchLabels":{"any:app":"web"}}');
    expect(fromList[1]!.endpointSelector!.wildcard).toBe(true);
    const single = parseRules(JSON.stringify(rule));
    expect(single).toHaveLength(1);
    expect(single[0]!.description).toBe('x');
    const yaml = parseRules(
      '- endpointSelector:\n    matchLabels:\n      app: web\n  description: x\n',
    );
    expect(yaml[0]!.endpointSelector!.key).toBe(single[0]!.endpointSelector!.key);
    expect(yaml[0]!.source).toEqual(rule);
    expect(parseRules('{endpointSelector: {}}')).toHaveLength(1); // YAML flow style
    expect(parseRules('')).toEqual([]);
    expect(parseRules('[]')).toEqual([]);
  });

  it('reads a CiliumNetworkPolicy with spec and with specs (spec first)', () => {
    const one = parseRules(cnp('spec:\n  endpointSelector: {}\n  description: a'));
    expect(one.map((r) => r.description)).toEqual(['a']);
    const both = parseRules(
      cnp(
        'spec: {endpointSelector: {}, description: a}\nspecs:\n- {endpointSelector: {}, description: b}\n- {endpointSelector: {}, description: c}',
      ),
    );
    expect(both.map((r) => r.description)).toEqual(['a', 'b', 'c']);
    expect(failure(cnp('status: {}'))).toBe(
      'rule 0 (CiliumNetworkPolicy prod/allow-fe): a policy needs a spec or specs',
    );
  });

  it('reads a CiliumClusterwideNetworkPolicy, with no namespace', () => {
    const [r] = parseRules(
      'apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: cw}\nspec:\n  nodeSelector: {matchLabels: {role: worker}}\n  ingress: [{fromEndpoints: [{}]}]\n',
      { namespace: 'ignored' },
    );
    expect(r!.nodeSelector!.key).toBe('{"matchLabels":{"any:role":"worker"}}');
    expect(r!.endpointSelector).toBeUndefined();
    // A clusterwide policy's peers are pods of any namespace (as Cilium's), not everything.
    expect(r!.ingress[0]!.endpoints[0]!.wildcard).toBe(false);
    expect(r!.ingress[0]!.endpoints[0]!.key).toBe(
      '{"matchExpressions":[{"key":"k8s:io.kubernetes.pod.namespace","operator":"Exists"}]}',
    );
    expect(r!.labels).toEqual([
      'k8s:io.cilium.k8s.policy.derived-from=CiliumClusterwideNetworkPolicy',
      'k8s:io.cilium.k8s.policy.name=cw',
    ]);
    expect(
      failure(
        'apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: cw, namespace: x}\nspec: {endpointSelector: {}}',
      ),
    ).toBe(
      'rule 0 (CiliumClusterwideNetworkPolicy): metadata.namespace: a CiliumClusterwideNetworkPolicy has no namespace',
    );
  });

  it('reads a List of manifests and several YAML documents, numbering rules across them', () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumNetworkPolicy',
          metadata: { name: 'a' },
          spec: { endpointSelector: {} },
        },
        {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumClusterwideNetworkPolicy',
          metadata: { name: 'b' },
          specs: [{ endpointSelector: {} }, { endpointSelector: {} }],
        },
      ],
    };
    const rules = parseRuleObjects(list);
    expect(rules).toHaveLength(3);
    expect(rules[0]!.labels).toContain('k8s:io.cilium.k8s.policy.name=a');
    expect(rules[2]!.labels).toContain('k8s:io.cilium.k8s.policy.name=b');

    const multi = `${cnp('spec: {endpointSelector: {}}')}\n---\n- endpointSelector: {}\n- endpointSelector: {}\n---\n---\nendpointSelector: {matchLabels: {x: y}}\n`;
    const docs = parseRules(multi);
    expect(docs).toHaveLength(4);
    expect(docs[3]!.endpointSelector!.key).toBe('{"matchLabels":{"any:x":"y"}}');
    const bad = multi.replace('{x: y}', '{x: 1}');
    expect(failure(bad)).toBe('rule 3: endpointSelector.matchLabels.x: must be a string, not 1');
    expect(failure({ ...list, items: [list.items[0], { kind: 'NetworkPolicy' }] })).toMatch(
      /^rule 1 \(NetworkPolicy\): items\[1\]\.kind: "NetworkPolicy" is not CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy/,
    );
  });

  it('rejects malformed manifests and text', () => {
    expect(failure('kind: Deployment\napiVersion: apps/v1')).toMatch(
      /^rule 0 \(Deployment\): kind: "Deployment" is not/,
    );
    expect(
      failure(cnp('spec: {endpointSelector: {}}').replace('cilium.io/v2', 'cilium.io/v1')),
    ).toMatch(/apiVersion: "cilium.io\/v1" is not cilium.io\/v2/);
    expect(failure(cnp('spec: {endpointSelector: {}}', 'namespace: prod'))).toMatch(
      /metadata\.name: must be a string/,
    );
    expect(failure(cnp('spec: {endpointSelector: {}}', 'name: Bad_Name'))).toMatch(
      /metadata\.name: "Bad_Name" is not a resource name/,
    );
    expect(failure(cnp('spec: {endpointSelector: {}}', 'name: a\n  color: red'))).toMatch(
      /metadata\.color: unknown field/,
    );
    expect(failure(cnp('spec: {endpointSelector: {}}\nextra: 1'))).toMatch(
      /^rule 0 \(CiliumNetworkPolicy prod\/allow-fe\): extra: unknown field/,
    );
    expect(failure('a: [')).toMatch(/^document 0: not valid JSON or YAML/);
    expect(failure('{"endpointSelector": {}}\n---\nkey: [oops')).toMatch(
      /^document 1: not valid JSON or YAML/,
    );
    expect(failure('42')).toBe('rule 0: must be an object, not 42');
    expect(
      failure(
        'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
      ),
    ).toMatch(/alias/i);
    expect(failure(' '.repeat(16 * 1024 * 1024 + 1))).toMatch(/larger than 16 MiB/);
    expect(failure([], { namespace: 'Not A Namespace' })).toMatch(
      /namespace: "Not A Namespace" is not a namespace name/,
    );
  });

  it('refuses the whole input when one rule among many is bad', () => {
    const rules: unknown[] = Array.from({ length: 50 }, () => ({ endpointSelector: {} }));
    rules[37] = { endpointSelector: {}, ingress: [{ fromEntities: ['everyone'] }] };
    expect(failure(JSON.stringify(rules))).toMatch(
      /^rule 37: ingress\[0\]\.fromEntities\[0\]: "everyone" is not an entity/,
    );
    expect(failure(Array.from({ length: 10_001 }, () => ({ endpointSelector: {} })))).toMatch(
      /more than 10000 rules/,
    );
    expect(
      parseRuleObjects(Array.from({ length: 10_000 }, () => ({ endpointSelector: {} }))),
    ).toHaveLength(10_000);
  });
});

describe('parseRules: namespaces and labels', () => {
  const spec = `spec:
  endpointSelector: {matchLabels: {app: be}}
  ingress:
  - fromEndpoints:
    - {matchLabels: {app: fe}}
    - {matchLabels: {k8s:io.kubernetes.pod.namespace: other, app: fe}}
    - {matchExpressions: [{key: io.kubernetes.pod.namespace, operator: Exists}]}
    - {matchLabels: {reserved:host: ""}}
    - {}
  egress:
  - toEndpoints: [{matchLabels: {app: db}}]`;

  it("adds the policy's namespace to its selectors unless a peer names a namespace", () => {
    const [r] = parseRules(cnp(spec));
    expect(r!.endpointSelector!.key).toBe(`{"matchLabels":{"any:app":"be","${NS}":"prod"}}`);
    expect(r!.endpointSelector!.matches(['k8s:app=be', `${NS}=prod`])).toBe(true);
    expect(r!.endpointSelector!.matches(['k8s:app=be', `${NS}=dev`])).toBe(false);
    const peers = r!.ingress[0]!.endpoints.map((s) => s.key);
    expect(peers).toEqual([
      `{"matchLabels":{"any:app":"fe","${NS}":"prod"}}`,
      `{"matchLabels":{"any:app":"fe","${NS}":"other"}}`,
      '{"matchExpressions":[{"key":"any:io.kubernetes.pod.namespace","operator":"Exists"}]}',
      '{"matchLabels":{"reserved:host":""}}',
      `{"matchLabels":{"${NS}":"prod"}}`,
    ]);
    expect(r!.egress[0]!.endpoints[0]!.key).toBe(`{"matchLabels":{"any:app":"db","${NS}":"prod"}}`);
  });

  it('takes the namespace from metadata, then the options, then default', () => {
    const ns = (text: string, opts?: ParseOptions) =>
      parseRules(text, opts)[0]!.endpointSelector!.requirements.find(
        (q) => q.key === 'io.kubernetes.pod.namespace',
      )?.values;
    expect(ns(cnp(spec))).toEqual(['prod']);
    expect(ns(cnp(spec, 'name: a'), { namespace: 'team' })).toEqual(['team']);
    expect(ns(cnp(spec, 'name: a'))).toEqual(['default']);
    expect(ns(cnp(spec), { namespace: 'team' })).toEqual(['prod']);
  });

  it('adds no namespace to bare rules', () => {
    const [r] = parseRules(
      'endpointSelector: {matchLabels: {app: be}}\ningress: [{fromEndpoints: [{}]}]',
      { namespace: 'team' },
    );
    expect(r!.endpointSelector!.key).toBe('{"matchLabels":{"any:app":"be"}}');
    expect(r!.ingress[0]!.endpoints[0]!.wildcard).toBe(true);
    expect(r!.labels).toEqual([]);
  });

  it("appends Cilium's derived labels to the rule's own, normalized", () => {
    const [r] = parseRules(
      cnp(
        'spec:\n  endpointSelector: {}\n  labels: [team=a, "k8s:tier=web", {key: env, value: prod, source: k8s}, {key: bare}]',
        'name: allow-fe\n  namespace: prod\n  uid: 1234-abcd',
      ),
    );
    expect(r!.labels).toEqual([
      'unspec:team=a',
      'k8s:tier=web',
      'k8s:env=prod',
      'unspec:bare',
      'k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy',
      'k8s:io.cilium.k8s.policy.name=allow-fe',
      'k8s:io.cilium.k8s.policy.namespace=prod',
      'k8s:io.cilium.k8s.policy.uid=1234-abcd',
    ]);
    expect(parseRules(cnp('spec: {endpointSelector: {}}'))[0]!.labels).not.toContainEqual(
      expect.stringContaining('policy.uid'),
    );
    expect(failure({ endpointSelector: {}, labels: [{ key: 'a', source: 'bad source' }] })).toMatch(
      /^rule 0: labels\[0\]\.source: "bad source" is not a label source/,
    );
    expect(failure({ endpointSelector: {}, labels: [7] })).toMatch(
      /labels\[0\]: must be an object/,
    );
    expect(failure({ endpointSelector: {}, labels: ['=x'] })).toMatch(
      /labels\[0\]: a label key must not be empty/,
    );
  });

  it('matches rules by labels, a filter label without a source matching any source', () => {
    const labels = ['k8s:io.cilium.k8s.policy.name=allow-fe', 'unspec:team=a', 'reserved:x'];
    expect(labelsMatch(labels, [])).toBe(true);
    expect(labelsMatch(labels, ['io.cilium.k8s.policy.name=allow-fe'])).toBe(true);
    expect(labelsMatch(labels, ['k8s:io.cilium.k8s.policy.name=allow-fe', 'team=a'])).toBe(true);
    expect(labelsMatch(labels, ['any:team=a', 'reserved:x'])).toBe(true);
    expect(labelsMatch(labels, ['unspec:io.cilium.k8s.policy.name=allow-fe'])).toBe(false);
    expect(labelsMatch(labels, ['team=b'])).toBe(false);
    expect(labelsMatch(labels, ['team'])).toBe(false);
    expect(labelsMatch(labels, ['team=a', 'other=1'])).toBe(false);
  });

  it('shows rules in their stored form with Label objects, and reads that output back', () => {
    const rules = parseRules(
      cnp('spec: {endpointSelector: {matchLabels: {app: be}}, labels: [team=a]}'),
    );
    const shown = rules.map(canonicalRule);
    expect(shown).toEqual([
      {
        // The namespace the manifest implied, written out.
        endpointSelector: { matchLabels: { 'any:app': 'be', [NS]: 'prod' } },
        labels: [
          { key: 'team', value: 'a', source: 'unspec' },
          { key: 'io.cilium.k8s.policy.derived-from', value: 'CiliumNetworkPolicy', source: 'k8s' },
          { key: 'io.cilium.k8s.policy.name', value: 'allow-fe', source: 'k8s' },
          { key: 'io.cilium.k8s.policy.namespace', value: 'prod', source: 'k8s' },
        ],
      },
    ]);
    const back = parseRuleObjects(shown)[0]!;
    expect(back.labels).toEqual(rules[0]!.labels);
    expect(back.endpointSelector!.key).toBe(rules[0]!.endpointSelector!.key);
  });

  it('keeps its own copy of the source', () => {
    const input = { endpointSelector: { matchLabels: { app: 'x' } } };
    const [r] = parseRuleObjects(input);
    input.endpointSelector.matchLabels.app = 'changed';
    expect(r!.source).toEqual({ endpointSelector: { matchLabels: { app: 'x' } } });
  });
});

describe('parseRules: rule fields', () => {
  it('needs exactly one of endpointSelector and nodeSelector; a CNP may not select nodes', () => {
    expect(failure({ ingress: [] })).toBe(
      'rule 0: a rule needs an endpointSelector or a nodeSelector',
    );
    expect(failure({ endpointSelector: {}, nodeSelector: {} })).toMatch(/not both/);
    expect(failure(cnp('spec: {nodeSelector: {}}'))).toBe(
      'rule 0 (CiliumNetworkPolicy prod/allow-fe): nodeSelector: a CiliumNetworkPolicy cannot select nodes: use a CiliumClusterwideNetworkPolicy',
    );
    expect(parseRuleObjects({ nodeSelector: {} })[0]!.nodeSelector!.wildcard).toBe(true);
  });

  it('defaults and validates enableDefaultDeny and description', () => {
    const get = (v: unknown): Rule =>
      parseRuleObjects({ endpointSelector: {}, ...(v as object) })[0]!;
    expect(get({}).enableDefaultDeny).toEqual({ ingress: true, egress: true });
    expect(get({ enableDefaultDeny: { egress: false } }).enableDefaultDeny).toEqual({
      ingress: true,
      egress: false,
    });
    expect(get({}).description).toBe('');
    expect(failure({ endpointSelector: {}, enableDefaultDeny: { ingress: 'no' } })).toMatch(
      /enableDefaultDeny\.ingress: must be true or false/,
    );
    expect(failure({ endpointSelector: {}, enableDefaultDeny: { both: true } })).toMatch(
      /enableDefaultDeny\.both: unknown field/,
    );
    expect(failure({ endpointSelector: {}, description: 'x'.repeat(1025) })).toMatch(
      /description: is longer than 1024/,
    );
  });
});
