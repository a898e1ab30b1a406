import { describe, expect, it } from 'vitest';
import type { Frontend, FrontendBackend, Service, ServiceType } from '../loadbalancer/index.js';
import { computeAdvertisements, hostPrefix, type AdvertiseInput } from './advertise.js';
import { k8sService } from './fixtures.js';
import { parsePolicyFile, type VirtualRouter } from './policy-file.js';

const service = (name: string, o: Partial<Service> = {}): Service =>
  k8sService(name, { labels: { bgp: 'announce' }, ...o });

function backend(nodeName: string, state: FrontendBackend['state'] = 'active'): FrontendBackend {
  return {
    key: `10.1.0.9:80/TCP`,
    id: 1,
    ip: '10.1.0.9',
    port: 80,
    protocol: 'tcp',
    state,
    weight: 100,
    zone: '',
    nodeName,
  };
}

function frontend(
  ip: string,
  type: ServiceType,
  svc: Service,
  backends: FrontendBackend[] = [],
  port = 80,
): Frontend {
  return {
    key: `${ip}:${port}`,
    address: { ip, port, protocol: 'tcp', scope: 'external' },
    type,
    serviceKey: svc.key,
    portName: '',
    id: 1,
    service: svc,
    backends,
    status: { kind: 'done' } as unknown as Frontend['status'],
  };
}

function routers(router: Record<string, unknown>, neighbors?: unknown[]): VirtualRouter[] {
  const text = JSON.stringify({
    kind: 'CiliumBGPPeeringPolicy',
    metadata: { name: 'p' },
    spec: {
      virtualRouters: [
        {
          localASN: 65001,
          neighbors: neighbors ?? [{ peerAddress: '10.0.0.1', peerASN: 65000 }],
          ...router,
        },
      ],
    },
  });
  return parsePolicyFile(text, 'f')[0]?.virtualRouters.slice() ?? [];
}

function input(rs: VirtualRouter[], frontends: Frontend[] = []): AdvertiseInput {
  return {
    routers: rs,
    podCidrs: ['10.1.0.0/24', 'fd00:1::/64'],
    frontends,
    nodeName: 'node-a',
    nodeLabels: { 'kubernetes.io/hostname': 'node-a', rack: 'r0' },
    nextHop: { ipv4: '192.0.2.1', ipv6: '2001:db8::1' },
  };
}

const prefixes = (i: AdvertiseInput, n = 0): string[] =>
  computeAdvertisements(i)[n]?.routes.map((r) => r.prefix) ?? [];

describe('advertisements', () => {
  it('exports the pod CIDRs of each family the neighbor carries, with the node next hop', () => {
    const all = computeAdvertisements(input(routers({ exportPodCIDR: true })));
    expect(all).toHaveLength(1);
    expect(all[0]?.routes).toEqual([
      {
        prefix: '10.1.0.0/24',
        nextHop: '192.0.2.1',
        communities: [],
        largeCommunities: [],
        source: { kind: 'PodCIDR' },
      },
      {
        prefix: 'fd00:1::/64',
        nextHop: '2001:db8::1',
        communities: [],
        largeCommunities: [],
        source: { kind: 'PodCIDR' },
      },
    ]);
    const v4only = routers({ exportPodCIDR: true }, [
      { peerAddress: '10.0.0.1', peerASN: 65000, families: [{ afi: 'ipv4', safi: 'unicast' }] },
    ]);
    expect(prefixes(input(v4only))).toEqual(['10.1.0.0/24']);
    expect(prefixes(input(routers({ exportPodCIDR: false })))).toEqual([]);
  });

  it('advertises selected services by type as asked: LoadBalancer (default), ExternalIP, ClusterIP', () => {
    const s = service('web');
    const fes = [
      frontend('10.96.0.10', 'ClusterIP', s),
      frontend('172.20.0.10', 'LoadBalancer', s),
      frontend('172.20.0.10', 'LoadBalancer', s, [], 443), // another port: one route
      frontend('fd00:20::10', 'LoadBalancer', s),
      frontend('198.51.100.7', 'ExternalIPs', s),
      frontend('0.0.0.0', 'NodePort', s),
    ];
    const sel = { serviceSelector: { matchLabels: { bgp: 'announce' } } };
    expect(prefixes(input(routers(sel), fes))).toEqual(['172.20.0.10/32', 'fd00:20::10/128']);
    expect(
      prefixes(input(routers({ ...sel, serviceAdvertisements: ['ExternalIP', 'ClusterIP'] }), fes)),
    ).toEqual(['10.96.0.10/32', '198.51.100.7/32']);
    // No serviceSelector: no service; one that selects nothing likewise.
    expect(prefixes(input(routers({}), fes))).toEqual([]);
    expect(
      prefixes(input(routers({ serviceSelector: { matchLabels: { bgp: 'no' } } }), fes)),
    ).toEqual([]);
    const route = computeAdvertisements(input(routers(sel), fes))[0]?.routes[0];
    expect(route?.source).toEqual({ kind: 'Service', services: ['default/web'] });
  });

  it('matches serviceSelector against the labels plus io.kubernetes.service.name/namespace', () => {
    const a = service('a', { labels: undefined }); // REST-created: no labels
    const b = service('b', { namespace: 'prod', key: 'prod/b', labels: {} });
    const fes = [
      frontend('172.20.0.1', 'LoadBalancer', a),
      frontend('172.20.0.2', 'LoadBalancer', b),
    ];
    const by = (l: Record<string, string>): string[] =>
      prefixes(input(routers({ serviceSelector: { matchLabels: l } }), fes));
    expect(by({ 'io.kubernetes.service.name': 'a' })).toEqual(['172.20.0.1/32']);
    expect(by({ 'io.kubernetes.service.namespace': 'prod' })).toEqual(['172.20.0.2/32']);
    expect(by({})).toEqual(['172.20.0.1/32', '172.20.0.2/32']);
  });

  it('with a Local traffic policy, advertises only while an active backend is on this node', () => {
    const sel = { serviceSelector: {}, serviceAdvertisements: ['LoadBalancerIP', 'ClusterIP'] };
    const ext = service('ext', { extTrafficPolicy: 'Local' });
    const int = service('int', { intTrafficPolicy: 'Local' });
    const at = (ip: string, type: ServiceType, s: Service, b: FrontendBackend[]): string[] =>
      prefixes(input(routers(sel), [frontend(ip, type, s, b)]));
    expect(at('172.20.0.1', 'LoadBalancer', ext, [backend('node-b')])).toEqual([]);
    expect(at('172.20.0.1', 'LoadBalancer', ext, [backend('node-a', 'terminating')])).toEqual([]);
    expect(at('172.20.0.1', 'LoadBalancer', ext, [backend('node-b'), backend('node-a')])).toEqual([
      '172.20.0.1/32',
    ]);
    // externalTrafficPolicy does not govern ClusterIPs; internalTrafficPolicy does.
    expect(at('10.96.0.1', 'ClusterIP', ext, [])).toEqual(['10.96.0.1/32']);
    expect(at('10.96.0.2', 'ClusterIP', int, [backend('node-b')])).toEqual([]);
    expect(at('10.96.0.2', 'ClusterIP', int, [backend('node-a')])).toEqual(['10.96.0.2/32']);
    // Cluster policy: advertised whatever the backends (as Cilium).
    expect(at('172.20.0.3', 'LoadBalancer', service('c'), [])).toEqual(['172.20.0.3/32']);
  });

  it('applies path attributes per neighbor to the prefixes their selectors match', () => {
    const web = service('web', { labels: { bgp: 'announce', tier: 'web' } });
    const db = service('db', { labels: { bgp: 'announce', tier: 'db' } });
    const rs = routers({ exportPodCIDR: true, serviceSelector: {} }, [
      {
        peerAddress: '10.0.0.1',
        peerASN: 65001, // iBGP: local preference is sent
        families: [{ afi: 'ipv4', safi: 'unicast' }],
        advertisedPathAttributes: [
          { selectorType: 'PodCIDR', communities: { standard: ['65000:1'] } },
          {
            selectorType: 'PodCIDR',
            selector: { matchLabels: { rack: 'r9' } }, // not this node: not applied
            communities: { standard: ['65000:9'] },
          },
          {
            selectorType: 'Service',
            selector: { matchLabels: { tier: 'web' } },
            communities: { wellKnown: ['no-export'], large: ['65000:2:2'] },
            localPreference: 150,
          },
          { selectorType: 'Service', localPreference: 120 },
        ],
      },
      { peerAddress: '10.0.0.2', peerASN: 65000, families: [{ afi: 'ipv4', safi: 'unicast' }] },
    ]);
    const out = computeAdvertisements(
      input(rs, [
        frontend('172.20.0.1', 'LoadBalancer', web),
        frontend('172.20.0.2', 'LoadBalancer', db),
      ]),
    );
    const [n1, n2] = out;
    expect(
      n1?.routes.map((r) => [r.prefix, r.communities, r.largeCommunities, r.localPref]),
    ).toEqual([
      ['10.1.0.0/24', [65000 * 65536 + 1], [], undefined],
      ['172.20.0.1/32', [0xffffff01], [[65000, 2, 2]], 150],
      ['172.20.0.2/32', [], [], 120],
    ]);
    expect(n2?.neighbor).toBe('10.0.0.2');
    expect(n2?.routes.every((r) => r.communities.length === 0 && r.localPref === undefined)).toBe(
      true,
    );
  });

  it('leaves the next hop to the speaker when the node has no address of the family', () => {
    const i = { ...input(routers({ exportPodCIDR: true })), nextHop: { ipv4: '192.0.2.1' } };
    const v6 = computeAdvertisements(i)[0]?.routes.find((r) => r.prefix.includes(':'));
    expect(v6 && 'nextHop' in v6).toBe(false);
  });

  it('makes host routes of addresses, never of the unspecified one', () => {
    expect(hostPrefix('10.0.0.1')).toBe('10.0.0.1/32');
    expect(hostPrefix('fd00::1')).toBe('fd00::1/128');
    expect(hostPrefix('FD00:0::1')).toBe('fd00::1/128');
    expect(hostPrefix('0.0.0.0')).toBeUndefined();
    expect(hostPrefix('::')).toBeUndefined();
  });
});
