import { describe, expect, it } from 'vitest';
import type { Namespace, Pod } from '../k8s/index.js';
import { identityRelevant, mergeLabels, podMetadata } from './k8s-labels.js';
import { securityLabels } from './model.js';

const ns = (labels: Record<string, string> = {}): Namespace => ({
  metadata: { name: 'shop', labels: { 'kubernetes.io/metadata.name': 'shop', ...labels } },
});
const pod = (over: Partial<Pod> & { labels?: Record<string, string> } = {}): Pod => ({
  metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', labels: over.labels ?? {} },
  spec: { containers: [{ name: 'c' }], serviceAccountName: 'web-sa', ...over.spec },
});

describe('Cilium default label filter', () => {
  it.each([
    ['app', true],
    ['tier', true],
    ['app.kubernetes.io/name', true],
    ['io.kubernetes.pod.namespace', true],
    ['io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name', true],
    ['io.cilium.k8s.policy.cluster', true],
    ['io.cilium.k8s.policy.serviceaccount', true],
    ['pod-template-hash', false],
    ['controller-revision-hash', false],
    ['pod-template-generation', false],
    ['io.kubernetes.container.name', false],
    ['kubernetes.io/hostname', false],
    ['statefulset.kubernetes.io/pod-name', false],
    ['apps.kubernetes.io/pod-index', false],
    ['batch.kubernetes.io/job-completion-index', false],
    ['failure-domain.beta.kubernetes.io/zone', false],
    ['k8s.io/anything', false],
    ['annotation.foo', false],
    ['etcd_node', false],
    // Rules match at the start of the key only, as Cilium's.
    ['my.kubernetes.io/thing', true],
    ['team-pod-template-hash', true],
  ])('%s → %s', (key, kept) => {
    expect(identityRelevant(key)).toBe(kept);
  });
});

describe('podMetadata', () => {
  it("gives Cilium's label set: filtered pod labels, namespace, its labels, service account, cluster", () => {
    const meta = podMetadata(
      pod({
        labels: { app: 'web', 'pod-template-hash': 'abc', 'app.kubernetes.io/part-of': 'shop' },
      }),
      ns({ team: 'a' }),
      'c1',
    );
    expect(meta).toEqual({
      labels: [
        'k8s:app.kubernetes.io/part-of=shop',
        'k8s:app=web',
        'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop',
        'k8s:io.cilium.k8s.namespace.labels.team=a',
        'k8s:io.cilium.k8s.policy.cluster=c1',
        'k8s:io.cilium.k8s.policy.serviceaccount=web-sa',
        'k8s:io.kubernetes.pod.namespace=shop',
      ],
      namedPorts: [],
      uid: 'u-1',
    });
  });

  it("drops a pod's own io.cilium.k8s labels (a pod cannot claim another namespace or account)", () => {
    const meta = podMetadata(
      pod({
        labels: {
          'io.cilium.k8s.policy.serviceaccount': 'admin',
          'io.cilium.k8s.namespace.labels.team': 'root',
          'io.kubernetes.pod.namespace': 'kube-system',
        },
        spec: { containers: [], serviceAccountName: '' },
      }),
      ns(),
      'default',
    );
    if ('error' in meta) throw new Error(meta.error);
    expect(meta.labels).toEqual([
      'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop',
      'k8s:io.cilium.k8s.policy.cluster=default',
      'k8s:io.kubernetes.pod.namespace=shop',
    ]);
  });

  it('takes named container ports, sorted; unnamed ones are not named ports', () => {
    const meta = podMetadata(
      pod({
        spec: {
          containers: [
            {
              name: 'a',
              ports: [
                { name: 'http', containerPort: 8080 },
                { containerPort: 9999 },
                { name: 'dns', containerPort: 53, protocol: 'UDP' },
              ],
            },
          ],
        },
      }),
      ns(),
      'default',
    );
    if ('error' in meta) throw new Error(meta.error);
    expect(meta.namedPorts).toEqual([
      { name: 'dns', port: 53, protocol: 'UDP' },
      { name: 'http', port: 8080, protocol: 'TCP' },
    ]);
  });

  it.each([
    ['a label value that is not a string', { labels: { app: 5 } }, 'not a string'],
    ['an invalid label key', { labels: { 'bad key!': 'x' } }, 'label key "bad key!" is invalid'],
    ['an overlong value', { labels: { app: 'x'.repeat(64) } }, "label app's value"],
    ['a value with a comma', { labels: { app: 'a,b' } }, "label app's value"],
    [
      'a port out of range',
      { spec: { containers: [{ name: 'c', ports: [{ name: 'p', containerPort: 70000 }] }] } },
      'out of range',
    ],
    [
      'a bad protocol',
      {
        spec: {
          containers: [{ name: 'c', ports: [{ name: 'p', containerPort: 1, protocol: 'ICMP' }] }],
        },
      },
      'protocol "ICMP"',
    ],
    ['containers that are not a list', { spec: { containers: 'x' } }, 'not a list'],
    [
      'more labels than an endpoint keeps',
      { labels: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`l${i}`, 'v'])) },
      '10004 identity labels (pod and namespace labels), more than 1024',
    ],
  ])('refuses %s, naming it', (_what, over, msg) => {
    const meta = podMetadata(pod(over as unknown as Partial<Pod>), ns(), 'default');
    expect(meta).toHaveProperty('error');
    expect((meta as { error: string }).error).toContain(msg);
  });
});

describe('mergeLabels / securityLabels', () => {
  it("merges the request's labels with the pod's by key, the pod's winning", () => {
    expect(
      mergeLabels(['k8s:app=old', 'k8s:extra=1', 'k8s:pod-template-hash=x'], ['k8s:app=web']),
    ).toEqual(['k8s:app=web', 'k8s:extra=1']);
  });

  it('gives the init identity alone while the pod is not known', () => {
    const ep = {
      labels: ['k8s:extra=1'],
      userLabels: ['x=y'],
      k8sNamespace: 'shop',
      k8sLabels: ['reserved:init'],
    };
    expect(securityLabels(ep)).toEqual(['reserved:init']);
    expect(securityLabels({ ...ep, k8sLabels: ['k8s:app=web'] })).toEqual([
      'k8s:app=web',
      'k8s:extra=1',
      'k8s:io.kubernetes.pod.namespace=shop',
      'x=y',
    ]);
  });
});
