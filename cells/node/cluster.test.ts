import { describe, expect, it } from 'vitest';
import { MAX_CLUSTER_CLIENTS, ClusterNodes, localNodeElement } from './cluster.js';

describe('cluster nodes', () => {
  it('describes the local node with its IPs and pod CIDRs', () => {
    const n = localNodeElement('default/n1', ['192.0.2.10'], { ipv4: '10.9.0.0/24' });
    expect(n['primary-address']).toEqual({
      ipv4: {
        enabled: true,
        ip: '192.0.2.10',
        'alloc-range': '10.9.0.0/24',
        'address-type': 'InternalIP',
      },
      ipv6: { enabled: false },
    });
    expect(n.source).toBe('local');
  });

  it('answers every node without a client id, and diffs per client id', () => {
    let nodes = [localNodeElement('c/a', ['192.0.2.1'], {})];
    const c = new ClusterNodes(
      () => 'c/a',
      () => nodes,
    );
    expect(c.status(undefined)).toEqual({ self: 'c/a', 'nodes-added': nodes, 'nodes-removed': [] });
    const first = c.status(0);
    expect(first['nodes-added']).toEqual(nodes);
    const id = first['client-id'] ?? 0;
    expect(id).toBeGreaterThan(0);
    expect(c.status(id)).toMatchObject({ 'nodes-added': [], 'nodes-removed': [], 'client-id': id });
    const b = localNodeElement('c/b', ['192.0.2.2'], {});
    nodes = [b];
    expect(c.status(id)).toMatchObject({ 'nodes-added': [b], 'nodes-removed': [{ name: 'c/a' }] });
    // An id the agent never gave out is a new client: everything, and a new id.
    const other = c.status(9999);
    expect(other['nodes-added']).toEqual([b]);
    expect(other['client-id']).not.toBe(9999);
  });

  it('forgets the least recently seen client beyond its limit', () => {
    const c = new ClusterNodes(
      () => 'c/a',
      () => [localNodeElement('c/a', [], {})],
    );
    const first = c.status(0)['client-id'] ?? 0;
    for (let i = 0; i < MAX_CLUSTER_CLIENTS; i++) c.status(0);
    expect(c.status(first)['client-id']).not.toBe(first);
  });
});
