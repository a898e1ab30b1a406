import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { provide } from '../../core/hive/index.js';
import { eventually } from '../../core/testing/test-hive.js';
import { K8sResources, type Node } from '../k8s/index.js';
import { newMemoryK8sResources, type MemoryK8sResources } from '../k8s/resources.memory.js';
import { StateDB } from '../statedb/index.js';
import { bgpHive, policyText, testDir, writePolicy } from './fixtures.js';
import { MemorySpeaker } from './speaker.memory.js';
import type { SpeakerParams } from './speaker/types.js';
import { BGP_STATE_FILE, recordRunning } from './state-file.js';
import { WAITING_FOR_NODES } from './control-plane.js';

const N1 = { peerAddress: '10.0.0.1', peerASN: 65000 };
const N2 = {
  peerAddress: '10.0.0.2',
  peerASN: 65000,
  holdTimeSeconds: 30,
  keepAliveTimeSeconds: 10,
};

function doubles(): { speakers: MemorySpeaker[]; factory: (p: SpeakerParams) => MemorySpeaker } {
  const speakers: MemorySpeaker[] = [];
  return {
    speakers,
    factory: (p) => {
      const s = new MemorySpeaker(p);
      speakers.push(s);
      return s;
    },
  };
}

function only<T>(xs: readonly T[]): T {
  expect(xs).toHaveLength(1);
  return xs[0] as T;
}

/**
 * The cell in Kubernetes mode (in-memory resources) with one policy selecting `rack: r0` Nodes;
 * `before` runs on the directory before the start (a previous run's state).
 */
async function rackHive(
  router: Record<string, unknown>,
  o: { flags?: Record<string, unknown>; before?: (dir: string) => void } = {},
) {
  const dir = testDir();
  writePolicy(
    dir,
    JSON.stringify({
      kind: 'CiliumBGPPeeringPolicy',
      metadata: { name: 'rack0' },
      spec: { nodeSelector: { matchLabels: { rack: 'r0' } }, virtualRouters: [router] },
    }),
  );
  o.before?.(dir);
  const { speakers, factory } = doubles();
  const h = bgpHive({
    dir,
    factory,
    ...(o.flags && { flags: o.flags }),
    overrides: [provide(K8sResources, { db: StateDB }, ({ db }) => newMemoryK8sResources(db))],
  });
  await h.requireStart();
  return { h, sp: only(speakers), k8s: h.get(K8sResources) as MemoryK8sResources };
}

describe('the bgp cell', () => {
  it('applies the policy file, advertises pod CIDRs and selected services, withdraws deleted ones', async () => {
    const dir = testDir();
    writePolicy(
      dir,
      policyText({ exportPodCIDR: true, serviceSelector: { matchLabels: { bgp: 'yes' } } }, [N1]),
    );
    const { speakers, factory } = doubles();
    // The range as written with host bits: announced canonical.
    const h = await bgpHive({
      dir,
      factory,
      flags: { 'ipv4-range': '10.1.0.7/24' },
    }).requireStart();
    const sp = only(speakers);
    expect(sp.params?.restarting).toBe(false);
    await eventually(() => sp.applied.length === 1);
    expect(sp.applied[0]).toMatchObject({ routerId: '192.0.2.1', listenPort: 0 });
    expect(sp.neighbors.map((n) => [n.address, n.localAsn, n.peerAsn])).toEqual([
      ['10.0.0.1', 65001, 65000],
    ]);
    await eventually(() => sp.routesOf('10.0.0.1').length === 2);
    expect(sp.routesOf('10.0.0.1')).toEqual([
      { prefix: '10.1.0.0/24', nextHop: '192.0.2.1', communities: [], largeCommunities: [] },
      { prefix: 'fd00:1::/112', nextHop: '2001:db8::1', communities: [], largeCommunities: [] },
    ]);

    h.putLbService('web', '172.20.0.10', { bgp: 'yes' });
    h.putLbService('other', '172.20.0.11', { bgp: 'no' });
    await eventually(() => sp.routesOf('10.0.0.1').some((r) => r.prefix === '172.20.0.10/32'));
    expect(sp.routesOf('10.0.0.1').map((r) => r.prefix)).toEqual([
      '10.1.0.0/24',
      '172.20.0.10/32',
      'fd00:1::/112',
    ]);

    // A label change alone: the service is no longer selected, then again.
    h.putLbService('web', '172.20.0.10', { bgp: 'no' });
    await eventually(() => sp.routesOf('10.0.0.1').length === 2);
    h.putLbService('web', '172.20.0.10', { bgp: 'yes' });
    await eventually(() => sp.routesOf('10.0.0.1').length === 3);

    h.deleteService('web');
    await eventually(() => sp.routesOf('10.0.0.1').length === 2);
    expect(sp.routesOf('10.0.0.1').map((r) => r.prefix)).toEqual(['10.1.0.0/24', 'fd00:1::/112']);
    expect(h.health().policy?.level).toBe('ok');
  });

  it('withdraws an externalTrafficPolicy Local service when its last local backend moves away', async () => {
    const dir = testDir();
    writePolicy(dir, policyText({ serviceSelector: {} }, [N1]));
    const { speakers, factory } = doubles();
    const h = await bgpHive({ dir, factory }).requireStart();
    const sp = only(speakers);
    h.putLbService('web', '172.20.0.10', {}, { extTrafficPolicy: 'Local' }, 'node-a');
    await eventually(() => sp.routesOf('10.0.0.1').length === 1);
    h.putLbService('web', '172.20.0.10', {}, { extTrafficPolicy: 'Local' }, 'node-b');
    await eventually(() => sp.routesOf('10.0.0.1').length === 0 && sp.adverts.length > 1);
  });

  it('gathers a burst of 2,000 services into few calls per neighbor', async () => {
    const dir = testDir();
    writePolicy(dir, policyText({ serviceSelector: {} }, [N1]));
    const { speakers, factory } = doubles();
    const h = await bgpHive({ dir, factory }).requireStart();
    const sp = only(speakers);
    await eventually(() => sp.applied.length === 1);
    const before = sp.adverts.length;
    for (let i = 0; i < 2000; i++) h.putLbService(`s${i}`, `172.20.${i >> 8}.${i & 255}`, {});
    await eventually(() => sp.routesOf('10.0.0.1').length === 2000);
    // Written one by one, the 2,000 services reach the speaker in a handful of debounced calls.
    expect(sp.adverts.length - before).toBeLessThan(20);
  });

  it('applies a changed file (only the new config), keeps the last good one when invalid', async () => {
    const dir = testDir();
    writePolicy(dir, policyText({}, [N1]));
    const { speakers, factory } = doubles();
    const h = await bgpHive({
      dir,
      factory,
      flags: { 'bgp-router-id': '10.9.9.9' },
    }).requireStart();
    const sp = only(speakers);
    await eventually(() => sp.applied.length === 1);
    expect(sp.applied[0]?.routerId).toBe('10.9.9.9');

    writePolicy(dir, policyText({}, [N1, N2]));
    await eventually(() => sp.applied.length === 2);
    expect(sp.neighbors.map((n) => [n.address, n.holdTimeSec, n.keepaliveSec])).toEqual([
      ['10.0.0.1', 90, 30],
      ['10.0.0.2', 30, 10],
    ]);

    writePolicy(dir, policyText({}, [{ ...N2, holdTimeSeconds: 2 }]));
    await eventually(() => h.health().policy?.level === 'degraded');
    expect(h.health().policy?.error).toContain('holdTimeSeconds: 2 is not 0 or 3..65535');
    expect(sp.applied).toHaveLength(2);
    const status = await h.api('/healthz');
    const bgp = (status.body as { bgp?: { state: string; msg: string } }).bgp;
    expect(bgp?.state).toBe('Warning');
    expect(bgp?.msg).toContain('holdTimeSeconds: 2');

    // Fixed again: applied, health ok, the status Ok with the counts.
    writePolicy(dir, policyText({}, [N2]));
    await eventually(() => sp.applied.length === 3, 3000).catch(() =>
      console.log('APPLIED', JSON.stringify(sp.applied.map((a) => a.neighbors.length))),
    );
    expect(sp.neighbors.map((n) => n.address)).toEqual(['10.0.0.2']);
    sp.setState('10.0.0.2', 'established');
    await eventually(() => h.health().policy?.level === 'ok');
    const ok = await h.api('/healthz');
    expect((ok.body as { bgp?: unknown }).bgp).toEqual({
      state: 'Ok',
      msg: '1/1 peers established',
    });
  });

  it('starts without routers and degraded when the file is missing, and applies it once it appears', async () => {
    const dir = testDir();
    const { speakers, factory } = doubles();
    const h = await bgpHive({ dir, factory }).requireStart();
    const sp = only(speakers);
    await eventually(() => h.health().policy?.level === 'degraded');
    expect(h.health().policy?.error).toBe(`${join(dir, 'bgp.yaml')}: no such file`);
    expect(sp.applied).toEqual([]);
    expect(existsSync(join(dir, 'state', BGP_STATE_FILE))).toBe(false);
    writePolicy(dir, policyText({}, [N1]));
    await eventually(() => sp.applied.length === 1);
  });

  it('records its state; the next start is a graceful restart, and stop is graceful', async () => {
    const dir = testDir();
    writePolicy(dir, policyText({}, [N1]));
    const first = doubles();
    const h1 = await bgpHive({ dir, factory: first.factory }).requireStart();
    await eventually(() => existsSync(join(dir, 'state', BGP_STATE_FILE)));
    await h1.requireStop();
    expect(only(first.speakers).stopped).toEqual({ graceful: true });

    const second = doubles();
    const h2 = await bgpHive({ dir, factory: second.factory }).requireStart();
    expect(only(second.speakers).params?.restarting).toBe(true);
    await h2.requireStop();

    // Turned off: the state goes, so turning it on again is no restart.
    const off = doubles();
    const h3 = await bgpHive({
      dir,
      factory: off.factory,
      flags: { 'enable-bgp-control-plane': false },
    }).requireStart();
    expect(off.speakers).toEqual([]);
    expect(existsSync(join(dir, 'state', BGP_STATE_FILE))).toBe(false);
    expect((await h3.api('/bgp/peers')).status).toBe(501);
    expect(((await h3.api('/healthz')).body as { bgp?: unknown }).bgp).toEqual({
      state: 'Disabled',
      msg: 'Disabled',
    });
  });

  it('degrades when the speaker refuses the configuration (a listener that cannot bind)', async () => {
    const dir = testDir();
    writePolicy(dir, policyText({}, [N1]));
    const speakers: MemorySpeaker[] = [];
    const factory = (p: SpeakerParams): MemorySpeaker => {
      const s = new MemorySpeaker(p);
      s.failApply = new Error('listen EADDRINUSE 0.0.0.0:1790');
      speakers.push(s);
      return s;
    };
    const h = await bgpHive({ dir, factory }).requireStart();
    await eventually(() => h.health().policy?.level === 'degraded');
    expect(h.health().policy?.error).toContain('EADDRINUSE');
    // Once the port is free the retry applies it.
    const sp = only(speakers);
    delete sp.failApply;
    await eventually(() => sp.applied.length === 1, 30_000);
    await eventually(() => h.health().policy?.level === 'ok');
  });

  it.each([
    [{ 'bgp-router-id': '1.2.3' }, "'1.2.3' is not a BGP router id"],
    [{ 'bgp-router-id': '0.0.0.0' }, "'0.0.0.0' is not a BGP router id"],
    [{ 'bgp-listen-port': 65536 }, 'bgp-listen-port'],
    [{ 'bgp-listen-port': -1 }, 'bgp-listen-port'],
  ])('refuses the flags %o by name', async (flags, message) => {
    const dir = testDir();
    const { factory } = doubles();
    const start = async (): Promise<unknown> => bgpHive({ dir, factory, flags }).requireStart();
    await expect(start()).rejects.toThrow(message);
  });
});

describe('the bgp cell in Kubernetes mode', () => {
  it("selects policies by its Node's labels, waiting for the Nodes, and follows a label change", async () => {
    const { h, sp, k8s } = await rackHive({ localASN: 65001, neighbors: [N1] });
    const node = (labels: Record<string, string>): Node => ({
      metadata: { name: 'node-a', labels },
    });
    k8s.upsert('nodes', node({ rack: 'r0' }));
    // Nothing is applied before the Nodes are listed.
    await eventually(() => h.health().policy?.message === WAITING_FOR_NODES);
    expect(sp.applied).toEqual([]);
    k8s.setSynced('nodes');
    await eventually(() => sp.applied.length === 1);
    expect(sp.neighbors.map((n) => n.address)).toEqual(['10.0.0.1']);
    k8s.upsert('nodes', node({ rack: 'r1' }));
    await eventually(() => sp.applied.length === 2);
    expect(sp.neighbors).toEqual([]);
  });
});

describe('the bgp cell and other Nodes', () => {
  it("does not reselect its policies or recompute its routes on other Nodes' updates", async () => {
    const { sp, k8s } = await rackHive({
      localASN: 65001,
      exportPodCIDR: true,
      neighbors: [N1],
    });
    const node = (name: string, rack: string): Node => ({
      metadata: { name, labels: { rack } },
    });
    k8s.upsert('nodes', node('node-a', 'r0'));
    k8s.setSynced();
    await eventually(() => sp.routesOf('10.0.0.1').length === 2);
    // This node's labels are read for each reselection and each recomputation.
    const reads = vi.spyOn(k8s.nodes.table, 'get');
    for (let i = 0; i < 30; i++) k8s.upsert('nodes', node(`other-${i}`, 'r0'));
    // Handled in order: once this node's change is applied, the 30 others were seen.
    k8s.upsert('nodes', node('node-a', 'r1'));
    await eventually(() => sp.applied.length === 2);
    expect(reads.mock.calls.length).toBeLessThan(10);
  });
});

describe('the bgp cell, a neighbor removed and added back', () => {
  it('gives it its routes again even when both changes come between two advertisement rounds', async () => {
    const { sp, k8s } = await rackHive({
      localASN: 65001,
      exportPodCIDR: true,
      neighbors: [N1],
    });
    const node = (rack: string): Node => ({ metadata: { name: 'node-a', labels: { rack } } });
    k8s.upsert('nodes', node('r0'));
    k8s.setSynced();
    await eventually(() => sp.routesOf('10.0.0.1').length === 2);
    // A label flap: the policy stops selecting the node (the neighbor goes, Cease 3, and the
    // speaker forgets its routes), then selects it again before the routes are recomputed.
    k8s.upsert('nodes', node('r1'));
    await eventually(() => sp.applied.length === 2);
    k8s.upsert('nodes', node('r0'));
    await eventually(() => sp.applied.length === 3);
    expect(sp.neighbors.map((n) => n.address)).toEqual(['10.0.0.1']);
    await eventually(() => sp.routesOf('10.0.0.1').length === 2);
  });
});

describe('the bgp cell after a restart', () => {
  it('hands the speaker no routes until pod CIDRs, services and Node are all there, then all at once', async () => {
    const { h, sp, k8s } = await rackHive(
      { localASN: 65001, exportPodCIDR: true, serviceSelector: {}, neighbors: [N1] },
      {
        flags: { ipam: 'kubernetes', 'enable-ipv6': false },
        // The previous run's state: this start is a graceful restart.
        before: (dir) => recordRunning(join(dir, 'state'), '192.0.2.1', [65001]),
      },
    );
    expect(sp.params?.restarting).toBe(true);
    const bgpMsg = async (): Promise<string> =>
      ((await h.api('/healthz')).body as { bgp?: { msg: string } }).bgp?.msg ?? '';
    // A service the load balancer restored (its Kubernetes sync is still to come).
    h.putLbService('web', '172.20.0.10', {});
    // The Nodes are listed, this one without its pod CIDR yet: the sessions may start, but no
    // routes go (the speaker would send End-of-RIB after them and the peer drop the rest).
    k8s.upsert('nodes', { metadata: { name: 'node-a', labels: { rack: 'r0' } } });
    k8s.setSynced('nodes');
    await eventually(() => sp.applied.length === 1);
    await eventually(async () => (await bgpMsg()).includes('waiting for the pod CIDRs'));
    expect(sp.adverts).toEqual([]);
    // The pod CIDR comes; the services are still not synced.
    k8s.upsert('nodes', {
      metadata: { name: 'node-a', labels: { rack: 'r0' } },
      spec: { podCIDRs: ['10.1.7.0/24'] },
    });
    await eventually(async () => (await bgpMsg()).includes('waiting for the services'));
    expect(sp.adverts).toEqual([]);
    // Services and slices synced: the first call has every route.
    k8s.setSynced();
    await eventually(() => sp.adverts.length > 0);
    expect(sp.adverts[0]?.routes.map((r) => r.prefix)).toEqual(['10.1.7.0/24', '172.20.0.10/32']);
    await eventually(async () => (await bgpMsg()) === '0/1 peers established');
  });
});
