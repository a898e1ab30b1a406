// Pod traffic between nodes on the real kernel: three nodes (network namespaces on an underlay
// bridge), each running its own agent told about the others by --nodes-file, pods added through
// cellium-cni. In both routing modes pods ping and stream several MB to pods on the other nodes
// over IPv4 and IPv6. Tunnel mode really goes through cellium_vxlan (its counters move) and the
// receiving node takes the sender's identity from the VNI: a policy admitting only a label of
// the remote pod admits it while this node's ipcache knows that pod's address only as its node's
// pod CIDR (world), and drops another pod of the same node. Native mode with
// --auto-direct-node-routes uses routes (no tunnel device); a node gone from the file takes its
// routes, ipcache entries and node id along, a changed node IP moves its route, a restart adopts
// what is there and prunes what is stale (routes of the agent nobody wants, a tunnel device of
// an earlier tunnel run). Nothing is left behind.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openMap } from '../core/bpf/index.js';
import { BPF_LXC_OBJECT, BPF_OVERLAY_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { METRIC, METRICS_MAP, REASON } from '../cells/maps/index.js';
import { total } from './support/lb-world.js';
import { sh } from './support/netns.js';
import {
  deviceCounters,
  leftovers,
  ping,
  startCluster,
  startSink,
  transfer,
  type Cluster,
  type ClusterNode,
} from './support/cluster.js';

const needs = {
  objects: [BPF_LXC_OBJECT, BPF_OVERLAY_OBJECT],
  commands: ['ip', 'nsenter', 'ping', 'bpftool'],
};

/** Port of the TCP sinks every pod runs. */
const SINK = 7000;
/** Bytes each transfer sends: several MB of full-size segments. */
const MB4 = 4 * 1024 * 1024;
/** Pods of every node, labelled in this order on each node (so local identities agree). */
const CLIENT = 0;
const SERVER = 1;
const INTRUDER = 2;
const APPS = ['client', 'server', 'intruder'];

/** Waits for `fn` to give a value (polling); fails with `what` and the agents' last logs. */
async function until<T>(
  c: Cluster,
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  for (let i = 0; ; i++) {
    const v = await Promise.resolve()
      .then(fn)
      .catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (i > 300) {
      const logs = c.nodes.map(
        (n) => `${n.name}:\n${n.agent.logs().split('\n').slice(-15).join('\n')}`,
      );
      throw new Error(`timed out waiting for ${what}\n${logs.join('\n---\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface IpEntry {
  cidr?: string;
  identity?: number;
  hostIP?: string;
}

/** The node's ipcache as GET /v1/ip shows it. */
async function ipcache(n: ClusterNode): Promise<IpEntry[]> {
  const r = await n.cli('ip', 'list', '-o', 'json');
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as IpEntry[];
}

/** Labels each node's pods client, server, intruder (in that order on every node). */
async function label(c: Cluster): Promise<void> {
  for (const n of c.nodes) {
    for (const [i, app] of APPS.entries()) {
      const r = await n.cli(
        'endpoint',
        'labels',
        `pod-name:default/pod${i}`,
        '--add',
        `k8s:app=${app}`,
      );
      expect(r.code, r.stderr).toBe(0);
    }
  }
}

/** The identity of the endpoint of pod `i` on a node. */
async function identityOf(n: ClusterNode, i: number): Promise<number> {
  const r = await n.cli('endpoint', 'list', '-o', 'json');
  const eps = JSON.parse(r.stdout) as {
    status?: {
      identity?: { id?: number; labels?: string[] };
      networking?: { addressing?: { ipv4?: string }[] };
    };
  }[];
  const ep = eps.find((e) => e.status?.networking?.addressing?.some((a) => a.ipv4 === n.podV4[i]));
  const id = ep?.status?.identity?.id;
  if (id === undefined) throw new Error(`no endpoint for pod ${i} on ${n.name}: ${r.stdout}`);
  return id;
}

/** Every pod pings and streams 4 MB to the server pods of every other node (IPv4 and IPv6). */
async function allPairs(c: Cluster): Promise<void> {
  for (const from of c.nodes) {
    for (const to of c.nodes) {
      if (from === to) continue;
      const src = from.pods[CLIENT] ?? '';
      for (const ip of [to.podV4[SERVER] ?? '', to.podV6[SERVER] ?? '']) {
        const p = await ping(src, ip);
        expect(p.code, `${from.name} -> ${to.name} ${ip}: ${p.stdout}${p.stderr}`).toBe(0);
      }
      const t = await transfer(src, to.podV4[SERVER] ?? '', SINK, MB4);
      expect(t, `${from.name} -> ${to.name} TCP`).toEqual({ ok: true, received: MB4 });
    }
  }
  // IPv6 TCP too, one pair each way.
  for (const [a, b] of [
    [0, 1],
    [1, 0],
  ] as const) {
    const t = await transfer(
      c.nodes[a]?.pods[CLIENT] ?? '',
      c.nodes[b]?.podV6[SERVER] ?? '',
      SINK,
      MB4,
    );
    expect(t, `node-${a} -> node-${b} TCP over IPv6`).toEqual({ ok: true, received: MB4 });
  }
}

async function importPolicy(n: ClusterNode, rules: unknown): Promise<void> {
  const file = join(n.dir, `rules-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(rules));
  const r = await n.cli('policy', 'import', file);
  expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
  const rev = Number(/Revision: (\d+)/.exec(r.stdout)?.[1]);
  const w = await n.cli('policy', 'wait', String(rev), '--max-wait-time', '30s');
  expect(w.code, `${w.stdout}${w.stderr}`).toBe(0);
}

function metric(n: ClusterNode, reason: number, dir: number): number {
  const m = openMap(METRICS_MAP, { backend: 'kernel', pinDir: `${n.bpfRoot}/tc/globals` });
  try {
    return total(m, reason, dir);
  } finally {
    m.close();
  }
}

/** The agent's routes in a node (proto 199), as `ip -j route` prints them. */
function agentRoutes(n: ClusterNode, family: '-4' | '-6'): string[] {
  const out = JSON.parse(
    sh('ip', ['-n', n.netns, family, '-j', 'route', 'show', 'proto', '199']),
  ) as {
    dst: string;
    gateway?: string;
  }[];
  return out.map((r) => `${r.dst} via ${r.gateway ?? '-'}`).sort();
}

/** Stops the agents, then removes the namespaces and pins the cluster made; what is left. */
async function tearDown(c: Cluster): Promise<string[]> {
  expect(await c.stop()).toEqual(c.nodes.map(() => 0));
  for (const ns of c.namespaces) sh('ip', ['netns', 'del', ns]);
  for (const root of c.bpfRoots) sh('rm', ['-rf', root]);
  return leftovers(c);
}

kernelSuite('pod traffic between nodes', needs, () => {
  it('tunnel mode: VXLAN between three nodes, the identity in the VNI, removal and restart', async () => {
    const c = await startCluster({ nodes: 3, podsPerNode: 3 });
    await label(c);
    for (const n of c.nodes) await startSink(n.pods[SERVER] ?? '', SINK);
    // Every node has the others' pod CIDRs (world, with the node as tunnel endpoint) and its
    // tunnel device.
    for (const n of c.nodes) {
      await until(c, `${n.name}'s ipcache`, async () => {
        const e = await ipcache(n);
        return c.nodes
          .filter((o) => o !== n)
          .every((o) =>
            e.some((x) => x.cidr === o.podCidrV4 && x.identity === 9 && x.hostIP === o.ipv4),
          );
      });
      await until(c, `${n.name}'s cellium_vxlan`, () => deviceCounters(n.netns, 'cellium_vxlan'));
      const s = await n.cli('status');
      expect(s.stdout).toMatch(/Routing:\s+Network: Tunnel \[vxlan\]\s+Host: BPF/);
      // No node routes in tunnel mode; the pods' routes are lowered by the VXLAN overhead.
      expect(agentRoutes(n, '-4')).toEqual([]);
      expect(sh('ip', ['-n', n.pods[CLIENT] ?? '', 'route', 'show', 'default'])).toMatch(
        /mtu 1450/,
      );
    }
    const before = c.nodes.map((n) => deviceCounters(n.netns, 'cellium_vxlan'));
    const tunneled = c.nodes.map((n) => metric(n, REASON.TUNNELED, METRIC.EGRESS));
    await allPairs(c);
    for (const [i, n] of c.nodes.entries()) {
      const now = deviceCounters(n.netns, 'cellium_vxlan');
      // Each node streamed 2 x 4 MB out and received as much: all through the tunnel device.
      expect(now?.tx ?? 0).toBeGreaterThan((before[i]?.tx ?? 0) + 2 * MB4);
      expect(now?.rx ?? 0).toBeGreaterThan((before[i]?.rx ?? 0) + 2 * MB4);
      expect(metric(n, REASON.TUNNELED, METRIC.EGRESS)).toBeGreaterThan(tunneled[i] ?? 0);
    }

    // The identity travels in the VNI. The nodes allocate identities locally, in the same order:
    // the client's identity is the same number everywhere (as a shared kvstore would make it).
    const [n0, n1, n2] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
    expect(await identityOf(n0, CLIENT)).toBe(await identityOf(n1, CLIENT));
    expect(await identityOf(n0, INTRUDER)).not.toBe(await identityOf(n0, CLIENT));
    // Node 1 knows node 0's pods only by node 0's pod CIDR: world, nothing per pod.
    const e1 = await ipcache(n1);
    expect(e1.find((x) => x.cidr === `${n0.podV4[CLIENT] ?? ''}/32`)).toBeUndefined();
    await importPolicy(n1, [
      {
        endpointSelector: { matchLabels: { app: 'server' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client' } }] }],
        labels: ['test=vni'],
      },
    ]);
    const denied = metric(n1, REASON.POLICY_DENIED, METRIC.INGRESS);
    const server1 = n1.podV4[SERVER] ?? '';
    expect(await transfer(n0.pods[CLIENT] ?? '', server1, SINK, MB4)).toEqual({
      ok: true,
      received: MB4,
    });
    expect(await transfer(n2.pods[CLIENT] ?? '', n1.podV6[SERVER] ?? '', SINK, 65536)).toEqual({
      ok: true,
      received: 65536,
    });
    const intruder = await transfer(n0.pods[INTRUDER] ?? '', server1, SINK, 65536, 1500);
    expect(intruder.ok).toBe(false);
    expect(intruder.error).toBe('timeout');
    expect(metric(n1, REASON.POLICY_DENIED, METRIC.INGRESS)).toBeGreaterThan(denied);

    // A restart adopts the device (same ifindex) and traffic keeps flowing.
    const ifindex = () =>
      (
        JSON.parse(sh('ip', ['-n', n0.netns, '-j', 'link', 'show', 'cellium_vxlan'])) as {
          ifindex: number;
        }[]
      )[0]?.ifindex;
    const idx = ifindex();
    await n0.restart();
    await until(c, 'node-0 healthy after its restart', async () => {
      const s = await n0.cli('status', '--brief');
      return s.stdout.trim() === 'Ok';
    });
    expect(ifindex()).toBe(idx);
    expect(
      sh('ip', ['-n', n0.netns, '-d', 'link', 'show', 'type', 'vxlan']).match(/^\d+:/gm),
    ).toHaveLength(1);
    expect(await transfer(n0.pods[CLIENT] ?? '', server1, SINK, MB4)).toEqual({
      ok: true,
      received: MB4,
    });

    // Node 2 leaves node 0's file: its entries and node id go; node 1's stay. The sync that
    // follows keeps bpf_overlay as the restarted agent attached it (no reload at every sync).
    const overlay = () =>
      (
        JSON.parse(
          sh('ip', [
            'netns',
            'exec',
            n0.netns,
            'bpftool',
            '-j',
            'net',
            'show',
            'dev',
            'cellium_vxlan',
          ]),
        ) as { tc?: { kind?: string; id?: number }[] }[]
      )[0]?.tc?.find((t) => t.kind === 'clsact/ingress')?.id;
    const attached = overlay();
    expect(attached).toBeGreaterThan(0);
    c.writeNodesFile(0, [n1]);
    await until(c, "node 2's entries to leave node 0's ipcache", async () => {
      const e = await ipcache(n0);
      return !e.some((x) => x.hostIP === n2.ipv4) && e.some((x) => x.cidr === n1.podCidrV4);
    });
    const ids = JSON.parse((await n0.cli('nodeid', 'list', '-o', 'json')).stdout) as {
      ips?: string[];
    }[];
    expect(ids.flatMap((x) => x.ips ?? [])).not.toContain(n2.ipv4);
    expect(ids.flatMap((x) => x.ips ?? [])).toContain(n1.ipv4);
    expect(overlay()).toBe(attached);

    expect(await tearDown(c)).toEqual([]);
  });

  it('native mode with direct node routes: routes, no tunnel; node changes; restart prunes', async () => {
    const c = await startCluster({
      nodes: 3,
      podsPerNode: 2,
      args: () => ['--routing-mode=native', '--auto-direct-node-routes'],
    });
    for (const n of c.nodes) await startSink(n.pods[SERVER] ?? '', SINK);
    const routesOf = (n: ClusterNode) =>
      c.nodes
        .filter((o) => o !== n)
        .map((o) => `${o.podCidrV4} via ${o.ipv4}`)
        .sort();
    for (const n of c.nodes) {
      await until(c, `${n.name}'s node routes`, () =>
        JSON.stringify(agentRoutes(n, '-4')) === JSON.stringify(routesOf(n)) ? true : undefined,
      );
      expect(agentRoutes(n, '-6')).toEqual(
        c.nodes
          .filter((o) => o !== n)
          .map((o) => `${o.podCidrV6} via ${o.ipv6}`)
          .sort(),
      );
      expect(deviceCounters(n.netns, 'cellium_vxlan')).toBeUndefined();
      const s = await n.cli('status');
      expect(s.stdout).toMatch(/Routing:\s+Network: Native\s+Host: BPF/);
      expect(sh('ip', ['-n', n.pods[CLIENT] ?? '', 'route', 'show', 'default'])).not.toMatch(/mtu/);
      // No pod CIDR entries in native mode.
      expect((await ipcache(n)).some((x) => x.cidr === c.nodes[(n.index + 1) % 3]?.podCidrV4)).toBe(
        false,
      );
    }
    await allPairs(c);
    const [n0, n1, n2] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];

    // Node 1's IP changes (in node 0's file): its route follows; back again.
    const moved = { ...n1, ipv4: '192.168.77.11' };
    c.writeNodesFile(0, [moved, n2]);
    await until(c, "node 1's route via its new IP", () =>
      agentRoutes(n0, '-4').includes(`${n1.podCidrV4} via 192.168.77.11`) ? true : undefined,
    );
    expect(agentRoutes(n0, '-4')).toHaveLength(2);
    c.writeNodesFile(0, [n1, n2]);
    await until(c, "node 1's route back", () =>
      agentRoutes(n0, '-4').includes(`${n1.podCidrV4} via ${n1.ipv4}`) ? true : undefined,
    );

    // A restart: nothing duplicated; a stale route of the agent's (a node gone while it was
    // down) pruned; someone else's route left alone.
    sh('ip', ['-n', n0.netns, 'route', 'add', '10.99.0.0/24', 'via', n2.ipv4, 'proto', '199']);
    sh('ip', ['-n', n0.netns, 'route', 'add', '10.98.0.0/24', 'via', n2.ipv4]);
    // A tunnel device left by a run in tunnel mode goes in native mode.
    sh('ip', [
      '-n',
      n0.netns,
      'link',
      'add',
      'cellium_vxlan',
      'type',
      'vxlan',
      'external',
      'dstport',
      '8472',
    ]);
    await n0.restart();
    await until(c, 'the tunnel device of an earlier run removed', () =>
      deviceCounters(n0.netns, 'cellium_vxlan') === undefined ? true : undefined,
    );
    await until(c, 'the stale route pruned', () =>
      agentRoutes(n0, '-4').some((r) => r.startsWith('10.99.')) ? undefined : true,
    );
    expect(agentRoutes(n0, '-4')).toEqual(routesOf(n0));
    expect(sh('ip', ['-n', n0.netns, 'route', 'show', '10.98.0.0/24'])).toMatch(/via/);
    expect(await transfer(n0.pods[CLIENT] ?? '', n1.podV4[SERVER] ?? '', SINK, MB4)).toEqual({
      ok: true,
      received: MB4,
    });

    // Node 2 leaves node 0's file: its routes, ipcache entries and node id go.
    c.writeNodesFile(0, [n1]);
    await until(c, "node 2's routes to go", () =>
      agentRoutes(n0, '-4').length === 1 && agentRoutes(n0, '-6').length === 1 ? true : undefined,
    );
    expect(agentRoutes(n0, '-4')).toEqual([`${n1.podCidrV4} via ${n1.ipv4}`]);
    await until(c, "node 2's ipcache entries to go", async () =>
      (await ipcache(n0)).some((x) => x.cidr === `${n2.ipv4}/32`) ? undefined : true,
    );
    const ids = JSON.parse((await n0.cli('nodeid', 'list', '-o', 'json')).stdout) as {
      ips?: string[];
    }[];
    expect(ids.flatMap((x) => x.ips ?? [])).not.toContain(n2.ipv4);
    const p = await ping(n0.pods[CLIENT] ?? '', n2.podV4[SERVER] ?? '', 1);
    expect(p.code).not.toBe(0);

    expect(await tearDown(c)).toEqual([]);
  });
});
