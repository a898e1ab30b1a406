import { describe, expect, it } from 'vitest';
import {
  idKey,
  idOfKey,
  labelString,
  parseLabelString,
  parseValueKey,
  valueKey,
  valuePrefix,
} from './kvstore-keys.js';
import { normalizeLabels } from './labels.js';

describe("Cilium's identity key layout", () => {
  it('writes label strings as sorted source:key=value; and reads them back', () => {
    const labels = normalizeLabels(['k8s:io.kubernetes.pod.namespace=default', 'app=web']);
    const ls = labelString(labels);
    expect(ls).toBe('k8s:io.kubernetes.pod.namespace=default;unspec:app=web;');
    expect(parseLabelString(ls)).toEqual(labels);
    expect(parseLabelString('')).toEqual([]);
  });

  it('names master and slave keys under cilium/state/identities/v1/', () => {
    expect(idKey(256)).toBe('cilium/state/identities/v1/id/256');
    expect(idOfKey('cilium/state/identities/v1/id/256')).toBe(256);
    expect(idOfKey('cilium/state/identities/v1/id/0256')).toBeUndefined();
    expect(idOfKey('cilium/state/identities/v1/id/x')).toBeUndefined();
    const ls = 'k8s:app.kubernetes.io/name=web;';
    expect(valueKey(ls, 'node1')).toBe(
      'cilium/state/identities/v1/value/k8s:app.kubernetes.io/name=web;/node1',
    );
    expect(parseValueKey(valueKey(ls, 'node1'))).toEqual({ ls, node: 'node1' });
    // A label string is never a prefix of another's slave keys: ';' then '/' ends it.
    expect(valueKey('k8s:a=b;k8s:c=d;', 'n').startsWith(valuePrefix('k8s:a=b;'))).toBe(false);
  });
});
