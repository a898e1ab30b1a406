import { describe, expect, it } from 'vitest';
import { PolicyError } from './policy-error.js';
import { compileSelector, labelIndex, parseLabel, type LabelSelector } from './selector.js';

const sel = (s: unknown) => compileSelector(s as LabelSelector);

describe('parseLabel', () => {
  it('splits source, key and value at the first ":" and "="', () => {
    expect(parseLabel('k8s:app=frontend')).toEqual({
      source: 'k8s',
      key: 'app',
      value: 'frontend',
    });
    expect(parseLabel('k8s:io.kubernetes.pod.namespace=default')).toEqual({
      source: 'k8s',
      key: 'io.kubernetes.pod.namespace',
      value: 'default',
    });
    expect(parseLabel('reserved:host')).toEqual({ source: 'reserved', key: 'host', value: '' });
    expect(parseLabel('cidr:10.0.0.0/8')).toEqual({ source: 'cidr', key: '10.0.0.0/8', value: '' });
    expect(parseLabel('cidr:f00d::/64').key).toBe('f00d::/64');
    expect(parseLabel('k8s:a=b=c')).toEqual({ source: 'k8s', key: 'a', value: 'b=c' });
  });

  it('gives a label without a source the default source', () => {
    expect(parseLabel('app=web')).toEqual({ source: 'unspec', key: 'app', value: 'web' });
    // The ":" after "=" is in the value, not a source separator.
    expect(parseLabel('app=a:b')).toEqual({ source: 'unspec', key: 'app', value: 'a:b' });
    expect(parseLabel('app=web', 'any').source).toBe('any');
  });
});

describe('compileSelector: matching', () => {
  it('matches a key without a source against labels of every source', () => {
    const s = sel({ matchLabels: { app: 'web' } });
    expect(s.matches(['k8s:app=web'])).toBe(true);
    expect(s.matches(['container:app=web'])).toBe(true);
    expect(s.matches(['unspec:app=web'])).toBe(true);
    expect(s.matches(['k8s:app=db'])).toBe(false);
    expect(s.matches(['k8s:application=web'])).toBe(false);
    expect(s.matches([])).toBe(false);
  });

  it('matches a key with a source only against that source', () => {
    const s = sel({ matchLabels: { 'k8s:app': 'web' } });
    expect(s.matches(['k8s:app=web'])).toBe(true);
    expect(s.matches(['container:app=web'])).toBe(false);
    expect(s.matches(['unspec:app=web'])).toBe(false);
    expect(sel({ matchLabels: { 'any:app': 'web' } }).matches(['container:app=web'])).toBe(true);
  });

  it('matches reserved labels (no value) by source', () => {
    const host = sel({ matchLabels: { 'reserved:host': '' } });
    expect(host.matches(['reserved:host'])).toBe(true);
    expect(host.matches(['k8s:host'])).toBe(false);
    expect(host.matches(['reserved:world'])).toBe(false);
    expect(sel({ matchLabels: { host: '' } }).matches(['k8s:host'])).toBe(true);
  });

  it('In: some label of the key has one of the values', () => {
    const s = sel({ matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'b'] }] });
    expect(s.matches(['k8s:app=a'])).toBe(true);
    expect(s.matches(['k8s:app=b', 'k8s:x=y'])).toBe(true);
    expect(s.matches(['k8s:app=c'])).toBe(false);
    expect(s.matches(['k8s:x=a'])).toBe(false);
  });

  it('NotIn: no label of the key has one of the values; an identity without the key matches', () => {
    const s = sel({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['a', 'b'] }] });
    expect(s.matches(['k8s:app=c'])).toBe(true);
    expect(s.matches(['k8s:other=a'])).toBe(true);
    expect(s.matches(['reserved:host'])).toBe(true);
    expect(s.matches(['k8s:app=a'])).toBe(false);
    // Any source: a second label of the key with a listed value excludes the identity.
    expect(s.matches(['k8s:app=c', 'container:app=b'])).toBe(false);
    const k8s = sel({ matchExpressions: [{ key: 'k8s:app', operator: 'NotIn', values: ['b'] }] });
    expect(k8s.matches(['k8s:app=c', 'container:app=b'])).toBe(true);
  });

  it('Exists and DoesNotExist look at the key only', () => {
    const exists = sel({ matchExpressions: [{ key: 'k8s:app', operator: 'Exists' }] });
    expect(exists.matches(['k8s:app=x'])).toBe(true);
    expect(exists.matches(['k8s:app'])).toBe(true);
    expect(exists.matches(['container:app=x'])).toBe(false);
    expect(exists.matches([])).toBe(false);
    const absent = sel({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] });
    expect(absent.matches(['k8s:other=x'])).toBe(true);
    expect(absent.matches([])).toBe(true);
    expect(absent.matches(['container:app=x'])).toBe(false);
  });

  it('ANDs every requirement, extra ones included', () => {
    const s = compileSelector(
      {
        matchLabels: { app: 'web' },
        matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }],
      },
      [{ source: 'k8s', key: 'io.kubernetes.pod.namespace', op: 'In', values: ['prod'] }],
    );
    const ns = 'k8s:io.kubernetes.pod.namespace=prod';
    expect(s.matches(['k8s:app=web', ns])).toBe(true);
    expect(s.matches(['k8s:app=web', 'k8s:tier=front', ns])).toBe(true);
    expect(s.matches(['k8s:app=web', 'k8s:tier=db', ns])).toBe(false);
    expect(s.matches(['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=dev'])).toBe(false);
    expect(s.matches(['k8s:app=web'])).toBe(false);
  });

  it('compiles {} to a wildcard that selects every identity', () => {
    const s = sel({});
    expect(s.wildcard).toBe(true);
    expect(s.requirements).toEqual([]);
    expect(s.key).toBe('{}');
    expect(s.matches([])).toBe(true);
    expect(s.matches(['reserved:world'])).toBe(true);
    expect(sel({ matchLabels: {} }).wildcard).toBe(true);
    expect(sel({ matchLabels: { a: 'b' } }).wildcard).toBe(false);
  });

  it('matches a label index like the array, and parses each array once', () => {
    const labels = ['k8s:app=web', 'k8s:tier=front'];
    const idx = labelIndex(labels);
    expect(labelIndex(labels)).toBe(idx);
    expect(idx.get('k8s:app')).toEqual(['web']);
    expect(idx.get('any:tier')).toEqual(['front']);
    const s = sel({ matchLabels: { 'k8s:app': 'web' } });
    expect(s.matches(idx)).toBe(true);
    expect(sel({ matchLabels: { app: 'db' } }).matches(idx)).toBe(false);
  });
});

describe('compileSelector: canonical keys', () => {
  it("writes Cilium's JSON form with sources made explicit", () => {
    expect(sel({ matchLabels: { app: 'frontend' } }).key).toBe(
      '{"matchLabels":{"any:app":"frontend"}}',
    );
    expect(
      sel({ matchExpressions: [{ key: 'k8s:tier', operator: 'In', values: ['b', 'a'] }] }).key,
    ).toBe('{"matchExpressions":[{"key":"k8s:tier","operator":"In","values":["a","b"]}]}');
    expect(sel({ matchExpressions: [{ key: 'x', operator: 'Exists' }] }).key).toBe(
      '{"matchExpressions":[{"key":"any:x","operator":"Exists"}]}',
    );
  });

  it('gives selectors that mean the same the same key', () => {
    const same = [
      sel({ matchLabels: { app: 'web', 'k8s:tier': 'front' } }),
      sel({ matchLabels: { 'k8s:tier': 'front', 'any:app': 'web' } }),
      sel({
        matchExpressions: [
          { key: 'k8s:tier', operator: 'In', values: ['front', 'front'] },
          { key: 'app', operator: 'In', values: ['web'] },
        ],
      }),
      sel({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'k8s:tier', operator: 'In', values: ['front'] },
          { key: 'any:app', operator: 'In', values: ['web'] },
        ],
      }),
      compileSelector({ matchLabels: { app: 'web' } }, [
        { source: 'k8s', key: 'tier', op: 'In', values: ['front'] },
      ]),
    ];
    for (const s of same) expect(s.key).toBe(same[0]!.key);
    expect(same[2]!.requirements).toEqual([
      { source: 'any', key: 'app', op: 'In', values: ['web'] },
      { source: 'k8s', key: 'tier', op: 'In', values: ['front'] },
    ]);
    const notIn = (values: string[]) =>
      sel({ matchExpressions: [{ key: 'a', operator: 'NotIn', values }] }).key;
    expect(notIn(['y', 'x'])).toBe(notIn(['x', 'y']));
  });

  it('gives selectors that mean something else another key', () => {
    const keys = [
      sel({ matchLabels: { app: 'web' } }),
      sel({ matchLabels: { 'k8s:app': 'web' } }),
      sel({ matchLabels: { app: 'db' } }),
      sel({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }),
      sel({ matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'db'] }] }),
      sel({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }),
      sel({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }),
      sel({ matchLabels: { app: 'web', tier: 'front' } }),
      sel({}),
    ].map((s) => s.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('keeps two single-value Ins on one key apart (they select nothing together)', () => {
    const s = sel({
      matchLabels: { app: 'a' },
      matchExpressions: [{ key: 'app', operator: 'In', values: ['b'] }],
    });
    expect(s.requirements).toHaveLength(2);
    expect(s.matches(['k8s:app=a'])).toBe(false);
    expect(s.key).not.toBe(sel({ matchLabels: { app: 'a' } }).key);
  });
});

describe('compileSelector: validation', () => {
  const reject = (s: unknown, path: string, reason: RegExp) => {
    let err: unknown;
    try {
      sel(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).path).toBe(path);
    expect((err as PolicyError).reason).toMatch(reason);
    expect((err as PolicyError).message).toContain(path);
  };

  it('rejects bad operators and values', () => {
    reject(
      { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] },
      'matchExpressions[0].operator',
      /"Equals" is not an operator/,
    );
    reject(
      { matchExpressions: [{ key: 'a', operator: 'in', values: ['x'] }] },
      'matchExpressions[0].operator',
      /not an operator/,
    );
    reject(
      { matchExpressions: [{ key: 'a', operator: 'In' }] },
      'matchExpressions[0].values',
      /In needs at least one value/,
    );
    reject(
      { matchExpressions: [{ key: 'a', operator: 'NotIn', values: [] }] },
      'matchExpressions[0].values',
      /NotIn needs/,
    );
    reject(
      { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
      'matchExpressions[0].values',
      /Exists takes no values/,
    );
    reject(
      { matchExpressions: [{ key: 'a', operator: 'DoesNotExist', values: ['x'] }] },
      'matchExpressions[0].values',
      /takes no values/,
    );
    reject(
      { matchExpressions: [{ key: 'a', operator: 'In', values: [1] }] },
      'matchExpressions[0].values[0]',
      /must be a string/,
    );
    reject(
      { matchExpressions: [{ key: 'a', operator: 'In', values: 'x' }] },
      'matchExpressions[0].values',
      /must be a list/,
    );
    reject({ matchLabels: { app: 5 } }, 'matchLabels.app', /must be a string/);
    reject({ matchLabels: { 'k8s:app': true } }, 'matchLabels["k8s:app"]', /must be a string/);
    reject({ matchLabels: { app: 'x'.repeat(64) } }, 'matchLabels.app', /longer than 63/);
  });

  it('rejects bad keys', () => {
    reject({ matchLabels: { '': 'x' } }, 'matchLabels[""]', /must not be empty/);
    reject({ matchLabels: { 'k8s:': 'x' } }, 'matchLabels["k8s:"]', /must not be empty/);
    reject({ matchLabels: { 'my app': 'x' } }, 'matchLabels["my app"]', /not a label key/);
    reject(
      { matchLabels: { ['k'.repeat(318)]: 'x' } },
      `matchLabels.${'k'.repeat(318)}`,
      /longer than 317/,
    );
    reject(
      { matchExpressions: [{ key: 'a=b', operator: 'Exists' }] },
      'matchExpressions[0].key',
      /not a label key/,
    );
    reject(
      { matchExpressions: [{ operator: 'Exists' }] },
      'matchExpressions[0].key',
      /must be a string/,
    );
    expect(sel({ matchLabels: { ['k'.repeat(317)]: 'x' } }).requirements).toHaveLength(1);
  });

  it('rejects wrong shapes and unknown fields', () => {
    reject(null, '', /must be an object/);
    reject([], '', /must be an object/);
    reject({ matchLabel: { a: 'b' } }, 'matchLabel', /unknown field/);
    reject({ matchLabels: ['a'] }, 'matchLabels', /must be an object/);
    reject({ matchExpressions: {} }, 'matchExpressions', /must be a list/);
    reject(
      { matchExpressions: [{ key: 'a', operator: 'Exists', value: 'x' }] },
      'matchExpressions[0].value',
      /unknown field/,
    );
  });
});
