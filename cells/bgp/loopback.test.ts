// The cell with the real speaker against a second speaker acting as the router, on loopback:
// the session comes up, a LoadBalancer service's address arrives with the node's next hop and
// is withdrawn with the service; a graceful stop leaves the routes at the router, stale; a
// restart sends them all again before End-of-RIB; a taken listen port does not stop the
// sessions the node opens.
import { createServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { provide } from '../../core/hive/index.js';
import { freePort } from '../../core/testing/ports.js';
import { eventually } from '../../core/testing/test-hive.js';
import { K8sResources } from '../k8s/index.js';
import { newMemoryK8sResources, type MemoryK8sResources } from '../k8s/resources.memory.js';
import { StateDB } from '../statedb/index.js';
import { bgpHive, policyText, testDir, writePolicy } from './fixtures.js';
import { closeServer } from './speaker/listener.js';
import { neighbor, startSpeaker } from './speaker/fixtures.js';
import { newSpeaker } from './speaker/index.js';

const NODE = '127.0.0.1';
const ROUTER = '127.0.0.2';

/**
 * A router speaker at ROUTER, passive for the node, graceful restart on both sides, and a policy
 * file naming it (pod CIDR and services labelled bgp=yes; `timers` added to the neighbor).
 */
async function routerAndPolicy(timers: Record<string, number> = {}) {
  const router = await startSpeaker(ROUTER, '10.8.8.8', () => [
    neighbor({
      address: NODE,
      port: 179,
      passive: true,
      localAsn: 65000,
      peerAsn: 65001,
      gracefulRestart: { enabled: true, restartTimeSec: 120 },
    }),
  ]);
  const dir = testDir();
  writePolicy(
    dir,
    policyText({ exportPodCIDR: true, serviceSelector: { matchLabels: { bgp: 'yes' } } }, [
      {
        peerAddress: ROUTER,
        peerASN: 65000,
        peerPort: router.port,
        connectRetryTimeSeconds: 1,
        ...timers,
        gracefulRestart: { enabled: true, restartTimeSeconds: 120 },
        families: [{ afi: 'ipv4', safi: 'unicast' }],
      },
    ]),
  );
  return { router, dir };
}

describe('the bgp cell and a router on loopback', () => {
  it('advertises a LoadBalancer IP and the pod CIDR, withdraws the IP with its service', async () => {
    const { router, dir } = await routerAndPolicy({ holdTimeSeconds: 9, keepAliveTimeSeconds: 3 });
    const h = await bgpHive({
      dir,
      factory: newSpeaker,
      flags: { 'bgp-router-id': '10.9.9.9' },
    }).requireStart();
    const rib = () => router.speaker.ribIn(NODE, 'ipv4-unicast');

    await eventually(() => rib().some((r) => r.prefix === '10.1.0.0/24'), 60_000);
    expect(router.speaker.peers()[0]?.state).toBe('established');
    h.putLbService('web', '172.20.0.10', { bgp: 'yes' });
    const lb = await eventually(() => rib().find((r) => r.prefix === '172.20.0.10/32'), 60_000);
    expect(lb.nextHop).toBe('192.0.2.1');
    expect(lb.attrs.asPath).toEqual([{ type: 2, asns: [65001] }]);

    // The cell's own view: the session, and the routes it sent.
    const peers = await h.api('/bgp/peers');
    expect(peers.body).toMatchObject([{ 'peer-address': ROUTER, 'session-state': 'established' }]);
    const out = await h.api(
      `/bgp/routes?table_type=adj-rib-out&afi=ipv4&safi=unicast&neighbor=${ROUTER}`,
    );
    expect((out.body as { prefix: string }[]).map((r) => r.prefix).sort()).toEqual([
      '10.1.0.0/24',
      '172.20.0.10/32',
    ]);

    h.deleteService('web');
    await eventually(() => !rib().some((r) => r.prefix === '172.20.0.10/32'), 60_000);
    expect(rib().map((r) => r.prefix)).toEqual(['10.1.0.0/24']);

    // Agent stop: graceful restart was negotiated, so the router keeps the route, stale.
    await h.requireStop();
    await eventually(() => rib()[0]?.stale === true, 60_000);
    expect(rib().map((r) => r.prefix)).toEqual(['10.1.0.0/24']);
  });

  it('with its listen port taken, the sessions the node opens still get their routes', async () => {
    const node = '127.0.0.28';
    const routerAddr = '127.0.0.27';
    const router = await startSpeaker(routerAddr, '10.8.8.9', () => [
      neighbor({ address: node, port: 179, passive: true, localAsn: 65000, peerAsn: 65001 }),
    ]);
    const port = await freePort();
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(port, '::', r));
    onTestFinished(() => closeServer(squatter));
    const dir = testDir();
    writePolicy(
      dir,
      policyText({ exportPodCIDR: true }, [
        {
          peerAddress: routerAddr,
          peerASN: 65000,
          peerPort: router.port,
          connectRetryTimeSeconds: 1,
          families: [{ afi: 'ipv4', safi: 'unicast' }],
        },
      ]),
    );
    const h = await bgpHive({
      dir,
      factory: (p) => {
        const sp = newSpeaker(p);
        // The neighbor's source address (the policy file has no field for it).
        const apply = sp.apply.bind(sp);
        sp.apply = (c) =>
          apply({ ...c, neighbors: c.neighbors.map((n) => ({ ...n, localAddress: node })) });
        return sp;
      },
      flags: { 'bgp-router-id': '10.9.9.8', 'bgp-listen-port': port },
    }).requireStart();
    // Before: the refused apply left the routers unset, so nothing was advertised.
    await eventually(
      () => router.speaker.ribIn(node, 'ipv4-unicast').some((r) => r.prefix === '10.1.0.0/24'),
      60_000,
    );
    const health = await h.api('/healthz');
    expect(JSON.stringify(health.body)).toContain('EADDRINUSE');
    await h.requireStop();
  });
});

describe('the bgp cell restarting against a router on loopback', () => {
  it('keeps the router from dropping its stale routes until the whole set is there', async () => {
    const { router, dir } = await routerAndPolicy();
    const flags = { 'bgp-router-id': '10.9.9.9', 'enable-ipv6': false };
    const rib = () =>
      router.speaker
        .ribIn(NODE, 'ipv4-unicast')
        .map((r) => `${r.prefix}${r.stale ? ' stale' : ''}`)
        .sort();
    const h1 = await bgpHive({ dir, factory: newSpeaker, flags }).requireStart();
    h1.putLbService('web', '172.20.0.10', { bgp: 'yes' });
    await eventually(() => rib().join() === '10.1.0.0/24,172.20.0.10/32', 60_000);
    await h1.requireStop();
    await eventually(() => rib().join() === '10.1.0.0/24 stale,172.20.0.10/32 stale', 60_000);

    // The agent again, in Kubernetes mode: the Nodes are listed (the session comes up, R bit
    // set) but the pod CIDR and the Services come later.
    const h2 = bgpHive({
      dir,
      factory: newSpeaker,
      flags: { ...flags, ipam: 'kubernetes' },
      overrides: [provide(K8sResources, { db: StateDB }, ({ db }) => newMemoryK8sResources(db))],
    });
    await h2.requireStart();
    const k8s = h2.get(K8sResources) as MemoryK8sResources;
    k8s.upsert('nodes', { metadata: { name: 'node-a', labels: {} } });
    k8s.setSynced('nodes');
    const waiting = async (what: string): Promise<boolean> =>
      ((await h2.api('/healthz')).body as { bgp?: { msg: string } }).bgp?.msg.includes(what) ??
      false;
    await eventually(() => router.speaker.peers()[0]?.state === 'established', 60_000);
    await eventually(() => waiting('waiting for the pod CIDRs'));
    k8s.upsert('nodes', { metadata: { name: 'node-a' }, spec: { podCIDRs: ['10.1.0.0/24'] } });
    await eventually(() => waiting('waiting for the services'));
    h2.putLbService('web', '172.20.0.10', { bgp: 'yes' });
    k8s.setSynced();
    await eventually(() => rib().join() === '10.1.0.0/24,172.20.0.10/32', 60_000);
    // The router dropped nothing at the node's End-of-RIB: every stale route had come again.
    const eors = router.log.entries.filter((e) => e.msg === 'bgp End-of-RIB received');
    expect(eors.length).toBeGreaterThan(0);
    expect(eors.map((e) => (e.o as { staleDropped: number }).staleDropped)).toEqual(
      eors.map(() => 0),
    );
    await h2.requireStop();
  });
});
