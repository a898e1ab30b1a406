// The interop scenarios run against each real router (test/bgp-gobgp.kernel.test.ts,
// test/bgp-bird.kernel.test.ts): the agent from its sources in the host namespace, the router in
// its own namespace across a veth pair, every wait a poll, everything torn down by the test.
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { freePort } from '../../core/testing/ports.js';
import { putLbService, startBgpAgent, teardown, type BgpAgent } from './bgp-agent.js';
import { startBird, type Bird } from './bgp-bird.js';
import { startGobgpd, type Gobgpd } from './bgp-gobgpd.js';
import { routerLink, until, type RouterLink, type Teardown } from './bgp-routers.js';

const AGENT_AS = 65001;
const ROUTER_AS = 65000;
/** Short hold time so a frozen router is noticed quickly (keepalive a third of it). */
const HOLD = 6;
const RESTART_SEC = 120;

/** One agent, one router, and what the agent should announce. */
interface World {
  readonly link: RouterLink;
  readonly router: Gobgpd | Bird;
  readonly agent: BgpAgent;
  readonly podV4: string;
  readonly podV6: string;
  /** The LoadBalancer address of service `lb` in namespace `bgp-<id>`. */
  readonly lbIp: string;
  readonly namespace: string;
  /** Daemon and agent logs, for failure messages. */
  readonly logs: () => string;
}

/** How the session is opened. */
interface Shape {
  /** The agent waits for the router to connect (a passive neighbor); the router connects. */
  readonly agentPassive: boolean;
}

async function world(td: Teardown, kind: 'gobgpd' | 'bird', shape: Shape): Promise<World> {
  const link = routerLink(td);
  const n = randomBytes(1).readUInt8(0);
  const m = randomBytes(2).readUInt16BE(0).toString(16);
  const podV4 = `10.176.${n}.0/24`;
  const podV6 = `fd76:b6b:${m}::/112`;
  const lbIp = `10.177.${n}.${(randomBytes(1).readUInt8(0) % 250) + 2}`;
  const namespace = `bgp-${m}`;
  const listenPort = await freePort();
  const neighbor = {
    address: link.hostV4,
    asn: AGENT_AS,
    port: listenPort,
    // Exactly one side connects: the agent, or (a passive agent) the router.
    passive: !shape.agentPassive,
    holdSec: HOLD,
    keepaliveSec: HOLD / 3,
    gracefulRestartSec: RESTART_SEC,
  };
  const ropts = { link, asn: ROUTER_AS, routerId: link.routerV4, neighbors: [neighbor] };
  const router = kind === 'gobgpd' ? await startGobgpd(td, ropts) : await startBird(td, ropts);
  const agent = await startBgpAgent({
    localAsn: AGENT_AS,
    listenPort,
    nodeV4: link.hostV4,
    nodeV6: link.hostV6,
    podV4,
    podV6,
    serviceLabels: { 'io.kubernetes.service.namespace': namespace },
    neighbors: [
      {
        address: link.routerV4,
        asn: ROUTER_AS,
        passive: shape.agentPassive,
        holdSec: HOLD,
        keepaliveSec: HOLD / 3,
        gracefulRestartSec: RESTART_SEC,
      },
    ],
  });
  const logs = (): string =>
    `--- ${router.daemon.name}:\n${router.daemon.logs().slice(-3000)}\n--- agent:\n${agent.agent
      .logs()
      .split('\n')
      .filter((l) => l.includes('bgp'))
      .slice(-30)
      .join('\n')}`;
  return { link, router, agent, podV4, podV6, lbIp, namespace, logs };
}

/** The routes the router has from the agent, "prefix via nexthop[ stale]", sorted. */
async function fromAgent(w: World): Promise<string[]> {
  const all = [...(await w.router.routes('ipv4')), ...(await w.router.routes('ipv6'))];
  return all
    .filter((r) => r.from === w.link.hostV4)
    .map((r) => `${r.prefix} via ${r.nextHop}${r.stale ? ' stale' : ''}`)
    .sort();
}

/** What the router should have: pod CIDRs (and the LB address) with the node's next hops. */
function expected(w: World, lb: boolean, stale = ''): string[] {
  return [
    `${w.podV4} via ${w.link.hostV4}${stale}`,
    `${w.podV6} via ${w.link.hostV6}${stale}`,
    ...(lb ? [`${w.lbIp}/32 via ${w.link.hostV4}${stale}`] : []),
  ].sort();
}

async function established(w: World): Promise<void> {
  await until(
    'the router to see the session Established',
    () => w.router.session(w.link.hostV4),
    (s) => s.state === 'established',
    { context: w.logs },
  );
  await until(
    'the agent to see the session established',
    () => w.agent.state(w.link.routerV4),
    (s) => s === 'established',
    { context: w.logs },
  );
}

async function routesAre(w: World, want: string[], what: string): Promise<void> {
  await until(
    what,
    () => fromAgent(w),
    (rs) => rs.join() === want.join(),
    { context: w.logs },
  );
}

/** The agent's adj-RIB-out to the router (GET /v1/bgp/routes), as prefixes. */
async function advertised(w: World, afi: 'ipv4' | 'ipv6'): Promise<string[]> {
  const q = { table_type: 'adj-rib-out', afi, safi: 'unicast', neighbor: w.link.routerV4 };
  return (await w.agent.routes(q)).map((r) => r.prefix).sort();
}

async function withLb(w: World): Promise<void> {
  await putLbService(w.agent, {
    id: 1,
    ip: w.lbIp,
    name: 'lb',
    namespace: w.namespace,
    backend: '10.176.250.5',
  });
}

/** The interop suite against one router kind (inside a kernelSuite). */
export function interopSuite(kind: 'gobgpd' | 'bird'): void {
  it(`(a)(b)(c) Established on both sides, pod CIDRs and the LB address in ${kind}'s RIB with the node's next hop, the service's deletion withdraws it`, async () => {
    const td = teardown();
    const w = await world(td, kind, { agentPassive: false });
    await established(w);
    await withLb(w);
    await routesAre(w, expected(w, true), `pod CIDRs and LB address in ${kind}`);
    expect(await advertised(w, 'ipv4')).toEqual([w.podV4, `${w.lbIp}/32`].sort());
    expect(await advertised(w, 'ipv6')).toEqual([w.podV6]);
    const v4 = await w.agent.cli('routes', 'advertised', 'ipv4', 'unicast');
    const v6 = await w.agent.cli('routes', 'advertised', 'ipv6', 'unicast');
    for (const p of [w.podV4, `${w.lbIp}/32`]) expect(v4).toContain(p);
    expect(v6).toContain(w.podV6);
    expect((await w.router.session(w.link.hostV4)).gracefulRestart).toBe(true);
    await w.agent.request('DELETE', '/service/1');
    await routesAre(w, expected(w, false), `the LB address withdrawn from ${kind}`);
    expect(await advertised(w, 'ipv4')).toEqual([w.podV4]);
    expect(await w.agent.cli('routes', 'advertised', 'ipv4', 'unicast')).not.toContain(w.lbIp);
  });

  it(`(a) a passive neighbor: ${kind} connects to the agent's listener`, async () => {
    const td = teardown();
    const w = await world(td, kind, { agentPassive: true });
    await established(w);
    await routesAre(w, expected(w, false), `pod CIDRs in ${kind}`);
  });

  it(`(d) restarting ${kind} re-establishes the session and the routes come back`, async () => {
    const td = teardown();
    const w = await world(td, kind, { agentPassive: false });
    await established(w);
    await withLb(w);
    await routesAre(w, expected(w, true), `routes in ${kind}`);
    await w.router.restart();
    await established(w);
    await routesAre(w, expected(w, true), `routes in ${kind} after its restart`);
  });

  it(`(e) kill -9 of the agent: ${kind} holds the routes stale, never withdraws them, and they are refreshed after the restart`, async () => {
    const td = teardown();
    const w = await world(td, kind, { agentPassive: false });
    await established(w);
    await withLb(w);
    await routesAre(w, expected(w, true), `routes in ${kind}`);
    expect((await w.router.session(w.link.hostV4)).gracefulRestart).toBe(true);
    const before =
      w.router.kind === 'bird' ? (await w.router.protocol(w.link.hostV4)).channels : {};
    // Read the router's RIB without pause from the kill until the routes are fresh again: at no
    // read may one of them be missing.
    const watch = { on: true, sawStale: false };
    const missing: string[] = [];
    const watcher = (async () => {
      while (watch.on) {
        const rs = await fromAgent(w);
        const plain = rs.map((r) => r.replace(' stale', ''));
        if (plain.join() !== expected(w, true).join()) missing.push(rs.join(', '));
        if (rs.join() === expected(w, true, ' stale').join()) watch.sawStale = true;
      }
    })();
    try {
      await w.agent.restart('SIGKILL');
      await until(
        `routes stale in ${kind}`,
        () => Promise.resolve(watch.sawStale),
        (v) => v,
        { context: w.logs },
      );
      await established(w);
      await routesAre(w, expected(w, true), `routes refreshed (not stale) in ${kind}`);
    } finally {
      watch.on = false;
      await watcher;
    }
    expect(missing).toEqual([]);
    // bird counts withdrawals received per channel: the restart sent none (a stale route that
    // was not refreshed would have been flushed instead, and polled as missing above).
    if (w.router.kind === 'bird') {
      const after = await w.router.protocol(w.link.hostV4);
      expect(after.channels).toEqual(before);
    }
  });

  it(`(f) ${kind} frozen past the hold time: the agent drops the session; thawed, it recovers`, async () => {
    const td = teardown();
    const w = await world(td, kind, { agentPassive: false });
    await established(w);
    await routesAre(w, expected(w, false), `routes in ${kind}`);
    w.router.daemon.freeze();
    await until(
      'the agent to drop the session',
      () => w.agent.state(w.link.routerV4),
      (s) => s !== 'established' && s !== '',
      { context: w.logs, timeoutMs: 60_000 },
    );
    w.router.daemon.thaw();
    await established(w);
    await routesAre(w, expected(w, false), `routes in ${kind} after the thaw`);
  });
}
