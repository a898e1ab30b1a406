import { describe, expect, it } from 'vitest';
import {
  encodeLocalNode,
  nodeKey,
  NodeValueError,
  parseNodeValue,
  type NodeValue,
} from './node-value.js';

const key = nodeKey('default', 'b');

function value(over: Partial<Record<keyof NodeValue, unknown>> = {}): string {
  return JSON.stringify({
    Name: 'b',
    Cluster: 'default',
    IPAddresses: [{ Type: 'InternalIP', IP: '192.168.0.2' }],
    IPv4AllocCIDR: { IP: '10.1.0.0', Mask: '////AA==' },
    IPv6AllocCIDR: null,
    IPv4HealthIP: '10.1.0.5',
    IPv6HealthIP: '',
    ClusterID: 0,
    Source: 'local',
    NodeIdentity: 1,
    ...over,
  });
}

describe('kvstore node values (Cilium nodeTypes.Node)', () => {
  it('writes the local node as Cilium does: IPs, alloc CIDRs with base64 masks, health IPs', () => {
    const v = JSON.parse(
      encodeLocalNode({
        cluster: 'default',
        name: 'a',
        ips: ['192.168.0.1', 'fd00::1'],
        podCidrs: { ipv4: '10.0.0.0/24', ipv6: 'fd01::/112' },
        healthIpv4: '10.0.0.9',
        identity: 1,
      }),
    ) as NodeValue;
    expect(v).toEqual({
      Name: 'a',
      Cluster: 'default',
      IPAddresses: [
        { Type: 'InternalIP', IP: '192.168.0.1' },
        { Type: 'InternalIP', IP: 'fd00::1' },
      ],
      IPv4AllocCIDR: { IP: '10.0.0.0', Mask: '////AA==' },
      IPv6AllocCIDR: { IP: 'fd01::', Mask: '//////////////////8AAA==' },
      IPv4HealthIP: '10.0.0.9',
      IPv6HealthIP: '',
      ClusterID: 0,
      Source: 'local',
      EncryptionKey: 0,
      Labels: {},
      NodeIdentity: 1,
    });
  });

  it('reads what it writes back as a remote node named <cluster>/<name>', () => {
    const text = encodeLocalNode({
      cluster: 'c1',
      name: 'a',
      ips: ['192.168.0.1', 'fd00::1'],
      podCidrs: { ipv4: '10.0.0.0/24', ipv6: 'fd01::/112' },
      healthIpv6: 'fd01::9',
      identity: 1,
    });
    expect(parseNodeValue(nodeKey('c1', 'a'), text)).toEqual({
      name: 'c1/a',
      ipv4: '192.168.0.1',
      ipv6: 'fd00::1',
      podCidrs: ['10.0.0.0/24', 'fd01::/112'],
      healthIpv6: 'fd01::9',
    });
  });

  it('picks the InternalIP of each family, then ExternalIP, never CiliumInternalIP', () => {
    const n = parseNodeValue(
      key,
      value({
        IPAddresses: [
          { Type: 'CiliumInternalIP', IP: '10.1.0.1' },
          { Type: 'ExternalIP', IP: '1.2.3.4' },
          { Type: 'InternalIP', IP: '192.168.0.2' },
          { Type: 'ExternalIP', IP: '2001:db8::2' },
        ],
        // Go may marshal an IPv4 mask in 16 bytes.
        IPv4AllocCIDR: {
          IP: '10.1.0.0',
          Mask: Buffer.from([...Array<number>(15).fill(255), 0]).toString('base64'),
        },
      }),
    );
    expect(n).toMatchObject({
      ipv4: '192.168.0.2',
      ipv6: '2001:db8::2',
      podCidrs: ['10.1.0.0/24'],
    });
  });

  it.each([
    ['{', 'not JSON'],
    ['[1]', 'not a JSON object'],
    [value({ Name: 'c' }), 'Name "c" is not the key\'s b'],
    [value({ Cluster: 'other' }), 'Cluster "other"'],
    [value({ IPAddresses: [] }), 'a node needs an IPv4 or IPv6 address'],
    [value({ IPAddresses: 'x' }), 'IPAddresses: must be a list'],
    [
      value({ IPAddresses: [{ Type: 'InternalIP', IP: '300.1.1.1' }] }),
      'IPAddresses.0.IP: "300.1.1.1" is not an IP',
    ],
    [value({ IPAddresses: [null] }), 'IPAddresses.0: expected {Type, IP}'],
    [value({ IPv4AllocCIDR: { IP: '10.1.0.0', Mask: '!!' } }), 'Mask is not base64'],
    [value({ IPv4AllocCIDR: { IP: '10.1.0.0', Mask: '/wD/AA==' } }), 'not a prefix mask'],
    [value({ IPv4AllocCIDR: { IP: '10.1.0.1', Mask: '////AA==' } }), 'host bits set'],
    [value({ IPv4AllocCIDR: { IP: 'fd00::', Mask: '////AA==' } }), 'is not an IPv4 address'],
    [value({ IPv4AllocCIDR: '10.1.0.0/24' }), 'expected {IP, Mask}'],
    [value({ IPv4HealthIP: 'fd00::1' }), 'IPv4HealthIP: "fd00::1" is not an IPv4 address'],
    [value({ IPv6HealthIP: 7 }), 'IPv6HealthIP: 7 is not an IPv6 address'],
  ])('refuses %s', (text, reason) => {
    expect(() => parseNodeValue(key, text)).toThrow(NodeValueError);
    expect(() => parseNodeValue(key, text)).toThrow(reason);
  });

  it('refuses keys that do not name a cluster and a node', () => {
    for (const k of [
      'cilium/state/nodes/v1/default',
      'cilium/state/nodes/v1/a/b/c',
      'x/default/b',
      'cilium/state/nodes/v1/default/-b',
    ]) {
      expect(() => parseNodeValue(k, value())).toThrow('not a node key');
    }
  });
});
