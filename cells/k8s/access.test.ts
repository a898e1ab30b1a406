import { describe, expect, it } from 'vitest';
import { AccessRules, checkRequest, requestAttributes } from './access.js';
import { K8sAccessError } from './types.js';

describe('access rules', () => {
  it('merges rules per group and resource, sorted, verbs in RBAC order, reasons joined', () => {
    const a = new AccessRules();
    a.declare({
      group: 'cilium.io',
      resource: 'ciliumendpoints',
      verbs: ['create', 'get'],
      why: 'endpoint: CEP',
    });
    a.declare({ group: '', resource: 'pods', verbs: ['watch', 'list'], why: 'k8s: reflect pods' });
    a.declare({
      group: 'cilium.io',
      resource: 'ciliumendpoints',
      verbs: ['delete', 'get'],
      why: 'endpoint: gc',
    });
    a.declare({ group: '', resource: 'nodes/status', verbs: ['patch'], why: 'node: taint' });
    expect(a.rules()).toEqual([
      { group: '', resource: 'nodes/status', verbs: ['patch'], why: 'node: taint' },
      { group: '', resource: 'pods', verbs: ['list', 'watch'], why: 'k8s: reflect pods' },
      {
        group: 'cilium.io',
        resource: 'ciliumendpoints',
        verbs: ['get', 'create', 'delete'],
        why: 'endpoint: CEP; endpoint: gc',
      },
    ]);
    expect(() => a.check('', 'pods', 'list')).not.toThrow();
    expect(() => a.check('', 'pods', 'delete')).toThrow(K8sAccessError);
    expect(() => a.check('', 'nodes', 'patch')).toThrow(/'patch' on nodes \(group core\)/);
  });

  it('maps requests to RBAC attributes as the API server does', () => {
    const cases: [string, string, unknown][] = [
      [
        'GET',
        '/api/v1/pods?fieldSelector=spec.nodeName%3Dn1',
        { group: '', resource: 'pods', verb: 'list' },
      ],
      [
        'GET',
        '/api/v1/pods?watch=true&resourceVersion=5',
        { group: '', resource: 'pods', verb: 'watch' },
      ],
      ['GET', '/api/v1/namespaces/default/pods/p1', { group: '', resource: 'pods', verb: 'get' }],
      ['GET', '/api/v1/namespaces', { group: '', resource: 'namespaces', verb: 'list' }],
      ['GET', '/api/v1/namespaces/kube-system', { group: '', resource: 'namespaces', verb: 'get' }],
      ['PATCH', '/api/v1/nodes/n1/status', { group: '', resource: 'nodes/status', verb: 'patch' }],
      [
        'POST',
        '/apis/cilium.io/v2/namespaces/default/ciliumendpoints',
        { group: 'cilium.io', resource: 'ciliumendpoints', verb: 'create' },
      ],
      [
        'PUT',
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.cilium.io',
        { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verb: 'update' },
      ],
      [
        'DELETE',
        '/apis/cilium.io/v2/ciliumidentities/300',
        { group: 'cilium.io', resource: 'ciliumidentities', verb: 'delete' },
      ],
      [
        'DELETE',
        '/apis/cilium.io/v2/ciliumidentities',
        { group: 'cilium.io', resource: 'ciliumidentities', verb: 'deletecollection' },
      ],
    ];
    for (const [method, url, want] of cases) {
      expect(
        requestAttributes(method, `https://10.0.0.1:6443${url}`),
        `${method} ${url}`,
      ).toMatchObject({ kind: 'resource', ...(want as object) });
    }
    expect(requestAttributes('GET', 'https://h/version')).toEqual({
      kind: 'nonResource',
      path: '/version',
    });
  });

  it('lets discovery through, refuses other non-resource URLs and collection deletes', () => {
    const a = new AccessRules();
    expect(() => checkRequest(a, 'GET', 'https://h/version')).not.toThrow();
    expect(() => checkRequest(a, 'GET', 'https://h/apis/cilium.io/v2')).not.toThrow();
    expect(() => checkRequest(a, 'GET', 'https://h/metrics')).toThrow(K8sAccessError);
    a.declare({ group: '', resource: 'pods', verbs: ['delete'], why: 'x' });
    expect(() => checkRequest(a, 'DELETE', 'https://h/api/v1/namespaces/d/pods')).toThrow(
      /never deletes collections/,
    );
    expect(() => checkRequest(a, 'DELETE', 'https://h/api/v1/namespaces/d/pods/p')).not.toThrow();
  });
});
