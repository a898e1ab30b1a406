// The codec against BIRD on loopback: BIRD takes what the codec encodes (an OPEN with a
// 4-octet AS, 1,000 packed IPv4 and IPv6 routes with communities, End-of-RIB, withdrawals)
// and the codec decodes what BIRD sends. No root: a random loopback port, no kernel protocol.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kernelSuite } from '../../../core/testing/kernel.js';
import { freePort } from '../../../core/testing/ports.js';
import { exec, MY_AS, RawSession, Router, V6 } from './router-harness.js';

kernelSuite('codec against BIRD', { root: false, commands: ['bird', 'birdc'] }, () => {
  const r = new Router();
  let port = 0;
  const birdc = async (...args: string[]) =>
    (await exec('birdc', ['-s', join(r.dir, 'bird.ctl'), ...args])).stdout;
  const count = async (table: string) =>
    Number(
      new RegExp(`(\\d+) of \\d+ routes for \\d+ networks in table ${table}`).exec(
        await birdc('show', 'route', 'protocol', 'peer', 'count'),
      )?.[1] ?? 0,
    );

  beforeAll(async () => {
    port = await freePort();
    writeFileSync(
      join(r.dir, 'bird.conf'),
      `router id 127.0.0.3;
protocol device {}
protocol static s4 { ipv4; route 10.20.0.0/24 unreachable { bgp_community.add((65000,200)); bgp_large_community.add((65000,3,4)); }; }
protocol static s6 { ipv6; route fd00:20::/64 unreachable; }
protocol bgp peer {
  local 127.0.0.3 port ${port} as 65000;
  neighbor 127.0.0.1 as ${MY_AS};
  multihop;
  passive on;
  graceful restart on;
  ipv4 { import all; export all; };
  ipv6 { import all; export all; next hop address fd00::3; };
}
`,
    );
    r.start('bird', [
      '-f',
      '-c',
      join(r.dir, 'bird.conf'),
      '-s',
      join(r.dir, 'bird.ctl'),
      '-P',
      join(r.dir, 'bird.pid'),
    ]);
    await r.until("BIRD's control socket", async () =>
      (await birdc('show', 'status')).includes('Daemon is up'),
    );
  });
  afterAll(() => r.stop());

  it('exchanges OPENs: BIRD reads the 4-octet AS, the codec reads its capabilities', async () => {
    const [s, open] = await RawSession.establish('127.0.0.3', port);
    r.session = s;
    expect(open).toMatchObject({ version: 4, myAs: 65000, bgpId: '127.0.0.3' });
    expect(open.caps).toMatchObject({ routeRefresh: true, as4: 65000 });
    expect(new Set(open.caps.multiprotocol)).toEqual(new Set(['ipv4-unicast', 'ipv6-unicast']));
    expect(open.caps.gracefulRestart).toMatchObject({ restarting: false, restartTimeSec: 120 });
    await r.until('Established in BIRD', async () =>
      /Established/.test(await birdc('show', 'protocols', 'peer')),
    );
  });

  it("decodes BIRD's routes with their attributes and End-of-RIB", async () => {
    const got = await r.session!.routes();
    expect(got.get('10.20.0.0/24')?.attrs).toMatchObject({
      origin: 0,
      asPath: [{ type: 2, asns: [65000] }],
      nextHop: '127.0.0.3',
      communities: [0xfde800c8],
      largeCommunities: [[65000, 3, 4]],
    });
    expect(got.get('fd00:20::/64')?.mpReach?.nextHops[0]).toBe('fd00::3');
  });

  it('BIRD takes 1,000 packed IPv4 and IPv6 routes with their attributes, then their withdrawal', async () => {
    r.session!.announce('192.0.2.9', 'fd00::9');
    await r.until(
      '1,000 routes of each family in BIRD',
      async () => (await count('master4')) === 1000 && (await count('master6')) === 1000,
    );
    const route = await birdc('show', 'route', 'all', V6[999]!);
    for (const text of ['fd00::9', String(MY_AS), '(65001,1)', `(${MY_AS}, 7, 8)`])
      expect(route).toContain(text);
    r.session!.withdraw();
    await r.until(
      'the withdrawals in BIRD',
      async () => (await count('master4')) === 0 && (await count('master6')) === 0,
    );
  });
});
