import { describe, expect, it } from 'vitest';
import type { Model } from '../../core/api/index.js';
import { eventually } from '../../core/testing/test-hive.js';
import { Metrics } from '../metrics/index.js';
import { bgpHive, policyText, testDir, writePolicy } from './fixtures.js';
import { MemorySpeaker } from './speaker.memory.js';
import type { SpeakerParams } from './speaker/types.js';

const POLICY = policyText(
  { exportPodCIDR: true, serviceSelector: { matchLabels: { bgp: 'yes' } } },
  [
    {
      peerAddress: '10.0.0.1',
      peerASN: 65000,
      peerPort: 1790,
      gracefulRestart: { enabled: true, restartTimeSeconds: 60 },
      advertisedPathAttributes: [
        { selectorType: 'Service', communities: { standard: ['65000:100'] }, localPreference: 200 },
      ],
    },
    { peerAddress: 'fd00::2', peerASN: 65002, families: [{ afi: 'ipv6', safi: 'unicast' }] },
  ],
);

async function running() {
  const dir = testDir();
  writePolicy(dir, POLICY);
  let sp: MemorySpeaker | undefined;
  const factory = (p: SpeakerParams): MemorySpeaker => (sp = new MemorySpeaker(p));
  const h = await bgpHive({ dir, factory }).requireStart();
  const speaker = await eventually(() => sp);
  h.putLbService('web', '172.20.0.10', { bgp: 'yes' });
  await eventually(() => speaker.routesOf('10.0.0.1').length === 3);
  speaker.setState('10.0.0.1', 'established');
  return { h, speaker };
}

describe('GET /v1/bgp/*', () => {
  it("answers peers in Cilium's BgpPeer model", async () => {
    const { h } = await running();
    const r = await h.api('/bgp/peers');
    expect(r.status).toBe(200);
    const [up, down] = r.body as Model<'BgpPeer'>[];
    expect(up).toMatchObject({
      'local-asn': 65001,
      'peer-asn': 65000,
      'peer-address': '10.0.0.1',
      'peer-port': 1790,
      'session-state': 'established',
      families: [
        { afi: 'ipv4', safi: 'unicast', received: 0, accepted: 0, advertised: 2 },
        { afi: 'ipv6', safi: 'unicast', received: 0, accepted: 0, advertised: 1 },
      ],
      'configured-hold-time-seconds': 90,
      'applied-hold-time-seconds': 90,
      'connect-retry-time-seconds': 120,
      'ebgp-multihop-ttl': 1,
      'graceful-restart': { enabled: true, 'restart-time-seconds': 60 },
    });
    expect(up?.['uptime-nanoseconds']).toBeGreaterThanOrEqual(0);
    expect(down).toMatchObject({
      'peer-address': 'fd00::2',
      'session-state': 'active',
      'uptime-nanoseconds': 0,
      families: [{ afi: 'ipv6', safi: 'unicast', advertised: 0 }],
    });
  });

  it("spells the OPEN states as Cilium does: 'open_sent', 'open_confirm'", async () => {
    const { h, speaker } = await running();
    const state = async (): Promise<string | undefined> =>
      ((await h.api('/bgp/peers')).body as Model<'BgpPeer'>[])[0]?.['session-state'];
    speaker.setState('10.0.0.1', 'opensent');
    expect(await state()).toBe('open_sent');
    speaker.setState('10.0.0.1', 'openconfirm');
    expect(await state()).toBe('open_confirm');
  });

  it('answers routes: loc-rib (what the routers originate) and adj-rib-out per neighbor', async () => {
    const { h } = await running();
    const loc = await h.api('/bgp/routes?table_type=loc-rib&afi=ipv4&safi=unicast');
    expect(loc.status).toBe(200);
    const routes = loc.body as Model<'BgpRoute'>[];
    expect(routes.map((r) => [r['router-asn'], r.prefix])).toEqual([
      [65001, '10.1.0.0/24'],
      [65001, '172.20.0.10/32'],
    ]);
    const path = routes[0]?.paths[0];
    expect(path).toMatchObject({
      family: { afi: 'ipv4', safi: 'unicast' },
      best: true,
      stale: false,
    });
    // NLRI: 24 bits, then 10.1.0.
    expect(Buffer.from(path?.nlri?.base64 ?? '', 'base64')).toEqual(Buffer.from([24, 10, 1, 0]));
    const attrs = (path?.['path-attributes'] ?? []).map((a) =>
      Buffer.from(a.base64 ?? '', 'base64'),
    );
    // ORIGIN IGP, AS_PATH empty, NEXT_HOP 192.0.2.1.
    expect(attrs).toEqual([
      Buffer.from([0x40, 1, 1, 0]),
      Buffer.from([0x40, 2, 0]),
      Buffer.from([0x40, 3, 4, 192, 0, 2, 1]),
    ]);
    const v6 = await h.api('/bgp/routes?table_type=loc-rib&afi=ipv6&safi=unicast&router_asn=65001');
    expect((v6.body as Model<'BgpRoute'>[]).map((r) => r.prefix)).toEqual(['fd00:1::/112']);

    const out = await h.api(
      '/bgp/routes?table_type=adj-rib-out&afi=ipv4&safi=unicast&neighbor=10.0.0.1',
    );
    expect((out.body as Model<'BgpRoute'>[]).map((r) => [r.neighbor, r.prefix])).toEqual([
      ['10.0.0.1', '10.1.0.0/24'],
      ['10.0.0.1', '172.20.0.10/32'],
    ]);
    const all = await h.api('/bgp/routes?table_type=adj-rib-in&afi=ipv6&safi=unicast');
    expect(all).toEqual({ status: 200, body: [] });
    // A neighbor written another way is the same neighbor (before: 404 for fd00:0::2).
    const v6b = await h.api(
      '/bgp/routes?table_type=adj-rib-out&afi=ipv6&safi=unicast&neighbor=FD00:0::2',
    );
    expect(v6b).toEqual({ status: 200, body: [] }); // not established: nothing sent yet
  });

  it.each([
    [
      '/bgp/routes?table_type=loc-rib&afi=ipv5&safi=unicast',
      400,
      "afi: 'ipv5' is not ipv4 or ipv6",
    ],
    [
      '/bgp/routes?table_type=loc-rib&afi=ipv4&safi=multicast',
      400,
      "safi: 'multicast' is not unicast",
    ],
    ['/bgp/routes?table_type=rib&afi=ipv4&safi=unicast', 400, 'table_type'],
    ['/bgp/routes?table_type=loc-rib&afi=ipv4&safi=unicast&router_asn=x', 400, 'router_asn'],
    [
      '/bgp/routes?table_type=loc-rib&afi=ipv4&safi=unicast&router_asn=7',
      404,
      'router_asn: no virtual router with local ASN 7',
    ],
    [
      '/bgp/routes?table_type=adj-rib-out&afi=ipv4&safi=unicast&neighbor=10.9.9.9',
      404,
      'neighbor: 10.9.9.9 is not a neighbor',
    ],
    ['/bgp/route-policies?router_asn=7', 404, 'router_asn: no virtual router with local ASN 7'],
    // Before: 404 "no virtual router with local ASN -1" / "...ASN 100000000000000000000".
    [
      '/bgp/routes?table_type=loc-rib&afi=ipv4&safi=unicast&router_asn=-1',
      400,
      'router_asn: -1 is not an ASN (1..4294967295)',
    ],
    [
      '/bgp/routes?table_type=loc-rib&afi=ipv4&safi=unicast&router_asn=99999999999999999999',
      400,
      'is not an ASN',
    ],
    ['/bgp/route-policies?router_asn=0', 400, 'router_asn: 0 is not an ASN'],
    [
      '/bgp/routes?table_type=adj-rib-in&afi=ipv4&safi=unicast&neighbor=not-an-ip',
      400,
      "neighbor: 'not-an-ip' is not an IP address",
    ],
  ])('GET %s → %i naming the parameter', async (path, status, message) => {
    const { h } = await running();
    const r = await h.api(path);
    expect(r.status).toBe(status);
    expect(String(r.body)).toContain(message);
  });

  it('answers route policies: export per neighbor with its attributes, import rejecting all', async () => {
    const { h } = await running();
    const r = await h.api('/bgp/route-policies');
    expect(r.status).toBe(200);
    const [exp, imp] = r.body as Model<'BgpRoutePolicy'>[];
    expect(exp).toMatchObject({
      'router-asn': 65001,
      name: 'cellium-export-65001',
      type: 'export',
    });
    expect(exp?.statements).toEqual([
      {
        conditions: {
          'match-neighbors': ['10.0.0.1/32'],
          'match-prefixes': [{ cidr: '10.1.0.0/24', 'prefix-len-min': 24, 'prefix-len-max': 24 }],
        },
        source: 'PodCIDR',
        actions: { 'route-action': 'accept', 'set-next-hop': '192.0.2.1' },
      },
      {
        conditions: {
          'match-neighbors': ['10.0.0.1/32'],
          'match-prefixes': [
            { cidr: '172.20.0.10/32', 'prefix-len-min': 32, 'prefix-len-max': 32 },
          ],
        },
        source: 'Service default/web',
        actions: {
          'route-action': 'accept',
          'add-communities': ['65000:100'],
          'set-local-preference': 200,
          'set-next-hop': '192.0.2.1',
        },
      },
      {
        conditions: {
          'match-neighbors': ['10.0.0.1/32'],
          'match-prefixes': [
            { cidr: 'fd00:1::/112', 'prefix-len-min': 112, 'prefix-len-max': 112 },
          ],
        },
        source: 'PodCIDR',
        actions: { 'route-action': 'accept', 'set-next-hop': '2001:db8::1' },
      },
      {
        conditions: {
          'match-neighbors': ['fd00::2/128'],
          'match-prefixes': [
            { cidr: 'fd00:1::/112', 'prefix-len-min': 112, 'prefix-len-max': 112 },
          ],
        },
        source: 'PodCIDR',
        actions: { 'route-action': 'accept', 'set-next-hop': '2001:db8::1' },
      },
      {
        conditions: { 'match-neighbors': ['10.0.0.1/32', 'fd00::2/128'] },
        actions: { 'route-action': 'reject' },
      },
    ]);
    expect(imp).toMatchObject({ name: 'cellium-import-65001', type: 'import' });
  });
});

describe('cellium_bgp_* metrics', () => {
  it('reads session states and route counts from the speaker', async () => {
    const { h } = await running();
    const text = await h.get(Metrics).registry.metrics();
    expect(text).toContain(
      'cellium_bgp_session_state{neighbor="10.0.0.1",peer_asn="65000",local_asn="65001",state="established"} 1',
    );
    expect(text).toContain(
      'cellium_bgp_session_state{neighbor="10.0.0.1",peer_asn="65000",local_asn="65001",state="active"} 0',
    );
    expect(text).toContain(
      'cellium_bgp_session_state{neighbor="fd00::2",peer_asn="65002",local_asn="65001",state="active"} 1',
    );
    expect(text).toContain(
      'cellium_bgp_advertised_routes{neighbor="10.0.0.1",family="ipv4-unicast"} 2',
    );
    expect(text).toContain(
      'cellium_bgp_advertised_routes{neighbor="10.0.0.1",family="ipv6-unicast"} 1',
    );
    expect(text).toContain(
      'cellium_bgp_received_routes{neighbor="10.0.0.1",family="ipv4-unicast"} 0',
    );
  });
});
