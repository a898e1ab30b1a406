// The codec against gobgpd on loopback: gobgpd takes what the codec encodes (an OPEN with a
// 4-octet AS, 1,000 packed IPv4 and IPv6 routes with communities, End-of-RIB, withdrawals; a
// 2-octet session's AS4_PATH) and the codec decodes what gobgpd sends. No root: random
// loopback ports, pprof off.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kernelSuite } from '../../../core/testing/kernel.js';
import { freePort } from '../../../core/testing/ports.js';
import { packUpdates } from './pack.js';
import { ATTRS, exec, MY_AS, RawSession, Router, V4, V6 } from './router-harness.js';
import type { PathAttrs, UpdateMsg } from './types.js';

kernelSuite('codec against gobgpd', { root: false, commands: ['gobgpd', 'gobgp'] }, () => {
  const r = new Router();
  let api = 0;
  let port = 0;
  const gobgp = async (...args: string[]) =>
    (await exec('gobgp', ['-u', '127.0.0.1', '-p', String(api), ...args])).stdout;
  const count = async (afi: string) =>
    Number(/Destination: (\d+)/.exec(await gobgp('global', 'rib', 'summary', '-a', afi))?.[1]);

  beforeAll(async () => {
    [api, port] = [await freePort(), await freePort()];
    const conf = join(r.dir, 'gobgpd.toml');
    writeFileSync(
      conf,
      `[global.config]
  as = 65000
  router-id = "127.0.0.2"
  port = ${port}
  local-address-list = ["127.0.0.2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.1"
    peer-as = ${MY_AS}
  [neighbors.transport.config]
    passive-mode = true
    local-address = "127.0.0.2"
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.5"
    peer-as = 65001
  [neighbors.transport.config]
    passive-mode = true
    local-address = "127.0.0.2"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`,
    );
    r.start('gobgpd', ['-f', conf, '--api-hosts', `127.0.0.1:${api}`, '--pprof-disable', '-p']);
    await r.until("gobgpd's API", async () => (await gobgp('global')).includes('65000'));
    await gobgp(
      'global',
      'rib',
      'add',
      '10.10.0.0/24',
      '-a',
      'ipv4',
      'origin',
      'igp',
      'community',
      '65000:100',
      'large-community',
      '65000:1:2',
      'med',
      '10',
    );
    await gobgp('global', 'rib', 'add', 'fd00:10::/64', '-a', 'ipv6', 'origin', 'igp');
    await gobgp(
      'global',
      'rib',
      'add',
      '10.30.0.0/24',
      '-a',
      'ipv4',
      'origin',
      'igp',
      'aspath',
      '4200000005,65010',
    );
  });
  afterAll(() => r.stop());

  it('exchanges OPENs: gobgpd reads the 4-octet AS, the codec reads its capabilities', async () => {
    const [s, open] = await RawSession.establish('127.0.0.2', port);
    r.session = s;
    expect(open).toMatchObject({ version: 4, myAs: 65000, bgpId: '127.0.0.2', holdTimeSec: 90 });
    expect(open.caps).toMatchObject({ routeRefresh: true, as4: 65000 });
    expect(new Set(open.caps.multiprotocol)).toEqual(new Set(['ipv4-unicast', 'ipv6-unicast']));
    expect(open.caps.gracefulRestart?.restartTimeSec).toBe(120);
    await r.until('Established in gobgpd', async () => /Establ/.test(await gobgp('neighbor')));
  });

  it("decodes gobgpd's routes with their attributes and End-of-RIB", async () => {
    const got = await r.session!.routes();
    expect(got.get('10.10.0.0/24')?.attrs).toMatchObject({
      origin: 0,
      asPath: [{ type: 2, asns: [65000] }],
      nextHop: '127.0.0.2',
      med: 10,
      communities: [0xfde80064],
      largeCommunities: [[65000, 1, 2]],
    });
    expect(got.get('fd00:10::/64')?.attrs?.asPath).toEqual([{ type: 2, asns: [65000] }]);
    expect(got.get('fd00:10::/64')?.mpReach?.nextHops.length).toBeGreaterThan(0);
  });

  it('gobgpd takes 1,000 packed IPv4 and IPv6 routes with their attributes, then their withdrawal', async () => {
    r.session!.announce('192.0.2.9', 'fd00::9');
    await r.until('1,001 IPv4 routes in gobgpd', async () => (await count('ipv4')) === 1002);
    await r.until('1,001 IPv6 routes in gobgpd', async () => (await count('ipv6')) === 1001);
    for (const [afi, prefix, nh] of [
      ['ipv4', V4[999]!, '192.0.2.9'],
      ['ipv6', V6[999]!, 'fd00::9'],
    ] as const) {
      const route = await gobgp('global', 'rib', '-a', afi, prefix);
      for (const text of [nh, String(MY_AS), '65001:1', `${MY_AS}:7:8`])
        expect(route).toContain(text);
    }
    r.session!.withdraw();
    await r.until(
      'the withdrawals in gobgpd',
      async () => (await count('ipv4')) === 2 && (await count('ipv6')) === 1,
    );
  });

  it('a 2-octet session (RFC 6793): both sides put 4-octet ASNs in AS4_PATH behind AS_TRANS', async () => {
    const [old, open] = await RawSession.establish('127.0.0.2', port, '127.0.0.5', false);
    try {
      expect(open.caps.as4).toBe(65000);
      const route = await old.waitFor(
        '10.30.0.0/24',
        (m): m is UpdateMsg => m.type === 'update' && m.nlri.includes('10.30.0.0/24'),
      );
      // gobgpd sent AS_PATH 65000 23456 65010 and AS4_PATH 65000 4200000005 65010: merged back.
      expect(route.attrs?.asPath).toEqual([{ type: 2, asns: [65000, 4200000005, 65010] }]);
      const attrs: PathAttrs = { ...ATTRS, asPath: [{ type: 2, asns: [65001, MY_AS] }] };
      old.send(
        packUpdates(
          'ipv4-unicast',
          [{ prefix: '10.40.0.0/24', nextHop: '192.0.2.9', attrs }],
          old.ctx,
        ),
      );
      await r.until('the 2-octet session route in gobgpd', async () =>
        (await gobgp('global', 'rib', '-a', 'ipv4', '10.40.0.0/24')).includes(`65001 ${MY_AS}`),
      );
    } finally {
      old.sock.destroy();
    }
  });
});
