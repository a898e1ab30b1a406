// The interop harness proven without the agent: a gobgpd in the host namespace (standing where
// the agent stands in the interop suites) peers with a gobgpd and a bird, each in a namespace of
// its own. Sessions come up on both sides, IPv4 and IPv6 routes arrive with their next hop, a
// kill -9 of the host speaker leaves them stale (never gone) until it comes back and refreshes
// them, and a frozen router loses its session past the hold time and recovers when thawed.
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../core/testing/kernel.js';
import { eventually } from '../core/testing/test-hive.js';
import { freePort } from '../core/testing/ports.js';
import { startBird } from './support/bgp-bird.js';
import { startGobgpd, type Gobgpd } from './support/bgp-gobgpd.js';
import {
  ROUTER_COMMANDS,
  routerLink,
  Teardown,
  type Router,
  type RouterLink,
  until,
} from './support/bgp-routers.js';

const HOST_AS = 65101;
const ROUTER_AS = 65100;
const HOLD = 3;

function teardown(): Teardown {
  const td = new Teardown();
  onTestFinished(() => td.run());
  return td;
}

/** The host gobgpd, peering (actively) with one router per link. */
async function hostSpeaker(td: Teardown, links: readonly RouterLink[], restarting = false) {
  return startGobgpd(td, {
    asn: HOST_AS,
    routerId: links[0]?.hostV4 ?? '10.179.0.1',
    listenPort: await freePort(),
    apiPort: await freePort(),
    restarting,
    neighbors: links.map((l) => ({
      address: l.routerV4,
      asn: ROUTER_AS,
      holdSec: HOLD,
      keepaliveSec: 1,
      gracefulRestartSec: 60,
    })),
  });
}

/** Announces 10.179.255.<i>.0/32-ish test prefixes with the link's host addresses as next hop. */
async function announce(h: Gobgpd, links: readonly RouterLink[]): Promise<void> {
  for (const [i, l] of links.entries()) {
    await h.cli('global', 'rib', 'add', '-a', 'ipv4', `10.178.${i}.0/24`, 'nexthop', l.hostV4);
    await h.cli('global', 'rib', 'add', '-a', 'ipv6', `fd78:${i}::/64`, 'nexthop', l.hostV6);
  }
}

/** The prefixes announced for link i. */
const prefixes = (i: number): string[] => [`10.178.${i}.0/24`, i ? `fd78:${i}::/64` : 'fd78::/64'];

/** Router i's routes (of link i's prefixes) from the host speaker, as "prefix via nexthop[ stale]". */
async function fromHost(r: Router, i: number): Promise<string[]> {
  const all = [...(await r.routes('ipv4')), ...(await r.routes('ipv6'))];
  return all
    .filter((p) => p.from === r.link.hostV4 && prefixes(i).includes(p.prefix))
    .map((p) => `${p.prefix} via ${p.nextHop}${p.stale ? ' stale' : ''}`)
    .sort();
}

kernelSuite(
  'BGP test routers (gobgpd and bird in their namespaces)',
  { commands: [...ROUTER_COMMANDS] },
  () => {
    it('carry IPv4 and IPv6 routes, hold them stale through a kill -9 of the speaker, and recover from a freeze', async () => {
      const td = teardown();
      const links = [routerLink(td), routerLink(td)] as const;
      const peerOf = (l: RouterLink) => ({
        address: l.hostV4,
        asn: HOST_AS,
        passive: true,
        holdSec: HOLD,
        keepaliveSec: 1,
        gracefulRestartSec: 60,
      });
      const routers: Router[] = [
        await startGobgpd(td, {
          link: links[0],
          asn: ROUTER_AS,
          routerId: links[0].routerV4,
          neighbors: [peerOf(links[0])],
        }),
        await startBird(td, {
          link: links[1],
          asn: ROUTER_AS,
          routerId: links[1].routerV4,
          neighbors: [peerOf(links[1])],
        }),
      ];
      let host = await hostSpeaker(td, links);
      await announce(host, links);
      const want = (i: number, stale = ''): string[] => {
        const l = links[i] as RouterLink;
        const [v4, v6] = prefixes(i);
        return [`${v4} via ${l.hostV4}${stale}`, `${v6} via ${l.hostV6}${stale}`];
      };
      for (const [i, r] of routers.entries()) {
        const l = links[i] as RouterLink;
        await eventually(async () => (await r.session(l.hostV4)).state === 'established', 30_000);
        expect((await r.session(l.hostV4)).gracefulRestart).toBe(true);
        expect((await host.session(l.routerV4)).state).toBe('established');
        await until(
          'routes at ' + r.kind,
          () => fromHost(r, i),
          (v) => v.join() === want(i).join(),
          {
            context: () => r.daemon.logs(),
          },
        );
      }

      // kill -9: both routers keep the routes, stale, and never drop them while it is down.
      await host.daemon.signal('SIGKILL');
      for (const [i, r] of routers.entries())
        await eventually(
          async () => (await fromHost(r, i)).join() === want(i, ' stale').join(),
          30_000,
        );
      host = await hostSpeaker(td, links, true);
      await announce(host, links);
      for (;;) {
        const now = await Promise.all(routers.map((r, i) => fromHost(r, i)));
        now.forEach((rs, i) => {
          expect(rs.map((s) => s.replace(' stale', ''))).toEqual(want(i));
        });
        if (now.every((rs, i) => rs.join() === want(i).join())) break;
        await new Promise((r) => setTimeout(r, 50));
      }

      // A frozen router misses keepalives: the host speaker drops the session, then it recovers.
      for (const [i, r] of routers.entries()) {
        const l = links[i] as RouterLink;
        r.daemon.freeze();
        await eventually(
          async () => (await host.session(l.routerV4)).state !== 'established',
          30_000,
        );
        r.daemon.thaw();
        await eventually(
          async () => (await host.session(l.routerV4)).state === 'established',
          60_000,
        );
        await until(
          'routes at ' + r.kind,
          () => fromHost(r, i),
          (v) => v.join() === want(i).join(),
          {
            context: () => r.daemon.logs(),
          },
        );
      }
    });
  },
);
