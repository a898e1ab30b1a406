import { describe, expect, it } from 'vitest';
import { localNodeElement } from './cluster.js';
import { ciliumNodeFields, localNodeData, mergeCiliumNode } from './k8s-ciliumnode.js';

describe('the CiliumNode of this node', () => {
  const self = {
    ...localNodeElement('default/n1', ['10.0.0.1', 'fd00::1'], {
      ipv4: '10.200.1.0/24',
      ipv6: 'fd10:200:1::/96',
    }),
    'health-endpoint-address': {
      ipv4: { enabled: true, ip: '10.200.1.7' },
      ipv6: { enabled: false },
    },
  };

  it("reads addresses, pod CIDRs and the health endpoint from the node's element", () => {
    expect(localNodeData(self)).toEqual({
      ips: ['10.0.0.1', 'fd00::1'],
      podCidrs: ['10.200.1.0/24', 'fd10:200:1::/96'],
      health: { ipv4: '10.200.1.7' },
    });
    expect(localNodeData(localNodeElement('default/n1', ['10.0.0.1'], {}))).toEqual({
      ips: ['10.0.0.1'],
      podCidrs: [],
    });
  });

  it('is owned by the Node object once known, with its labels', () => {
    const data = localNodeData(self);
    expect(ciliumNodeFields('n1', data, undefined)).toEqual({
      metadata: { name: 'n1' },
      spec: {
        addresses: [
          { type: 'InternalIP', ip: '10.0.0.1' },
          { type: 'InternalIP', ip: 'fd00::1' },
        ],
        ipam: { podCIDRs: ['10.200.1.0/24', 'fd10:200:1::/96'] },
        health: { ipv4: '10.200.1.7' },
        encryption: {},
      },
    });
    const node = { metadata: { name: 'n1', uid: 'u-1', labels: { zone: 'a' } } };
    expect(ciliumNodeFields('n1', data, node).metadata).toEqual({
      name: 'n1',
      labels: { zone: 'a' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'u-1' }],
    });
  });

  it("keeps what others wrote (the operator's ipam fields, status, resourceVersion)", () => {
    const current = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'n1', resourceVersion: '17', annotations: { a: 'b' } },
      spec: {
        addresses: [{ type: 'InternalIP', ip: '10.9.9.9' }],
        ipam: { podCIDRs: ['10.1.0.0/24'], pool: { '10.1.0.5': {} } },
        health: { ipv4: '10.1.0.9' },
        'instance-id': 'i-1',
      },
      status: { ipam: {} },
    };
    const want = ciliumNodeFields(
      'n1',
      { ips: ['10.0.0.1'], podCidrs: ['10.2.0.0/24'] },
      undefined,
    );
    expect(mergeCiliumNode(current, want)).toEqual({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'n1', resourceVersion: '17', annotations: { a: 'b' } },
      spec: {
        addresses: [{ type: 'InternalIP', ip: '10.0.0.1' }],
        ipam: { podCIDRs: ['10.2.0.0/24'], pool: { '10.1.0.5': {} } },
        'instance-id': 'i-1',
        encryption: {},
      },
      status: { ipam: {} },
    });
    // Merging what is already there changes nothing (no needless update).
    const again = mergeCiliumNode(current, want);
    expect(JSON.stringify(mergeCiliumNode(again, want))).toBe(JSON.stringify(again));
  });
});
