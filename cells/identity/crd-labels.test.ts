import { describe, expect, it } from 'vitest';
import {
  canonicalLabels,
  identityObject,
  k8sLabels,
  labelsOf,
  parseIdentityObject,
  securityLabels,
} from './crd-labels.js';

const range = { min: 256, max: 65535 };

describe('CiliumIdentity labels', () => {
  it('maps labels to security-labels (source:key → value) and back', () => {
    const labels = ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=default', 'reserved:host'];
    const sl = securityLabels(labels);
    expect(sl).toEqual({
      'k8s:app': 'web',
      'k8s:io.kubernetes.pod.namespace': 'default',
      'reserved:host': '',
    });
    expect(labelsOf(sl)).toEqual(labels);
    // A value holding '=' stays whole; an empty value is written without '='.
    expect(securityLabels(['k8s:cfg=a=b'])).toEqual({ 'k8s:cfg': 'a=b' });
    expect(canonicalLabels(['k8s:flag='])).toEqual(['k8s:flag']);
  });

  it("puts only valid k8s: labels in metadata.labels, without the source, as Cilium's sanitizer", () => {
    expect(
      k8sLabels({
        'k8s:app': 'web',
        'k8s:io.kubernetes.pod.namespace': 'default',
        'k8s:io.cilium.k8s.namespace.labels.team': 'a',
        'container:name': 'x',
        'k8s:bad': 'has space',
        'k8s:long': 'x'.repeat(64),
      }),
    ).toEqual({ app: 'web', 'io.kubernetes.pod.namespace': 'default' });
    const o = identityObject(300, ['k8s:app=web', 'unspec:x=y']);
    expect(o).toEqual({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumIdentity',
      metadata: { name: '300', labels: { app: 'web' } },
      'security-labels': { 'k8s:app': 'web', 'unspec:x': 'y' },
    });
  });

  it('reads a valid object and refuses hostile ones with the reason', () => {
    expect(parseIdentityObject(identityObject(300, ['k8s:app=web']), range)).toEqual({
      id: 300,
      labels: ['k8s:app=web'],
    });
    const bad: [unknown, RegExp][] = [
      [null, /not an object/],
      [
        { metadata: { name: 'abc' }, 'security-labels': { 'k8s:a': 'b' } },
        /not an identity number/,
      ],
      [{ metadata: { name: '0300' }, 'security-labels': { 'k8s:a': 'b' } }, /not an identity/],
      [{ metadata: { name: '5' }, 'security-labels': { 'k8s:a': 'b' } }, /outside the range/],
      [{ metadata: { name: '70000' }, 'security-labels': { 'k8s:a': 'b' } }, /outside/],
      [{ metadata: { name: '300' } }, /not a map/],
      [{ metadata: { name: '300' }, 'security-labels': ['k8s:a'] }, /not a map/],
      [{ metadata: { name: '300' }, 'security-labels': {} }, /empty/],
      [{ metadata: { name: '300' }, 'security-labels': { 'k8s:a': 1 } }, /not a string/],
      [{ metadata: { name: '300' }, 'security-labels': { app: 'x' } }, /not source:key/],
      [{ metadata: { name: '300' }, 'security-labels': { 'k8s:a=b': 'x' } }, /not source:key/],
      [
        { metadata: { name: '300' }, 'security-labels': { 'reserved:host': '', 'k8s:a': 'b' } },
        /"reserved:host" is a reserved label/,
      ],
    ];
    for (const [obj, why] of bad) expect(parseIdentityObject(obj, range)).toMatch(why);
  });
});
