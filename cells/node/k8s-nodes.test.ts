// Kubernetes Node objects → the node list: parsing as Cilium's ParseNode, hostile values
// skipped and named, and the node cell alone in a hive over the in-memory reflected tables.
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ApiRegistry } from '../../core/api/index.js';
import { MapRegistry, unpinMemoryMaps } from '../../core/bpf/index.js';
import { HealthTree, provideValue } from '../../core/hive/index.js';
import { DB } from '../../core/statedb/index.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { ApiRoutes } from '../api/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { Ipam } from '../ipam/index.js';
import { K8sResources, type Node } from '../k8s/index.js';
import { newMemoryK8sResources } from '../k8s/resources.memory.js';
import { DatapathMaps, Maps } from '../maps/index.js';
import { ClusterNodeList, NodeIds, NodeLinks, nodeCell } from './index.js';
import { K8sNodeError, parseK8sNode } from './k8s-nodes.js';

function k8sNode(
  name: string,
  addresses: unknown[],
  spec: Record<string, unknown> = {},
  annotations: Record<string, unknown> = {},
): Node {
  return { metadata: { name, annotations }, spec, status: { addresses } } as unknown as Node;
}

const internal = (address: unknown) => ({ type: 'InternalIP', address });

describe('parseK8sNode', () => {
  it('reads addresses, pod CIDRs and health IPs as Cilium does', () => {
    const n = k8sNode(
      'w1',
      [
        { type: 'Hostname', address: 'w1' },
        { type: 'ExternalIP', address: '203.0.113.1' },
        internal('192.0.2.11'),
        internal('fd00::11'),
      ],
      { podCIDRs: ['10.1.1.0/24', 'fd00:1:1::/112'] },
      {
        'network.cilium.io/ipv4-health-ip': '10.1.1.9',
        'io.cilium.network.ipv6-health-ip': 'fd00:1:1::9',
      },
    );
    expect(parseK8sNode(n, 'default')).toEqual({
      node: {
        name: 'default/w1',
        ipv4: '192.0.2.11',
        ipv6: 'fd00::11',
        podCidrs: ['10.1.1.0/24', 'fd00:1:1::/112'],
        healthIpv4: '10.1.1.9',
        healthIpv6: 'fd00:1:1::9',
      },
      skipped: [],
    });
    // ExternalIP when there is no InternalIP; the annotation when spec has no pod CIDR.
    const ext = k8sNode(
      'w2',
      [{ type: 'ExternalIP', address: '203.0.113.2' }],
      {},
      {
        'network.cilium.io/ipv4-pod-cidr': '10.2.0.0/24',
      },
    );
    expect(parseK8sNode(ext, 'c1').node).toEqual({
      name: 'c1/w2',
      ipv4: '203.0.113.2',
      podCidrs: ['10.2.0.0/24'],
    });
  });

  it('skips bad values, naming the field, and keeps the rest of the node', () => {
    const n = k8sNode(
      'w1',
      [internal('999.1.1.1'), internal('192.0.2.11'), internal({ x: 1 })],
      { podCIDRs: ['10.1.1.1/24', 'nope', '10.1.2.0/24'] },
      { 'network.cilium.io/ipv4-health-ip': 'fd00::1', 'network.cilium.io/ipv6-health-ip': 5 },
    );
    const r = parseK8sNode(n, 'default');
    expect(r.node).toEqual({ name: 'default/w1', ipv4: '192.0.2.11', podCidrs: ['10.1.2.0/24'] });
    expect(r.skipped).toEqual([
      'status.addresses.0.address: "999.1.1.1" is not an IP address',
      'status.addresses.2.address: {"x":1} is not an IP address',
      "spec.podCIDRs.0: '10.1.1.1/24' has host bits set",
      "spec.podCIDRs.1: 'nope' is not a CIDR (like 10.0.0.0/24)",
      'annotation network.cilium.io/ipv4-health-ip: "fd00::1" is not an ipv4 address',
      'annotation network.cilium.io/ipv6-health-ip: 5 is not an ipv6 address',
    ]);
  });

  it('skips addresses that are no unicast address, pod CIDRs of every address or of loopback', () => {
    const n = k8sNode(
      'w1',
      ['0.0.0.0', '127.0.0.1', '224.0.0.1', '255.255.255.255', '::', '::1', 'ff02::1']
        .map(internal)
        .concat([internal('192.0.2.11')]),
      { podCIDRs: ['0.0.0.0/0', '::/0', '127.0.0.0/24', '10.1.2.0/24'] },
      { 'network.cilium.io/ipv6-pod-cidr': '::/0' },
    );
    const r = parseK8sNode(n, 'default');
    expect(r.node).toEqual({ name: 'default/w1', ipv4: '192.0.2.11', podCidrs: ['10.1.2.0/24'] });
    expect(r.skipped).toEqual([
      'status.addresses.0.address: 0.0.0.0 is an unspecified ("this network") address',
      'status.addresses.1.address: 127.0.0.1 is a loopback address',
      'status.addresses.2.address: 224.0.0.1 is a multicast address',
      'status.addresses.3.address: 255.255.255.255 is the broadcast address',
      'status.addresses.4.address: :: is the unspecified address',
      'status.addresses.5.address: ::1 is a loopback address',
      'status.addresses.6.address: ff02::1 is a multicast address',
      "spec.podCIDRs.0: '0.0.0.0/0' is every address, not a pod CIDR",
      "spec.podCIDRs.1: '::/0' is every address, not a pod CIDR",
      "spec.podCIDRs.2: '127.0.0.0/24' overlaps loopback addresses",
      "annotation network.cilium.io/ipv6-pod-cidr: '::/0' is every address, not a pod CIDR",
    ]);
    // Only such addresses: no node at all.
    expect(() => parseK8sNode(k8sNode('w2', [internal('127.0.0.1')]), 'default')).toThrow(
      'status.addresses: no InternalIP or ExternalIP (status.addresses.0.address: 127.0.0.1 is a loopback address)',
    );
  });

  it.each([
    [k8sNode('Bad_Name', [internal('192.0.2.1')]), 'metadata.name: "Bad_Name" is not a node name'],
    [k8sNode('w', []), 'status.addresses: no InternalIP or ExternalIP'],
    [
      k8sNode('w', [internal('x'.repeat(10_000))]),
      'status.addresses: no InternalIP or ExternalIP (status.addresses.0.address: "xxxx',
    ],
    [
      { metadata: { name: 'w' }, status: { addresses: 'x' } } as unknown as Node,
      'status.addresses: no InternalIP or ExternalIP (status.addresses: not a list)',
    ],
    [{ metadata: { name: 'w' }, status: null } as unknown as Node, 'no InternalIP or ExternalIP'],
  ])('refuses a node it cannot use (%#)', (n, message) => {
    expect(() => parseK8sNode(n, 'default')).toThrow(K8sNodeError);
    expect(() => parseK8sNode(n, 'default')).toThrow(message);
  });
});

describe('node cell with Kubernetes nodes', () => {
  /** The node cell alone; `enabled` false is embedded mode (no Kubernetes resources). */
  function hive(enabled = true) {
    const pinDir = `/tmp/cellium-k8snode-test-${randomBytes(4).toString('hex')}`;
    onTestFinished(() => unpinMemoryMaps(pinDir));
    const res = newMemoryK8sResources(new DB(), enabled);
    const h = testHive([nodeCell], {
      overrides: [
        provideValue(DatapathMaps, { backend: 'memory', pinDir } as DatapathMaps),
        provideValue(Maps, new MapRegistry()),
        provideValue(ApiRoutes, new ApiRegistry()),
        provideValue(StatusContributors, { add: () => undefined }),
        provideValue(DaemonConfig, { clusterName: 'default', nodeName: 'n1' } as DaemonConfig),
        provideValue(Ipam, {
          pools: new Map([['ipv4', { cidr: '10.9.0.0/24' }]]),
        } as unknown as Ipam),
        provideValue(NodeLinks, () => []),
        provideValue(K8sResources, res),
      ],
      flags: { 'ipv4-node': '192.0.2.1', 'ipv6-node': '' },
    });
    const health = (): string =>
      h
        .get(HealthTree)
        .all()
        .find((s) => s.id.endsWith('node.k8s-nodes'))?.message ?? '';
    const names = (): string[] =>
      h
        .get(ClusterNodeList)
        .list()
        .map((n) => `${n.name ?? ''} ${n.source ?? ''}`);
    return { h, res, health, names };
  }

  it('lists every other Node with source k8s and node ids; a Node deleted is gone', async () => {
    const { h, res, health, names } = hive();
    res.upsert('nodes', k8sNode('n1', [internal('192.0.2.1')], { podCIDRs: ['10.9.0.0/24'] }));
    res.upsert('nodes', k8sNode('w2', [internal('192.0.2.2')], { podCIDRs: ['10.2.0.0/24'] }));
    await h.requireStart();
    expect(names()).toEqual(['default/n1 local', 'default/w2 k8s']);
    expect(health()).toBe('1 other nodes from Kubernetes (listing)');
    res.setSynced('nodes');
    await eventually(() => health() === '1 other nodes from Kubernetes');
    const w2 = h
      .get(ClusterNodeList)
      .list()
      .find((n) => n.name === 'default/w2');
    expect(w2?.['primary-address']?.ipv4).toEqual({
      enabled: true,
      ip: '192.0.2.2',
      'alloc-range': '10.2.0.0/24',
      'address-type': 'InternalIP',
    });
    const ids = h.get(NodeIds);
    expect(ids.idOf('192.0.2.2')).toBeGreaterThan(0);

    res.upsert('nodes', k8sNode('w3', [internal('192.0.2.3')]));
    await eventually(() => names().length === 3);
    expect(names()).toEqual(['default/n1 local', 'default/w2 k8s', 'default/w3 k8s']);

    res.remove('nodes', k8sNode('w2', []));
    await eventually(() => names().length === 2);
    expect(ids.idOf('192.0.2.2')).toBeUndefined();
    expect(ids.idOf('192.0.2.3')).toBeGreaterThan(0);
  });

  it('a Node turning bad is dropped and named in health; others stay; fixed, it is back', async () => {
    const { h, res, health, names } = hive();
    res.upsert('nodes', k8sNode('w2', [internal('192.0.2.2')]));
    res.upsert('nodes', k8sNode('w3', [internal('192.0.2.3')]));
    res.setSynced('nodes');
    await h.requireStart();
    expect(names()).toEqual(['default/n1 local', 'default/w2 k8s', 'default/w3 k8s']);

    res.upsert('nodes', k8sNode('w2', [internal('not-an-ip')]));
    // Another node claiming this node's address is not listed either.
    res.upsert('nodes', k8sNode('evil', [internal('192.0.2.1')]));
    await eventually(() => names().length === 2);
    expect(names()).toEqual(['default/n1 local', 'default/w3 k8s']);
    expect(
      h
        .get(HealthTree)
        .all()
        .find((s) => s.id.endsWith('node.k8s-nodes'))?.level,
    ).toBe('degraded');
    expect(health()).toBe(
      '1 other nodes from Kubernetes; invalid values skipped: node w2: skipped: status.addresses: no InternalIP or ExternalIP (status.addresses.0.address: "not-an-ip" is not an IP address); node evil: skipped: claims this node\'s IP 192.0.2.1',
    );

    res.upsert('nodes', k8sNode('w2', [internal('192.0.2.2')]));
    res.remove('nodes', k8sNode('evil', []));
    await eventually(() => health() === '2 other nodes from Kubernetes');
    expect(names()).toEqual(['default/n1 local', 'default/w2 k8s', 'default/w3 k8s']);
  });

  it('embedded mode (resources not enabled): no Kubernetes source at all', async () => {
    const { h, res, names } = hive(false);
    res.upsert('nodes', k8sNode('w2', [internal('192.0.2.2')]));
    await h.requireStart();
    expect(names()).toEqual(['default/n1 local']);
    expect(
      h
        .get(HealthTree)
        .all()
        .some((s) => s.id.endsWith('k8s-nodes')),
    ).toBe(false);
  });
});
