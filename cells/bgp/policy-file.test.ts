import { describe, expect, it } from 'vitest';
import { parsePolicyFile } from './policy-file.js';
import { routersForNode } from './node-select.js';

const F = '/etc/bgp.yaml';

/** One policy with one router and one neighbor, with `router` / `neighbor` fields merged in. */
function doc(
  neighbor: Record<string, unknown> = {},
  router: Record<string, unknown> = {},
  spec: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    apiVersion: 'cilium.io/v2alpha1',
    kind: 'CiliumBGPPeeringPolicy',
    metadata: { name: 'rack0' },
    spec: {
      virtualRouters: [
        {
          localASN: 65001,
          neighbors: [{ peerAddress: '10.0.0.1/32', peerASN: 65000, ...neighbor }],
          ...router,
        },
      ],
      ...spec,
    },
  });
}

describe('the peering policy file', () => {
  it("fills Cilium's defaults", () => {
    const [p] = parsePolicyFile(doc(), F);
    const r = p?.virtualRouters[0];
    expect(r).toMatchObject({
      policy: 'rack0',
      localAsn: 65001,
      exportPodCidr: false,
      serviceAdvertisements: ['LoadBalancerIP'],
    });
    expect(r?.serviceSelector).toBeUndefined();
    expect(r?.neighbors[0]).toEqual({
      session: {
        address: '10.0.0.1',
        port: 179,
        peerAsn: 65000,
        localAsn: 65001,
        passive: false,
        connectRetrySec: 120,
        holdTimeSec: 90,
        keepaliveSec: 30,
        ebgpMultihopTtl: 1,
        gracefulRestart: { enabled: false, restartTimeSec: 120 },
        families: ['ipv4-unicast', 'ipv6-unicast'],
      },
      pathAttributes: [],
    });
  });

  it('takes families in one order whatever the list says (a reordered list changes nothing)', () => {
    const fams = (list: string[]) =>
      parsePolicyFile(doc({ families: list.map((afi) => ({ afi, safi: 'unicast' })) }), F)[0]
        ?.virtualRouters[0]?.neighbors[0]?.session.families;
    expect(fams(['ipv6', 'ipv4'])).toEqual(['ipv4-unicast', 'ipv6-unicast']);
    expect(fams(['ipv6', 'ipv4', 'ipv6'])).toEqual(fams(['ipv4', 'ipv6']));
    expect(fams(['ipv6'])).toEqual(['ipv6-unicast']);
  });

  it('reads the README example whole (YAML), bare and /128 peer addresses canonical', () => {
    const text = `
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: { name: rack0 }
spec:
  nodeSelector: { matchLabels: { kubernetes.io/hostname: node-a } }
  virtualRouters:
    - localASN: 4200000001
      exportPodCIDR: true
      serviceSelector: { matchLabels: { bgp: announce } }
      serviceAdvertisements: [LoadBalancerIP, ExternalIP, ClusterIP]
      neighbors:
        - peerAddress: 'FD00:0::1/128'
          peerASN: 65000
          peerPort: 1790
          eBGPMultihopTTL: 3
          connectRetryTimeSeconds: 5
          holdTimeSeconds: 9
          keepAliveTimeSeconds: 3
          gracefulRestart: { enabled: true, restartTimeSeconds: 60 }
          families: [{ afi: ipv6, safi: unicast }]
          passive: true
          maxPrefixes: 5000
          advertisedPathAttributes:
            - selectorType: PodCIDR
              communities: { standard: ['65000:100', '7'], wellKnown: [no-export], large: ['65000:1:1'] }
              localPreference: 200
        - peerAddress: 10.0.0.2
          peerASN: 65000
`;
    const [p] = parsePolicyFile(text, F);
    expect(p?.nodeSelector).toEqual({
      matchLabels: { 'kubernetes.io/hostname': 'node-a' },
      matchExpressions: [],
    });
    const r = p?.virtualRouters[0];
    expect(r?.localAsn).toBe(4200000001);
    expect(r?.serviceAdvertisements).toEqual(['LoadBalancerIP', 'ExternalIP', 'ClusterIP']);
    expect(r?.neighbors.map((n) => n.session.address)).toEqual(['fd00::1', '10.0.0.2']);
    expect(r?.neighbors[0]?.session).toMatchObject({
      port: 1790,
      ebgpMultihopTtl: 3,
      connectRetrySec: 5,
      holdTimeSec: 9,
      keepaliveSec: 3,
      passive: true,
      gracefulRestart: { enabled: true, restartTimeSec: 60 },
      families: ['ipv6-unicast'],
      maxPrefixes: 5000,
    });
    // Unset: the speaker's default applies.
    expect(r?.neighbors[1]?.session.maxPrefixes).toBeUndefined();
    expect(r?.neighbors[0]?.pathAttributes).toEqual([
      {
        selectorType: 'PodCIDR',
        communities: [(65000 << 16) | 100, 7, 0xffffff01].map((n) => n >>> 0),
        largeCommunities: [[65000, 1, 1]],
        localPreference: 200,
      },
    ]);
  });

  it('refuses a YAML alias bomb, naming the file', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) {
      lines.push(
        `a${i}: &a${i} [${Array<string>(9)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    }
    expect(() => parsePolicyFile(lines.join('\n'), F)).toThrow(
      `${F}: document 1: Excessive alias count`,
    );
  });

  it('takes several YAML documents and kind: List; an empty file is no policy', () => {
    const a = doc();
    const b = doc().replace('rack0', 'rack1').replace('10.0.0.1', '10.0.0.9');
    expect(parsePolicyFile(`${a}\n---\n${b}\n`, F).map((p) => p.name)).toEqual(['rack0', 'rack1']);
    const list = JSON.stringify({ kind: 'List', items: [JSON.parse(a), JSON.parse(b)] });
    expect(parsePolicyFile(list, F)).toHaveLength(2);
    expect(parsePolicyFile('', F)).toEqual([]);
  });

  it.each([
    [
      doc({ peerAddress: '10.0.0.1/24' }),
      "rack0: spec.virtualRouters[0].neighbors[0].peerAddress: '10.0.0.1/24' is not a peer address",
    ],
    [doc({ peerAddress: 'nope' }), "neighbors[0].peerAddress: 'nope' is not a peer address"],
    [doc({ peerAddress: undefined }), 'neighbors[0].peerAddress: is required'],
    [doc({ peerASN: 0 }), 'neighbors[0].peerASN: 0 is not an integer in 1..4294967295'],
    [doc({ peerASN: 4294967296 }), 'peerASN: 4294967296 is not an integer in 1..4294967295'],
    [doc({ peerASN: '65000' }), 'peerASN: "65000" is not an integer'],
    [
      doc({}, { localASN: 0 }),
      'spec.virtualRouters[0].localASN: 0 is not an integer in 1..4294967295',
    ],
    [doc({}, { localASN: undefined }), 'spec.virtualRouters[0].localASN: is required'],
    [doc({ holdTimeSeconds: 2 }), 'holdTimeSeconds: 2 is not 0 or 3..65535'],
    [doc({ holdTimeSeconds: 65536 }), 'holdTimeSeconds: 65536 is not an integer in 0..65535'],
    [
      doc({ holdTimeSeconds: 9, keepAliveTimeSeconds: 10 }),
      'keepAliveTimeSeconds: 10 is more than holdTimeSeconds 9',
    ],
    [doc({ keepAliveTimeSeconds: 0 }), 'keepAliveTimeSeconds: 0 with a non-zero hold time'],
    [doc({ peerPort: 0 }), 'peerPort: 0 is not an integer in 1..65535'],
    [doc({ peerPort: 70000 }), 'peerPort: 70000 is not an integer in 1..65535'],
    [doc({ eBGPMultihopTTL: 256 }), 'eBGPMultihopTTL: 256 is not an integer in 1..255'],
    [doc({ connectRetryTimeSeconds: 0 }), 'connectRetryTimeSeconds: 0 is not an integer'],
    // The speaker refuses more (its retry timer): the file must, or apply retries forever.
    [
      doc({ connectRetryTimeSeconds: 65536 }),
      'connectRetryTimeSeconds: 65536 is not an integer in 1..65535',
    ],
    [doc({ peerAddress: '0.0.0.0' }), "peerAddress: '0.0.0.0' is the unspecified address"],
    [doc({ peerAddress: '::/128' }), "peerAddress: '::/128' is the unspecified address"],
    [doc({ peerAddress: '255.255.255.255' }), 'is the broadcast address'],
    [doc({ peerAddress: '224.0.0.5' }), "peerAddress: '224.0.0.5' is a multicast address"],
    [doc({ peerAddress: 'ff02::5' }), "peerAddress: 'ff02::5' is a multicast address"],
    [doc({ peerAddress: '::ffff:10.0.0.1' }), 'is an IPv4-mapped address'],
    [doc({ peerAddress: 'fe80::1%eth0' }), "peerAddress: 'fe80::1%eth0' is not a peer address"],
    [doc({ maxPrefixes: 0 }), 'maxPrefixes: 0 is not an integer in 1..4294967295'],
    [doc({ maxPrefixes: '10' }), 'maxPrefixes: "10" is not an integer'],
    [
      doc({ connectRetryTimeSeconds: 65536 }),
      'connectRetryTimeSeconds: 65536 is not an integer in 1..65535',
    ],
    [
      doc({ gracefulRestart: { enabled: true, restartTimeSeconds: 4096 } }),
      'gracefulRestart.restartTimeSeconds: 4096 is not an integer in 1..4095',
    ],
    [
      doc({ gracefulRestart: { enabled: 'yes' } }),
      'gracefulRestart.enabled: "yes" is not true or false',
    ],
    [
      doc({ families: [{ afi: 'ipv5', safi: 'unicast' }] }),
      'families[0].afi: "ipv5" is not ipv4 or ipv6',
    ],
    [
      doc({ families: [{ afi: 'ipv4', safi: 'multicast' }] }),
      'families[0].safi: "multicast" is not unicast',
    ],
    [doc({ families: [] }), 'families: names no family'],
    [doc({ passive: 1 }), 'passive: 1 is not true or false'],
    [doc({ authSecretRef: 'x' }), 'authSecretRef: TCP MD5 authentication is not supported'],
    [doc({ holdtimeSeconds: 9 }), 'neighbors[0].holdtimeSeconds: unknown field'],
    [
      doc({ advertisedPathAttributes: [{ selectorType: 'Pods' }] }),
      'advertisedPathAttributes[0].selectorType: "Pods" is not PodCIDR or Service',
    ],
    [
      doc({ advertisedPathAttributes: [{ selectorType: 'CiliumLoadBalancerIPPool' }] }),
      'selectorType: CiliumLoadBalancerIPPool is not supported',
    ],
    [
      doc({
        advertisedPathAttributes: [
          { selectorType: 'Service', communities: { standard: ['65536:1'] } },
        ],
      }),
      "communities.standard[0]: '65536:1' is not a community",
    ],
    [
      doc({
        advertisedPathAttributes: [
          { selectorType: 'Service', communities: { standard: ['a:b:c'] } },
        ],
      }),
      "communities.standard[0]: 'a:b:c' is not a community",
    ],
    [
      doc({
        advertisedPathAttributes: [
          { selectorType: 'Service', communities: { wellKnown: ['no-such'] } },
        ],
      }),
      "communities.wellKnown[0]: 'no-such' is not one of internet",
    ],
    [
      doc({
        advertisedPathAttributes: [{ selectorType: 'Service', communities: { large: ['1:2'] } }],
      }),
      "communities.large[0]: '1:2' is not a large community",
    ],
    [
      doc({ advertisedPathAttributes: [{ selectorType: 'Service', localPreference: -1 }] }),
      'localPreference: -1 is not an integer',
    ],
    [
      doc({
        advertisedPathAttributes: [
          {
            selectorType: 'Service',
            selector: { matchExpressions: [{ key: 'a', operator: 'Has' }] },
          },
        ],
      }),
      "selector.matchExpressions[0].operator: 'Has' is not one of In, NotIn, Exists, DoesNotExist",
    ],
    [
      doc({
        advertisedPathAttributes: [
          {
            selectorType: 'Service',
            selector: { matchExpressions: [{ key: 'a', operator: 'In' }] },
          },
        ],
      }),
      'values: In needs at least one value',
    ],
    [
      doc({}, { serviceAdvertisements: ['NodePort'] }),
      "serviceAdvertisements[0]: 'NodePort' is not one of LoadBalancerIP, ExternalIP, ClusterIP",
    ],
    [
      doc({}, { serviceSelector: { matchLabels: { a: 1 } } }),
      'serviceSelector.matchLabels.a: must be a string',
    ],
    [doc({}, { podIPPoolSelector: {} }), 'podIPPoolSelector: multi-pool IPAM is not supported'],
    [doc({}, { exportPodCIDR: 'true' }), 'exportPodCIDR: "true" is not true or false'],
    [doc({}, {}, { nodeSelector: 'node-a' }), 'spec.nodeSelector: must be an object, not "node-a"'],
    [doc({}, {}, { extra: 1 }), 'spec.extra: unknown field'],
    [
      JSON.stringify({ kind: 'CiliumLoadBalancerIPPool', metadata: { name: 'p' } }),
      'object 1: kind: CiliumLoadBalancerIPPool is not supported',
    ],
    [
      JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'p' } }),
      'object 1: kind: "ConfigMap" is not CiliumBGPPeeringPolicy',
    ],
    [
      doc().replace('cilium.io/v2alpha1', 'cilium.io/v2'),
      'object 1: apiVersion: "cilium.io/v2" is not cilium.io/v2alpha1',
    ],
    [doc().replace('"name":"rack0"', '"name":""'), 'object 1: metadata.name: is required'],
    [`${doc()}\n---\n${doc()}`, 'rack0: metadata.name: is used by another policy'],
    [
      doc(
        {},
        {
          neighbors: [
            { peerAddress: '10.0.0.1', peerASN: 1 },
            { peerAddress: '10.0.0.1/32', peerASN: 2 },
          ],
        },
      ),
      'peerAddress: 10.0.0.1 is a neighbor of both virtual router 65001 of rack0 and virtual router 65001 of rack0',
    ],
    [
      doc({}, {}, { virtualRouters: [{ localASN: 1 }, { localASN: 1 }] }),
      'spec.virtualRouters[1].localASN: 1 is used by another virtual router',
    ],
    ['a: [1', 'document 1: not JSON or YAML'],
  ])('refuses %#, naming the file, object and field', (text, message) => {
    let err: Error | undefined;
    try {
      parsePolicyFile(text, F);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.name).toBe('PolicyFileError');
    expect(err?.message.startsWith(`${F}: `)).toBe(true);
    expect(err?.message).toContain(message);
  });
});

describe('the routers of a node', () => {
  const two = (selA: unknown, selB: unknown, asnB = 65002, peerB = '10.0.0.2'): string =>
    [
      doc({}, {}, { nodeSelector: selA }),
      doc({ peerAddress: peerB }, { localASN: asnB }, { nodeSelector: selB }).replace(
        'rack0',
        'rack1',
      ),
    ].join('\n---\n');

  it('takes the policies whose nodeSelector selects the node, merged', () => {
    const ps = parsePolicyFile(
      two(
        { matchLabels: { rack: 'r0' } },
        { matchExpressions: [{ key: 'rack', operator: 'Exists' }] },
      ),
      F,
    );
    expect(routersForNode(ps, { rack: 'r0' }, F).map((r) => r.localAsn)).toEqual([65001, 65002]);
    expect(routersForNode(ps, { rack: 'r1' }, F).map((r) => r.localAsn)).toEqual([65002]);
    expect(routersForNode(ps, {}, F)).toEqual([]);
  });

  it('refuses two selected policies defining the same router ASN or the same peer', () => {
    const sameAsn = parsePolicyFile(two(undefined, undefined, 65001), F);
    expect(() => routersForNode(sameAsn, {}, F)).toThrow(
      'CiliumBGPPeeringPolicy rack1: spec.virtualRouters.localASN: 65001 is also a virtual router of rack0',
    );
    const samePeer = parsePolicyFile(two(undefined, undefined, 65002, '10.0.0.1'), F);
    expect(() => routersForNode(samePeer, {}, F)).toThrow('10.0.0.1 is a neighbor of both');
    // Policies for different nodes may share a peer (the rack's router).
    const apart = parsePolicyFile(
      two({ matchLabels: { n: 'a' } }, { matchLabels: { n: 'b' } }, 65001, '10.0.0.1'),
      F,
    );
    expect(routersForNode(apart, { n: 'b' }, F)[0]?.policy).toBe('rack1');
  });
});
