// `cellium bgp peers|routes|route-policies` and the BGP line of `cellium status`, against the
// bgp cell with a speaker double (sessions set by the test); argument errors exit non-zero.
import { describe, expect, it } from 'vitest';
import type { Model } from '../core/api/types.js';
import { eventually } from '../core/testing/test-hive.js';
import { bgpHive, policyText, testDir, writePolicy } from '../cells/bgp/fixtures.js';
import { MemorySpeaker } from '../cells/bgp/speaker.memory.js';
import { neighbor, startSpeaker } from '../cells/bgp/speaker/fixtures.js';
import { newSpeaker } from '../cells/bgp/speaker/index.js';
import type { SpeakerParams } from '../cells/bgp/speaker/types.js';
import { duration, parseRoutesArgs } from '../cells/cmd/cli/bgp.js';
import { attrText } from '../cells/cmd/cli/bgp-attrs.js';
import { cellium, celliumJson } from './support/cli.js';

async function agent() {
  const dir = testDir();
  writePolicy(
    dir,
    policyText({ exportPodCIDR: true, serviceSelector: {} }, [
      {
        peerAddress: '10.0.0.1',
        peerASN: 65000,
        advertisedPathAttributes: [
          { selectorType: 'PodCIDR', communities: { standard: ['65000:7'] } },
        ],
      },
    ]),
  );
  let sp: MemorySpeaker | undefined;
  const h = await bgpHive({
    dir,
    factory: (p: SpeakerParams) => (sp = new MemorySpeaker(p)),
  }).requireStart();
  const speaker = await eventually(() => sp);
  h.putLbService('web', '172.20.0.10', {});
  await eventually(() => speaker.routesOf('10.0.0.1').length === 3);
  speaker.setState('10.0.0.1', 'established');
  return { h, socket: h.socket };
}

describe('cellium bgp', () => {
  it('parses routes arguments as cilium-dbg, naming the bad one', () => {
    expect(parseRoutesArgs(['available', 'ipv4', 'unicast'])).toEqual({
      table: 'loc-rib',
      afi: 'ipv4',
      safi: 'unicast',
    });
    expect(
      parseRoutesArgs(['advertised', 'ipv6', 'unicast', 'vrouter', '65001', 'peer', 'fd00::1']),
    ).toEqual({
      table: 'adj-rib-out',
      afi: 'ipv6',
      safi: 'unicast',
      routerAsn: 65001,
      neighbor: 'fd00::1',
    });
    expect(
      parseRoutesArgs(['advertised', 'ipv4', 'unicast', 'neighbor', '10.0.0.1']).neighbor,
    ).toBe('10.0.0.1');
    for (const [args, message] of [
      [[], "table '' is not available or advertised"],
      [['received', 'ipv4', 'unicast'], "table 'received' is not available or advertised"],
      [['available', 'ipv5', 'unicast'], "afi 'ipv5' is not ipv4 or ipv6"],
      [['available', 'ipv4', 'multicast'], "safi 'multicast' is not unicast"],
      [['available', 'ipv4', 'unicast', 'vrouter', 'x'], "vrouter: 'x' is not an ASN"],
      [['available', 'ipv4', 'unicast', 'vrouter', '0'], "vrouter: '0' is not an ASN"],
      [['advertised', 'ipv4', 'unicast', 'peer'], 'peer: an address is missing'],
      [
        ['available', 'ipv4', 'unicast', 'router', '1'],
        "'router' is not vrouter, peer or neighbor",
      ],
      [['available', 'ipv4', 'unicast', 'peer', '10.0.0.1'], 'available routes are the router'],
    ] as const) {
      expect(() => parseRoutesArgs(args), args.join(' ')).toThrow(message);
    }
  });

  it('prints attributes as GoBGP does', () => {
    expect(attrText(Uint8Array.from([0x40, 1, 1, 0]))).toBe('{Origin: i}');
    expect(attrText(Uint8Array.from([0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9]))).toBe('{AsPath: 65001}');
    // As sent on a 2-octet session: the 4-octet reading does not add up.
    expect(attrText(Uint8Array.from([0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0xfd, 0xe8]))).toBe(
      '{AsPath: 65001 65000}',
    );
    expect(attrText(Uint8Array.from([0xc0, 8, 4, 0xfd, 0xe8, 0, 7]))).toBe(
      '{Communities: 65000:7}',
    );
    const mp = [
      0x80,
      14,
      25,
      0,
      2,
      1,
      16,
      0x20,
      0x01,
      0x0d,
      0xb8,
      ...Array<number>(11).fill(0),
      1,
      0,
      0,
    ];
    expect(attrText(Uint8Array.from(mp))).toBe('{MpReach(ipv6-unicast): {Nexthop: 2001:db8::1}}');
  });

  it("prints uptimes and ages as cilium-dbg does (Go's Duration rounded to the second)", () => {
    const s = 1e9;
    expect(
      [0, 0.4 * s, 0.6 * s, 59 * s, 60 * s, 3599 * s, 3600 * s, 93784 * s].map(duration),
    ).toEqual(['0s', '0s', '1s', '59s', '1m0s', '59m59s', '1h0m0s', '26h3m4s']);
  });

  it('lists peers, routes and policies (tables and -o json); bad arguments exit non-zero', async () => {
    const { socket } = await agent();
    const peers = await cellium(socket, 'bgp', 'peers');
    expect(peers.code).toBe(0);
    const lines = peers.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^Local AS\s+Peer AS\s+Peer Address\s+Session State\s+Uptime\s+Family\s+Received\s+Advertised$/,
    );
    expect(lines[1]).toMatch(
      /^65001\s+65000\s+10\.0\.0\.1:179\s+established\s+\d+s\s+ipv4\/unicast\s+0\s+2$/,
    );
    expect(lines[2]).toMatch(/^\s+ipv6\/unicast\s+0\s+1$/);
    const json = await celliumJson<Model<'BgpPeer'>[]>(socket, 'bgp', 'peers');
    expect(json.map((p) => p['peer-address'])).toEqual(['10.0.0.1']);

    const avail = await cellium(socket, 'bgp', 'routes', 'available', 'ipv4', 'unicast');
    expect(avail.code).toBe(0);
    expect(avail.stdout).toMatch(/^VRouter\s+Prefix\s+NextHop\s+Age\s+Attrs$/m);
    expect(avail.stdout).toMatch(
      /^65001\s+10\.1\.0\.0\/24\s+192\.0\.2\.1\s+\d+s\s+\[\{Origin: i\} \{AsPath: \} \{Nexthop: 192\.0\.2\.1\}\]$/m,
    );
    expect(avail.stdout).toMatch(/^65001\s+172\.20\.0\.10\/32\s+192\.0\.2\.1/m);
    const adv = await celliumJson<Model<'BgpRoute'>[]>(
      socket,
      'bgp',
      'routes',
      'advertised',
      'ipv4',
      'unicast',
      'peer',
      '10.0.0.1',
    );
    expect(adv.map((r) => r.prefix)).toEqual(['10.1.0.0/24', '172.20.0.10/32']);

    const pol = await cellium(socket, 'bgp', 'route-policies', 'vrouter', '65001');
    expect(pol.code).toBe(0);
    expect(pol.stdout).toMatch(
      /^65001\s+cellium-export-65001\s+export\s+10\.0\.0\.1\/32\s+10\.1\.0\.0\/24 \(24\.\.24\)\s+accept\s+add-communities: 65000:7/m,
    );

    const bad = await cellium(socket, 'bgp', 'routes', 'available', 'ipv5', 'unicast');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("afi 'ipv5' is not ipv4 or ipv6");
    const unknown = await cellium(
      socket,
      'bgp',
      'routes',
      'advertised',
      'ipv4',
      'unicast',
      'peer',
      '10.9.9.9',
    );
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('neighbor: 10.9.9.9 is not a neighbor');
    const badPolicy = await cellium(socket, 'bgp', 'route-policies', 'asn', '1');
    expect(badPolicy.code).not.toBe(0);
    expect(badPolicy.stderr).toContain("'asn 1' is not vrouter <asn>");

    const status = await cellium(socket, 'status');
    expect(status.stdout).toMatch(/^BGP:\s+Ok\s+1\/1 peers established$/m);
  });
});

describe('cellium bgp routes advertised, with the real speaker', () => {
  it('prints what the speaker sent as GoBGP would: AS path, next hop, communities', async () => {
    const router = await startSpeaker('127.0.0.2', '10.8.8.8', () => [
      neighbor({ address: '127.0.0.1', port: 179, passive: true, localAsn: 65000, peerAsn: 65001 }),
    ]);
    const dir = testDir();
    writePolicy(
      dir,
      policyText({ exportPodCIDR: true }, [
        {
          peerAddress: '127.0.0.2',
          peerASN: 65000,
          peerPort: router.port,
          connectRetryTimeSeconds: 1,
          families: [{ afi: 'ipv4', safi: 'unicast' }],
          advertisedPathAttributes: [
            { selectorType: 'PodCIDR', communities: { standard: ['65000:7'], large: ['1:2:3'] } },
          ],
        },
      ]),
    );
    const h = await bgpHive({
      dir,
      factory: newSpeaker,
      flags: { 'bgp-router-id': '10.9.9.9' },
    }).requireStart();
    await eventually(() => router.speaker.ribIn('127.0.0.1', 'ipv4-unicast').length === 1, 60_000);
    const out = await cellium(h.socket, 'bgp', 'routes', 'advertised', 'ipv4', 'unicast');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^VRouter\s+Peer\s+Prefix\s+NextHop\s+Age\s+Attrs$/m);
    expect(out.stdout).toMatch(
      /^65001\s+127\.0\.0\.2\s+10\.1\.0\.0\/24\s+192\.0\.2\.1\s+\d+s\s+\[\{Origin: i\} \{AsPath: 65001\} \{Nexthop: 192\.0\.2\.1\} \{Communities: 65000:7\} \{LargeCommunity: 1:2:3\}\]$/m,
    );
  });
});
