// Services end to end on the real kernel: the agent runs in a node namespace, pods are added by
// cellium-cni, services are written with `cellium service update` (the API where the CLI has no
// flag), and real TCP and UDP go from pods, from a process in a cgroup on the node (socket LB)
// and from an "external" namespace through the node's device (NodePort, LoadBalancer).
// Root only (core/testing/kernel.ts); every namespace, cgroup and process goes with its test.
import { mkdirSync } from 'node:fs';
import { expect, it, onTestFinished } from 'vitest';
import { cgroupV2Mount, openMap } from '../core/bpf/index.js';
import { BPF_HOST_OBJECT, BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { CT4 } from '../cells/conntrack/maps.js';
import { addr, netns, sh, veth } from './support/netns.js';
import {
  ECHO_TCP,
  ECHO_UDP,
  echoPods,
  serviceNode,
  serviceUpdate,
  stream,
  streamServers,
  testCgroupDir,
  udpFlows,
  type ServiceNode,
} from './support/services.js';
import {
  removeCgroup,
  SOCK_OBJECT,
  startServers,
  tcpClient,
  udpClient,
  type TcpResult,
  type UdpResult,
} from './support/socket-lb.js';

const names = (rs: readonly TcpResult[]) => new Set(rs.map((r) => r.data ?? r.error));
const udpNames = (rs: readonly UdpResult[]) =>
  new Set(rs.flatMap((r) => (r.error ? [r.error] : r.replies.map((x) => x.data))));
const errors = (rs: readonly { error?: string }[]) => rs.flatMap((r) => (r.error ? [r.error] : []));

/** `ip:port` of each listed pod. */
const at = (n: ServiceNode, pods: readonly number[], port: number): string =>
  pods.map((i) => `${n.ips[i] ?? ''}:${port}`).join(',');

/** Deletes every entry of the node's any-protocol IPv4 conntrack map (new flows pick afresh). */
function flushCtAny4(n: ServiceNode): void {
  const ct = openMap(CT4.any, {
    backend: 'kernel',
    pinDir: `${n.bpfRoot}/tc/globals`,
    maxEntries: 16384,
  });
  try {
    for (const k of [...ct.keys()]) ct.delete(k);
  } finally {
    ct.close();
  }
}

/** What is outside a node: a client network on ext0 and a remote backend's on ext1. */
interface Outside {
  /** The external client's namespace and the node's address it reaches (on ext0). */
  readonly client: string;
  readonly nodeAddr: string;
  /** A backend outside the node (on "another node"), behind ext1, and its address. */
  readonly remote: string;
  readonly remoteAddr: string;
}

/**
 * Wires a node namespace to the outside before its agent starts: ext0 to a client namespace
 * (192.168.<k>.0/24, the client's default route via the node), ext1 to a remote backend's
 * (192.168.<k+1>.0/24, the same). The LoadBalancer VIPs 203.0.113.0/24 are routed to the node.
 */
function outside(k: number): { before: (node: string) => void; world: () => Outside } {
  let world: Outside | undefined;
  const before = (node: string) => {
    const id = node.slice('cs-'.length);
    const client = netns(`cx-${id}`);
    const remote = netns(`cr-${id}`);
    const link = (dev: string, peer: string, net: string) => {
      veth(node, dev, peer, 'eth0');
      addr(node, dev, `${net}.1/24`);
      addr(peer, 'eth0', `${net}.2/24`);
      sh('ip', ['-n', peer, 'route', 'add', 'default', 'via', `${net}.1`]);
    };
    link('ext0', client, `192.168.${k}`);
    link('ext1', remote, `192.168.${k + 1}`);
    world = { client, nodeAddr: `192.168.${k}.1`, remote, remoteAddr: `192.168.${k + 1}.2` };
  };
  return {
    before,
    world: () => {
      if (!world) throw new Error('the node was not wired');
      return world;
    },
  };
}

const NODEPORT = ['--enable-node-port', '--devices=ext0,ext1'];

kernelSuite(
  'services through the agent on the kernel',
  {
    objects: [BPF_LXC_OBJECT, BPF_HOST_OBJECT],
    commands: ['ip', 'nsenter', 'sh', 'bpftool'],
  },
  () => {
    it('a pod reaches a ClusterIP over TCP and UDP: every backend answers, replies come from the VIP', async () => {
      const n = await serviceNode({ pods: 4 });
      await echoPods(n, [1, 2, 3]);
      const vip = '10.96.40.10';
      await serviceUpdate(
        n,
        '--id=1',
        `--frontend=${vip}:80`,
        `--backends=${at(n, [1, 2, 3], ECHO_TCP)}`,
      );
      await serviceUpdate(
        n,
        '--id=2',
        `--frontend=${vip}:53`,
        '--protocol=udp',
        `--backends=${at(n, [1, 2, 3], ECHO_UDP)}`,
      );
      const client = { ns: n.pods[0] ?? '' };
      const tcp = await tcpClient(client, { host: vip, port: 80, times: 45 });
      expect(errors(tcp)).toEqual([]);
      expect(names(tcp)).toEqual(new Set(['pod1', 'pod2', 'pod3']));
      for (const r of tcp) expect(r.peer).toEqual({ address: vip, port: 80 });
      const udp = await udpClient(client, { host: vip, port: 53, times: 45 });
      expect(errors(udp)).toEqual([]);
      expect(udpNames(udp)).toEqual(new Set(['pod1', 'pod2', 'pod3']));
      for (const r of udp)
        for (const x of r.replies) expect(x.from).toEqual({ address: vip, port: 53 });

      // What the agent says it realized, and the maps under it.
      const list = await n.cli('service', 'list');
      expect(list.stdout).toContain(`${vip}:80/TCP`);
      expect(list.stdout).toContain(`${vip}:53/UDP`);
      const get = await n.cli('-o', 'json', 'service', 'get', '1');
      const realized = (JSON.parse(get.stdout) as { status: { realized: { id: number } } }).status
        .realized;
      expect(realized.id).toBe(1);
      const maps = await n.cli('-o', 'json', 'map', 'get', 'cellium_lb4_services_v2');
      const entries = (JSON.parse(maps.stdout) as { cache: unknown[] }).cache;
      // Per service a master entry and three slots.
      expect(entries).toHaveLength(8);
      // bpf_lxc tracked the flows in the agent's pinned conntrack map (not a private copy).
      const ct = sh('bpftool', [
        '-j',
        'map',
        'dump',
        'pinned',
        `${n.bpfRoot}/tc/globals/cellium_ct4_global`,
      ]);
      expect((JSON.parse(ct) as unknown[]).length).toBeGreaterThanOrEqual(45);
    });

    it('a terminating backend takes no new connection while a stream through it keeps flowing', async () => {
      const n = await serviceNode({ pods: 4 });
      const port = 9000;
      await streamServers(n, [1, 2, 3], port);
      const vip = '10.96.40.20';
      const backends = `--backends=${at(n, [1, 2, 3], port)}`;
      await serviceUpdate(n, '--id=5', `--frontend=${vip}:80`, backends);
      const s = stream(n.pods[0] ?? '', vip, 80);
      const { name, peer } = await s.started;
      expect(peer).toBe(vip);
      await s.waitFor(3);
      const leaving = Number(name.slice('pod'.length));
      const states = [1, 2, 3].map((i) => (i === leaving ? 'terminating' : 'active'));
      await serviceUpdate(
        n,
        '--id=5',
        `--frontend=${vip}:80`,
        backends,
        `--states=${states.join(',')}`,
      );
      const after = await tcpClient(
        { ns: n.pods[0] ?? '' },
        { host: vip, port: 80, times: 30, firstLine: true },
      );
      expect(errors(after)).toEqual([]);
      expect(names(after)).toEqual(
        new Set([1, 2, 3].filter((i) => i !== leaving).map((i) => `pod${i}`)),
      );
      await s.waitFor(10);
      expect(s.ended()).toBeUndefined();
    });

    it('Maglev: a flow always lands on the same backend; removing one of five moves about a fifth of the flows', async () => {
      const n = await serviceNode({ pods: 6, args: ['--bpf-lb-algorithm=maglev'] });
      await echoPods(n, [1, 2, 3, 4, 5]);
      const vip = '10.96.40.30';
      const update = (pods: number[]) =>
        serviceUpdate(
          n,
          '--id=7',
          `--frontend=${vip}:53`,
          '--protocol=udp',
          `--backends=${at(n, pods, ECHO_UDP)}`,
        );
      await update([1, 2, 3, 4, 5]);
      const sports = Array.from({ length: 500 }, (_, i) => 20000 + i);
      const flows = () => udpFlows(n.pods[0] ?? '', vip, 53, sports);
      const first = await flows();
      expect(new Set(Object.values(first))).toEqual(
        new Set(['pod1', 'pod2', 'pod3', 'pod4', 'pod5']),
      );
      // Without conntrack to remember them, the same flows pick the same backends again.
      flushCtAny4(n);
      expect(await flows()).toEqual(first);

      await update([1, 2, 3, 4]);
      flushCtAny4(n);
      const second = await flows();
      expect(new Set(Object.values(second))).toEqual(new Set(['pod1', 'pod2', 'pod3', 'pod4']));
      const moved = sports.filter((p) => first[p] !== second[p]);
      // Flows on pod5 had to move; of the others Maglev moves only the few its table shifts.
      const others = moved.filter((p) => first[p] !== 'pod5');
      expect(others.length).toBeLessThanOrEqual(sports.length * 0.03);
      expect(moved.length / sports.length).toBeGreaterThan(0.1);
      expect(moved.length / sports.length).toBeLessThan(0.3);
    });

    it('NodePort and LoadBalancer from outside: local and remote backends answer from the address the client used', async () => {
      const out = outside(81);
      const n = await serviceNode({ pods: 3, args: NODEPORT, before: out.before });
      const o = out.world();
      await echoPods(n, [1, 2]);
      await startServers(o.remote, [
        { proto: 'tcp', host: '0.0.0.0', port: ECHO_TCP, name: 'remote' },
        { proto: 'udp', host: '0.0.0.0', port: ECHO_UDP, name: 'remote' },
      ]);
      const tcpBackends = `--backends=${at(n, [1, 2], ECHO_TCP)},${o.remoteAddr}:${ECHO_TCP}`;
      const udpBackends = `--backends=${at(n, [1, 2], ECHO_UDP)},${o.remoteAddr}:${ECHO_UDP}`;
      await serviceUpdate(n, '--id=20', '--k8s-node-port', '--frontend=0.0.0.0:30080', tcpBackends);
      await serviceUpdate(
        n,
        '--id=21',
        '--k8s-node-port',
        '--frontend=0.0.0.0:30053',
        '--protocol=udp',
        udpBackends,
      );
      const lb = '203.0.113.7';
      await serviceUpdate(n, '--id=22', '--k8s-load-balancer', `--frontend=${lb}:80`, tcpBackends);
      const all = new Set(['pod1', 'pod2', 'remote']);
      const client = { ns: o.client };

      const np = await tcpClient(client, { host: o.nodeAddr, port: 30080, times: 45 });
      expect(errors(np)).toEqual([]);
      expect(names(np)).toEqual(all);
      for (const r of np) expect(r.peer).toEqual({ address: o.nodeAddr, port: 30080 });
      const npUdp = await udpClient(client, { host: o.nodeAddr, port: 30053, times: 45 });
      expect(errors(npUdp)).toEqual([]);
      expect(udpNames(npUdp)).toEqual(all);
      for (const r of npUdp)
        for (const x of r.replies) expect(x.from).toEqual({ address: o.nodeAddr, port: 30053 });
      sh('ip', ['-n', o.client, 'route', 'add', `${lb}/32`, 'via', o.nodeAddr]);
      const viaLb = await tcpClient(client, { host: lb, port: 80, times: 45 });
      expect(errors(viaLb)).toEqual([]);
      expect(names(viaLb)).toEqual(all);
      for (const r of viaLb) expect(r.peer).toEqual({ address: lb, port: 80 });
      // Pods reach the LoadBalancer address too (bpf_lxc), and the NodePort on the node address.
      const fromPod = await tcpClient({ ns: n.pods[0] ?? '' }, { host: lb, port: 80, times: 30 });
      expect(errors(fromPod)).toEqual([]);
      expect(names(fromPod)).toEqual(all);
    });

    it('externalTrafficPolicy=Local sends outside clients only to local backends; source ranges let only their clients in', async () => {
      const out = outside(83);
      const n = await serviceNode({ pods: 3, args: NODEPORT, before: out.before });
      const o = out.world();
      await echoPods(n, [1, 2]);
      await startServers(o.remote, [
        { proto: 'tcp', host: '0.0.0.0', port: ECHO_TCP, name: 'remote' },
      ]);
      const lb = '203.0.113.8';
      sh('ip', ['-n', o.client, 'route', 'add', '203.0.113.0/24', 'via', o.nodeAddr]);
      // pod1 is this node's, pod2 is said to be node-b's, the remote backend is node-b's.
      const backends = [
        `--backends=${at(n, [1, 2], ECHO_TCP)},${o.remoteAddr}:${ECHO_TCP}`,
        '--backend-nodes=node-a,node-b,node-b',
      ];
      await serviceUpdate(
        n,
        '--id=30',
        '--k8s-load-balancer',
        `--frontend=${lb}:80`,
        ...backends,
        '--k8s-ext-traffic-policy=Local',
      );
      const ext = await tcpClient({ ns: o.client }, { host: lb, port: 80, times: 30 });
      expect(errors(ext)).toEqual([]);
      expect(names(ext)).toEqual(new Set(['pod1']));
      // Inside the cluster the internal policy (Cluster) still reaches every backend.
      const inside = await tcpClient({ ns: n.pods[0] ?? '' }, { host: lb, port: 80, times: 45 });
      expect(errors(inside)).toEqual([]);
      expect(names(inside)).toEqual(new Set(['pod1', 'pod2', 'remote']));

      // loadBalancerSourceRanges: the client's network is not in them, then it is.
      const ranged = '203.0.113.9';
      const update = (range: string) =>
        serviceUpdate(
          n,
          '--id=31',
          '--k8s-load-balancer',
          `--frontend=${ranged}:80`,
          backends[0] ?? '',
          `--source-ranges=${range}`,
        );
      await update('198.51.100.0/24');
      const denied = await tcpClient({ ns: o.client }, { host: ranged, port: 80, timeoutMs: 1000 });
      expect(errors(denied)).toEqual(['timeout']);
      await update('198.51.100.0/24,192.168.83.0/24');
      // 45 connections, as above: with 10, one of three random backends goes unpicked in 5% of runs.
      const allowed = await tcpClient({ ns: o.client }, { host: ranged, port: 80, times: 45 });
      expect(errors(allowed)).toEqual([]);
      expect(names(allowed)).toEqual(new Set(['pod1', 'pod2', 'remote']));
    });
  },
);

kernelSuite(
  'socket LB through the agent on the kernel',
  { objects: [BPF_LXC_OBJECT, SOCK_OBJECT], commands: ['ip', 'nsenter', 'sh'], cgroup2: true },
  () => {
    it('socket LB: a process in the cgroup on the node reaches the ClusterIP; getpeername() shows it', async () => {
      const cgroup = testCgroupDir(cgroupV2Mount() ?? '');
      mkdirSync(cgroup);
      onTestFinished(() => removeCgroup(cgroup));
      const n = await serviceNode({ pods: 3, args: ['--bpf-lb-sock', `--cgroup-root=${cgroup}`] });
      await echoPods(n, [1, 2]);
      const vip = '10.96.40.40';
      await serviceUpdate(
        n,
        '--id=9',
        `--frontend=${vip}:80`,
        `--backends=${at(n, [1, 2], ECHO_TCP)}`,
      );
      await serviceUpdate(
        n,
        '--id=10',
        `--frontend=${vip}:53`,
        '--protocol=udp',
        `--backends=${at(n, [1, 2], ECHO_UDP)}`,
      );
      const host = { ns: n.node, cgroup };
      const tcp = await tcpClient(host, { host: vip, port: 80, times: 20 });
      expect(errors(tcp)).toEqual([]);
      expect(names(tcp)).toEqual(new Set(['pod1', 'pod2']));
      for (const r of tcp) expect(r.peer).toEqual({ address: vip, port: 80 });
      const udp = await udpClient(host, { host: vip, port: 53, times: 20 });
      expect(errors(udp)).toEqual([]);
      expect(udpNames(udp)).toEqual(new Set(['pod1', 'pod2']));
      for (const r of udp)
        for (const x of r.replies) expect(x.from).toEqual({ address: vip, port: 53 });
      // Outside the cgroup nothing translates: the VIP is nowhere.
      sh('ip', ['-n', n.node, 'route', 'add', 'unreachable', '10.96.40.0/24']);
      const outside = await tcpClient(host, { host: vip, port: 80, timeoutMs: 1000 }, false);
      expect(errors(outside)).toHaveLength(1);
    });
  },
);
