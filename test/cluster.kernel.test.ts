// Issue 12 end to end: three "nodes" (network namespaces on an underlay bridge), an agent each,
// one real etcd in the underlay's namespace. The agents find each other, share identities and
// the ipcache through etcd, and carry pod traffic between nodes in tunnel (VXLAN) and native
// mode, also to a ClusterIP whose backends are on other nodes. Then the hard parts: the same new
// labels on three nodes at once, a policy admitting one remote identity and no other, etcd away
// for 30 s while pods are created, kill -9 and restart (nothing re-allocated), and a node whose
// agent dies for good (its lease takes its entries).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ApiClient } from '../core/api/index.js';
import { BPF_LXC_OBJECT, BPF_OVERLAY_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import {
  deviceCounters,
  ping,
  runIn,
  startCluster,
  startSink,
  transfer,
  UNDERLAY_IPV4,
  type Cluster,
  type ClusterNode,
} from './support/cluster.js';
import { startEtcd, type TestEtcd } from './support/etcd.js';
import { sh } from './support/netns.js';

const needs = {
  objects: [BPF_LXC_OBJECT, BPF_OVERLAY_OBJECT],
  commands: ['ip', 'nsenter', 'ping', 'etcd'],
};

const TTL_S = 10;
const IDS = 'cilium/state/identities/v1/';
const IPS = 'cilium/state/ip/v1/default/';
const SINK_PORT = 8000;

interface IpEntry {
  cidr: string;
  identity: number;
  hostIP?: string;
  metadata?: { source?: string };
}
interface IdentityModel {
  id: number;
  labels: string[];
}

/** Polls `fn` until it returns a value (not undefined); fails naming `what` after ~60 s. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, c?: Cluster): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 600; i++) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const logs = c?.nodes.map(
    (n) => `${n.name}:\n${n.agent.logs().split('\n').slice(-25).join('\n')}`,
  );
  throw new Error(
    `timed out waiting for ${what} (${String(last)})\n${logs?.join('\n---\n') ?? ''}`,
  );
}

async function get<T>(n: ClusterNode, path: string): Promise<T> {
  const api = new ApiClient(n.agent.socket);
  try {
    return await api.request<T>('GET', path);
  } finally {
    api.close();
  }
}

/** Every pod's address and the node holding it. */
function podsOf(c: Cluster): { ip: string; node: ClusterNode; pod: number }[] {
  return c.nodes.flatMap((node) =>
    [...node.podV4, ...node.podV6]
      .map((ip, k) => ({ ip, node, pod: k % node.podV4.length }))
      .filter((p) => p.ip !== ''),
  );
}

const hostPrefix = (ip: string) => `${ip}/${ip.includes(':') ? 128 : 32}`;

/**
 * A node's ipcache as far as pods go: pod prefix → "identity@hostIP source", one line each,
 * sorted — every node must tell the same story about every pod (its own ones without hostIP).
 */
async function podView(n: ClusterNode, c: Cluster): Promise<string[]> {
  const pods = new Map(podsOf(c).map((p) => [hostPrefix(p.ip), p]));
  const ips = await get<IpEntry[]>(n, '/ip');
  return ips
    .filter((e) => pods.has(e.cidr))
    .map((e) => {
      const owner = pods.get(e.cidr)?.node;
      const where = owner === n ? 'local' : `${e.hostIP ?? '?'} ${e.metadata?.source ?? '?'}`;
      return `${e.cidr} ${e.identity} ${where}`;
    })
    .sort();
}

/** What each node should see: every pod with its owner's identity, remote ones via their node. */
async function expectedView(n: ClusterNode, c: Cluster): Promise<string[]> {
  const out: string[] = [];
  for (const owner of c.nodes) {
    const eps = await get<
      {
        status?: {
          identity?: { id?: number };
          networking?: { addressing?: { ipv4?: string; ipv6?: string }[] };
        };
      }[]
    >(owner, '/endpoint');
    for (const ep of eps) {
      const id = ep.status?.identity?.id;
      if (id === undefined || id < 256) continue; // the health endpoint is not a pod here
      for (const a of ep.status?.networking?.addressing ?? []) {
        for (const ip of [a.ipv4, a.ipv6]) {
          if (!ip) continue;
          out.push(`${hostPrefix(ip)} ${id} ${owner === n ? 'local' : `${owner.ipv4} kvstore`}`);
        }
      }
    }
  }
  return out.sort();
}

/** Waits until every node's view of the pods is what the endpoints say. */
async function converged(c: Cluster): Promise<void> {
  for (const n of c.nodes) {
    await until(
      `${n.name}'s ipcache to hold every pod`,
      async () => {
        const [seen, want] = [await podView(n, c), await expectedView(n, c)];
        return JSON.stringify(seen) === JSON.stringify(want) && want.length > 0 ? true : undefined;
      },
      c,
    );
  }
}

/** The non-reserved identities a node knows, as "id labels" lines. */
async function identities(n: ClusterNode): Promise<string[]> {
  const ids = await get<IdentityModel[]>(n, '/identity');
  return ids
    .filter((i) => i.id >= 256 && i.id < 1 << 24)
    .map((i) => `${i.id} ${[...i.labels].sort().join(',')}`)
    .sort();
}

// Through the API, not the in-process CLI: these run on several nodes at once.
async function endpointIdentity(n: ClusterNode, pod: number): Promise<number> {
  const ep = await get<{ status?: { identity?: { id?: number } } }>(
    n,
    `/endpoint/${encodeURIComponent(`pod-name:default/pod${pod}`)}`,
  );
  return ep.status?.identity?.id ?? -1;
}

/** Adds user labels to pod `pod` of a node (as `cellium endpoint labels --add` does). */
async function label(n: ClusterNode, pod: number, ...labels: string[]): Promise<void> {
  const api = new ApiClient(n.agent.socket);
  try {
    const path = `/endpoint/${encodeURIComponent(`pod-name:default/pod${pod}`)}/labels`;
    const now = await api.request<{ spec?: { user?: string[] } }>('GET', path);
    const user = [...new Set([...(now.spec?.user ?? []), ...labels])];
    await api.request('PATCH', path, { body: { user } });
  } finally {
    api.close();
  }
}

// Lists a prefix through etcd's JSON gateway; run inside the underlay's namespace, where etcd is.
const RANGE = `
const [endpoint, prefix] = process.argv.slice(1);
const b = Buffer.from(prefix);
const end = Buffer.from(b); end[end.length - 1]++;
fetch(endpoint + '/v3/kv/range', { method: 'POST', body: JSON.stringify({ key: b.toString('base64'), range_end: end.toString('base64') }) })
  .then((r) => r.json())
  .then((j) => process.stdout.write(JSON.stringify((j.kvs || []).map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value || '', 'base64').toString()]))));`;

/** Every key under a prefix in the cluster's etcd, with its value. */
async function etcdKeys(c: Cluster, etcd: TestEtcd, prefix: string): Promise<Map<string, string>> {
  const r = await runIn(c.underlay, [process.execPath, '-e', RANGE, etcd.endpoint, prefix]);
  if (r.code !== 0) throw new Error(`listing ${prefix} in etcd failed: ${r.stderr}`);
  return new Map(JSON.parse(r.stdout) as [string, string][]);
}

/** Every identity master key in etcd: id → labels. */
async function masterKeys(c: Cluster, etcd: TestEtcd): Promise<Map<string, string>> {
  const all = await etcdKeys(c, etcd, `${IDS}id/`);
  return new Map([...all].map(([k, v]) => [k.slice(`${IDS}id/`.length), v]));
}

async function cluster(
  mode: 'tunnel' | 'native',
  pods: number,
): Promise<{ c: Cluster; etcd: TestEtcd }> {
  let etcd: TestEtcd | undefined;
  const c = await startCluster({
    nodes: 3,
    podsPerNode: pods,
    discovery: 'none',
    beforeAgents: async (underlay) => {
      etcd = await startEtcd({ netns: underlay, host: UNDERLAY_IPV4 });
    },
    args: () => [
      '--kvstore=etcd',
      `--kvstore-opt=etcd.address=${etcd?.endpoint ?? ''}`,
      `--kvstore-lease-ttl=${TTL_S}s`,
      '--kvstore-connectivity-timeout=90s',
      `--routing-mode=${mode}`,
      ...(mode === 'native' ? ['--auto-direct-node-routes'] : []),
    ],
  });
  if (!etcd) throw new Error('no etcd');
  return { c, etcd };
}

/** Every node lists the three nodes, from the kvstore. */
async function discovered(c: Cluster): Promise<void> {
  for (const n of c.nodes) {
    await until(
      `${n.name} to list three nodes`,
      async () => {
        const s = await get<{ 'nodes-added'?: { name?: string; source?: string }[] }>(
          n,
          '/cluster/nodes',
        );
        const names = (s['nodes-added'] ?? [])
          .map((x) => `${x.name ?? ''} ${x.source ?? ''}`)
          .sort();
        const want = c.nodes
          .map((x) => `default/${x.name} ${x === n ? 'local' : 'kvstore'}`)
          .sort();
        return JSON.stringify(names) === JSON.stringify(want) ? true : undefined;
      },
      c,
    );
  }
}

kernelSuite('three nodes, one etcd', needs, () => {
  for (const mode of ['tunnel', 'native'] as const) {
    it(`${mode}: pods talk across nodes; identities, ipcache and policy are cluster-wide`, async () => {
      const { c } = await cluster(mode, 2);
      await discovered(c);
      await converged(c);

      // Every pod on every node reaches pod 0 of the next node: ping (v4, v6) and a stream.
      const vx0 = c.nodes.map((n) => deviceCounters(n.netns, 'cellium_vxlan'));
      for (const n of c.nodes) await startSink(n.pods[0] ?? '', SINK_PORT);
      for (const [i, n] of c.nodes.entries()) {
        const peer = c.nodes[(i + 1) % 3]!;
        for (const [k, pod] of n.pods.entries()) {
          for (const ip of [peer.podV4[0]!, peer.podV6[0]!]) {
            const r = await ping(pod, ip);
            expect(r.code, `${n.name} pod${k} → ${peer.name} ${ip}: ${r.stdout}${r.stderr}`).toBe(
              0,
            );
          }
          const t = await transfer(pod, peer.podV4[0]!, SINK_PORT, 1 << 20);
          expect(t, `${n.name} pod${k} → ${peer.name} TCP`).toMatchObject({ ok: true });
        }
      }
      const vx1 = c.nodes.map((n) => deviceCounters(n.netns, 'cellium_vxlan'));
      if (mode === 'tunnel') {
        for (const [i, n] of c.nodes.entries()) {
          expect(vx1[i]!.tx - vx0[i]!.tx, `${n.name} cellium_vxlan tx`).toBeGreaterThan(1 << 20);
          expect(vx1[i]!.rx - vx0[i]!.rx, `${n.name} cellium_vxlan rx`).toBeGreaterThan(1 << 20);
        }
      } else {
        for (const [i, n] of c.nodes.entries()) {
          expect(vx1[i], `${n.name} has no VXLAN device`).toBeUndefined();
          // The other nodes' pod CIDRs via their addresses.
          const routes = sh('ip', ['-n', n.netns, 'route', 'show']);
          for (const o of c.nodes.filter((x) => x !== n))
            expect(routes).toContain(`${o.podCidrV4} via ${o.ipv4}`);
        }
      }

      // A ClusterIP on node 0 whose backends are pods of nodes 1 and 2: its pods reach both.
      const vip = '10.96.77.10';
      const backends = [c.nodes[1]!, c.nodes[2]!].map((n) => `${n.podV4[0]!}:${SINK_PORT}`);
      const svc = await c.nodes[0]!.cli(
        'service',
        'update',
        '--id=1',
        `--frontend=${vip}:${SINK_PORT}`,
        `--backends=${backends.join(',')}`,
      );
      expect(svc.code, `${svc.stdout}${svc.stderr}`).toBe(0);
      for (let k = 0; k < 6; k++) {
        const t = await transfer(c.nodes[0]!.pods[k % 2]!, vip, SINK_PORT, 1 << 16);
        expect(t, `pod${k % 2} on node-0 → ClusterIP ${vip} (round ${k})`).toMatchObject({
          ok: true,
        });
      }

      // The same labels on every node are one identity (pods start with the namespace's only).
      const first = await Promise.all(c.nodes.map((n) => endpointIdentity(n, 0)));
      expect(new Set(first).size).toBe(1);
      // New labels on all three nodes at once converge on one id.
      const tag = `k8s:conc=${mode}-${c.id}`;
      await Promise.all(c.nodes.map((n) => label(n, 1, tag)));
      const conc = await Promise.all(c.nodes.map((n) => endpointIdentity(n, 1)));
      expect(new Set(conc).size, `identities ${conc.join(',')}`).toBe(1);
      for (const n of c.nodes) {
        const withTag = (await identities(n)).filter((l) => l.includes(tag));
        expect(withTag, n.name).toEqual([
          `${conc[0]} ${[tag, 'k8s:io.kubernetes.pod.namespace=default'].sort().join(',')}`,
        ]);
      }
      await converged(c);

      // A policy on node 0: its pod 0 (app=backend) admits app=frontend (pod 0 of node 1) and
      // no one else (pod 0 of node 2, app=other), on TCP 8000 — identities learned from etcd.
      await label(c.nodes[0]!, 0, 'k8s:app=backend');
      await label(c.nodes[1]!, 0, 'k8s:app=frontend');
      await label(c.nodes[2]!, 0, 'k8s:app=other');
      await converged(c);
      const file = join(c.nodes[0]!.dir, 'policy.json');
      writeFileSync(
        file,
        JSON.stringify([
          {
            endpointSelector: { matchLabels: { app: 'backend' } },
            ingress: [
              {
                fromEndpoints: [{ matchLabels: { app: 'frontend' } }],
                toPorts: [{ ports: [{ port: String(SINK_PORT), protocol: 'TCP' }] }],
              },
            ],
          },
        ]),
      );
      const imp = await c.nodes[0]!.cli('policy', 'import', file);
      expect(imp.code, `${imp.stdout}${imp.stderr}`).toBe(0);
      const rev = /Revision: (\d+)/.exec(imp.stdout)?.[1] ?? '';
      const w = await c.nodes[0]!.cli('policy', 'wait', rev, '--max-wait-time', '30s');
      expect(w.code, `${w.stdout}${w.stderr}`).toBe(0);
      const backend = c.nodes[0]!.podV4[0]!;
      expect(await transfer(c.nodes[1]!.pods[0]!, backend, SINK_PORT, 1 << 16)).toMatchObject({
        ok: true,
      });
      expect(await transfer(c.nodes[2]!.pods[0]!, backend, SINK_PORT, 1 << 16, 1500)).toMatchObject(
        {
          ok: false,
          error: 'timeout',
        },
      );
      expect(await transfer(c.nodes[2]!.pods[1]!, backend, SINK_PORT, 1 << 16, 1500)).toMatchObject(
        {
          ok: false,
          error: 'timeout',
        },
      );
      expect((await c.stop()).every((code) => code === 0)).toBe(true);
    });
  }

  it('tunnel: etcd away for 30 s, kill -9 and restart, and a node that dies for good', async () => {
    const { c, etcd } = await cluster('tunnel', 1);
    await discovered(c);
    await converged(c);
    const idsBefore = await masterKeys(c, etcd);

    // etcd stops; pods are created on nodes 0 and 1 meanwhile.
    const stopped = Date.now();
    await etcd.stop();
    for (const n of c.nodes) {
      await until(`${n.name} to report the kvstore down`, async () => {
        const s = await get<{ kvstore?: { state?: string } }>(n, '/healthz');
        return s.kvstore?.state === 'Failure' ? true : undefined;
      });
    }
    const st = await c.nodes[0]!.cli('status');
    expect(st.stdout).toMatch(/KVStore:\s+Failure/);
    await c.nodes[0]!.addPod();
    await c.nodes[1]!.addPod();
    // Pods on one node still reach each other.
    for (const n of [c.nodes[0]!, c.nodes[1]!]) {
      const r = await ping(n.pods[1]!, n.podV4[0]!);
      expect(r.code, `${n.name}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - stopped))));
    await etcd.restart();

    // Back: every node agrees on every pod and every identity; nothing twice, nothing lost.
    await converged(c);
    const views = await Promise.all(c.nodes.map((n) => identities(n)));
    expect(views[1]).toEqual(views[0]);
    expect(views[2]).toEqual(views[0]);
    const idsAfter = await masterKeys(c, etcd);
    expect([...idsAfter.values()].length).toBe(new Set(idsAfter.values()).size);
    expect(idsAfter).toEqual(idsBefore); // the new pods took known labels: no new identity
    const ipKeys = await etcdKeys(c, etcd, IPS);
    expect([...ipKeys.keys()].map((k) => k.slice(IPS.length)).sort()).toEqual(
      podsOf(c)
        .map((p) => p.ip)
        .sort(),
    );
    // The new pods reach the other nodes.
    for (const [i, n] of [c.nodes[0]!, c.nodes[1]!].entries()) {
      const peer = c.nodes[(i + 2) % 3]!;
      const r = await ping(n.pods[1]!, peer.podV4[0]!);
      expect(r.code, `${n.name} new pod → ${peer.name}: ${r.stdout}${r.stderr}`).toBe(0);
    }

    // kill -9 and restart node 2: the same identities, nothing allocated.
    const before2 = await endpointIdentity(c.nodes[2]!, 0);
    const keys2 = await masterKeys(c, etcd);
    await c.nodes[2]!.restart('SIGKILL');
    await until('node 2 to restore', async () =>
      (await identities(c.nodes[2]!)).length > 0 ? true : undefined,
    );
    expect(await endpointIdentity(c.nodes[2]!, 0)).toBe(before2);
    await converged(c);
    expect(await masterKeys(c, etcd)).toEqual(keys2);

    // Node 2 dies for good: its lease expires and its pods leave the others' ipcache.
    const gone = c.nodes[2]!;
    const died = Date.now();
    await gone.agent.kill('SIGKILL');
    const lost = [...gone.podV4, ...gone.podV6].map(hostPrefix);
    for (const n of [c.nodes[0]!, c.nodes[1]!]) {
      await until(`${gone.name}'s pods to leave ${n.name}'s ipcache`, async () => {
        const ips = await get<IpEntry[]>(n, '/ip');
        return ips.some((e) => lost.includes(e.cidr)) ? undefined : true;
      });
      const s = await get<{ 'nodes-added'?: { name?: string }[] }>(n, '/cluster/nodes');
      expect(s['nodes-added']?.map((x) => x.name)).not.toContain(`default/${gone.name}`);
    }
    console.log(
      `node 2's entries left the others ${Date.now() - died} ms after kill -9 (TTL ${TTL_S} s)`,
    );
    expect(await c.nodes[0]!.agent.kill('SIGTERM')).toBe(0);
    expect(await c.nodes[1]!.agent.kill('SIGTERM')).toBe(0);
  });
});
