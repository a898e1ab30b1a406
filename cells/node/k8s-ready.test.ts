// Marking the node ready: what counts as ready, the annotations Cilium writes, and what a Node
// lacks. The API calls themselves run against the API server double (test/k8s-nodes.test.ts).
import { describe, expect, it } from 'vitest';
import type { Model } from '../../core/api/index.js';
import type { Ipam } from '../ipam/index.js';
import type { Node } from '../k8s/index.js';
import { agentNotReady, annotationDiff, localAnnotations } from './k8s-ready.js';

describe('node readiness', () => {
  it('waits while the agent starts or a cell is not ready, not for degraded cells', () => {
    expect(agentNotReady({ state: 'Ok', msg: 'Cellium 1.0' })).toBeUndefined();
    expect(agentNotReady({ state: 'Warning', msg: 'starting' })).toBe('starting');
    expect(
      agentNotReady({ state: 'Warning', msg: 'not ready: restoring endpoints (1 of 3)' }),
    ).toBe('not ready: restoring endpoints (1 of 3)');
    expect(
      agentNotReady({ state: 'Warning', msg: '1 degraded: node.k8s-nodes: x' }),
    ).toBeUndefined();
    expect(agentNotReady({ state: 'Warning', msg: 'Stale status data for probes: kvstore' })).toBe(
      undefined,
    );
    expect(agentNotReady({ state: 'Failure', msg: 'stopping' })).toBe('stopping');
  });

  it("writes Cilium's annotations from the pools and the health endpoint", () => {
    const ipam = {
      pools: new Map([
        ['ipv4', { cidr: '10.8.0.0/24', router: '10.8.0.1' }],
        ['ipv6', { cidr: 'fd00:8::/112', router: 'fd00:8::1' }],
      ]),
    } as unknown as Pick<Ipam, 'pools'>;
    const self: Model<'NodeElement'> = {
      name: 'default/n1',
      'health-endpoint-address': {
        ipv4: { enabled: true, ip: '10.8.0.7' },
        ipv6: { enabled: false },
      },
    };
    expect(localAnnotations(ipam, self)).toEqual({
      'network.cilium.io/ipv4-pod-cidr': '10.8.0.0/24',
      'network.cilium.io/ipv4-cilium-host': '10.8.0.1',
      'network.cilium.io/ipv6-pod-cidr': 'fd00:8::/112',
      'network.cilium.io/ipv6-cilium-host': 'fd00:8::1',
      'network.cilium.io/ipv4-health-ip': '10.8.0.7',
    });
    expect(localAnnotations({ pools: new Map() }, undefined)).toEqual({});
  });

  it('patches only the annotations a Node lacks or has otherwise', () => {
    const n = {
      metadata: { name: 'n1', annotations: { a: '1', b: '2', other: 'x' } },
    } as unknown as Node;
    expect(annotationDiff(n, { a: '1', b: '3', c: '4' })).toEqual({ b: '3', c: '4' });
    expect(annotationDiff({ metadata: { name: 'n1' } }, { a: '1' })).toEqual({ a: '1' });
  });
});
