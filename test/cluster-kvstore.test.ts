// Two agents, one real etcd: node registration and discovery, and the ipcache across the
// cluster. Agent A runs as a process (it can be killed with SIGKILL); agent B is the whole agent
// in this process (its cellium_ipcache map is read directly). Waits poll, without wall-clock
// bounds: the suite's timeout is the only limit.
import { rmSync } from 'node:fs';
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../core/testing/kernel.js';
import type { Model } from '../core/api/types.js';
import { CelliumClient } from '../core/api/typed-client.js';
import { DatapathMaps, ipcacheKeyOf } from '../cells/maps/index.js';
import { cellium, celliumJson } from './support/cli.js';
import { startEtcd, type TestEtcd } from './support/etcd.js';
import { etcdList, etcdPut } from './support/etcd-keys.js';
import { startAgent, tempDir, type AgentProcess } from './support/procs.js';
import { startWholeAgent, type WholeAgent } from './support/whole-agent.js';

const A_IP = '192.0.2.1';
const B_IP = '192.0.2.2';

function kvstoreFlags(etcd: TestEtcd, ttl = '5s'): Record<string, string> {
  return {
    kvstore: 'etcd',
    'kvstore-opt': `etcd.address=${etcd.endpoint}`,
    'kvstore-lease-ttl': ttl,
  };
}

/** Agent A: a process, node-a at 192.0.2.1, pods from 10.61.0.0/24. */
async function agentA(etcd: TestEtcd, ttl?: string): Promise<AgentProcess> {
  const flags = {
    ...kvstoreFlags(etcd, ttl),
    'bpf-backend': 'memory',
    'node-name': 'node-a',
    'ipv4-node': A_IP,
    'ipv6-node': '',
    'ipv4-range': '10.61.0.0/24',
  };
  const dir = tempDir();
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return startAgent({ dir, args: Object.entries(flags).map(([k, v]) => `--${k}=${v}`) });
}

/** Agent B: the whole agent in this process, node-b at 192.0.2.2, pods from 10.62.0.0/24. */
async function agentB(etcd: TestEtcd): Promise<WholeAgent> {
  const b = await startWholeAgent('10.62.0.0/24', {
    ...kvstoreFlags(etcd),
    'node-name': 'node-b',
    'ipv4-node': B_IP,
    'ipv6-node': '',
    'enable-endpoint-health-checking': false,
  });
  onTestFinished(() => b.stop());
  return b;
}

/** Polls until `fn` returns a truthy value (no deadline: the test's timeout bounds it). */
async function until<T>(fn: () => T | Promise<T>): Promise<NonNullable<T>> {
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function client(socket: string): CelliumClient {
  const c = new CelliumClient(socket);
  onTestFinished(() => c.close());
  return c;
}

async function nodes(api: CelliumClient): Promise<Model<'NodeElement'>[]> {
  return (await api.getClusterNodes())['nodes-added'] ?? [];
}

async function ipEntry(api: CelliumClient, ip: string): Promise<Model<'IPListEntry'> | undefined> {
  return (await api.getIP()).find((e) => e.cidr === `${ip}/32`);
}

/** Creates an endpoint (IP from IPAM, or the given one) as the CNI plugin does. */
async function createEndpoint(
  api: CelliumClient,
  pod: string,
  ip?: string,
  app = pod,
): Promise<{ id: number; ip: string; identity: number }> {
  const addr =
    ip === undefined
      ? ((await api.postIpam({ query: { owner: `shop/${pod}` } })).address.ipv4 ?? '')
      : (await api.postIpamIP({ params: { ip }, query: { owner: `shop/${pod}` } }), ip);
  const ep = await api.putEndpointID({
    params: { id: 'cilium-local:0' },
    body: {
      addressing: { ipv4: addr },
      'container-id': pod.padEnd(64, '0'),
      'k8s-namespace': 'shop',
      'k8s-pod-name': pod,
      labels: [`k8s:app=${app}`],
      state: 'waiting-for-identity',
      'sync-build-endpoint': true,
    },
  });
  return { id: ep.id ?? 0, ip: addr, identity: ep.status?.identity?.id ?? 0 };
}

/** B's cellium_ipcache entry for exactly `ip`/32 (not a covering prefix, e.g. A's pod CIDR). */
function mapEntry(b: WholeAgent, ip: string) {
  const map = b.hive.get(DatapathMaps).ipcache;
  const key = ipcacheKeyOf(`${ip}/32`);
  const exact = [...map.keys()].some((k) => k.ip === key.ip && k.prefixlen === key.prefixlen);
  return exact ? map.lookup(key) : undefined;
}

/** The nodes' and the ipcache's keys in etcd (identities are the identity cell's tests'). */
async function nodeAndIpKeys(etcd: TestEtcd): Promise<string[]> {
  const all = await etcdList(etcd.endpoint, 'cilium/state/');
  return [...all.keys()].filter((k) => !k.startsWith('cilium/state/identities/'));
}

async function moduleHealth(api: CelliumClient, id: string): Promise<Model<'ModuleHealth'>> {
  const s = await api.getHealthz();
  const m = s['modules-health']?.modules?.find((x) => x['module-id']?.endsWith(id));
  if (!m) throw new Error(`no health for ${id}`);
  return m;
}

kernelSuite(
  'nodes and the ipcache across the cluster (real etcd)',
  { root: false, commands: ['etcd'] },
  () => {
    it('each agent lists the other (cluster nodes, node ids, node list); endpoints cross over and leave', async () => {
      const etcd = await startEtcd();
      const a = await agentA(etcd);
      const b = await agentB(etcd);
      const apiA = client(a.socket);
      const apiB = client(b.socket);

      // Each lists the other, from the kvstore, with its address and pod CIDR.
      const seenByB = await until(async () =>
        (await nodes(apiB)).find((n) => n.name === 'default/node-a'),
      );
      expect(seenByB).toMatchObject({
        source: 'kvstore',
        'primary-address': { ipv4: { enabled: true, ip: A_IP, 'alloc-range': '10.61.0.0/24' } },
      });
      const seenByA = await until(async () =>
        (await nodes(apiA)).find((n) => n.name === 'default/node-b'),
      );
      expect(seenByA).toMatchObject({
        source: 'kvstore',
        'primary-address': { ipv4: { ip: B_IP, 'alloc-range': '10.62.0.0/24' } },
      });
      expect((await nodes(apiB)).map((n) => [n.name, n.source])).toEqual([
        ['default/node-b', 'local'],
        ['default/node-a', 'kvstore'],
      ]);
      // The other's IP has a node id on each side.
      expect((await apiB.getNodeIds()).find((e) => e.ips.includes(A_IP))?.id).toBeGreaterThan(0);
      expect((await apiA.getNodeIds()).find((e) => e.ips.includes(B_IP))?.id).toBeGreaterThan(0);
      // cellium node list, as Cilium's.
      const list = await cellium(b.socket, 'node', 'list');
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(
        /\ndefault\/node-a\s+192\.0\.2\.1\s+10\.61\.0\.0\/24\s+kvstore\n/,
      );
      expect(list.stdout).toMatch(
        /\ndefault\/node-b\s+192\.0\.2\.2\s+10\.62\.0\.0\/24\s+.*local\n/,
      );
      const json = await celliumJson<Model<'NodeElement'>[]>(b.socket, 'node', 'list');
      expect(json.map((n) => n.name).sort()).toEqual(['default/node-a', 'default/node-b']);

      // An endpoint on A: in B's ipcache as kvstore's, host IP A, and in B's cellium_ipcache.
      const ep = await createEndpoint(apiA, 'web');
      const entry = await until(() => ipEntry(apiB, ep.ip));
      expect(entry).toEqual({
        cidr: `${ep.ip}/32`,
        identity: ep.identity,
        hostIP: A_IP,
        encryptKey: 0,
        metadata: { source: 'kvstore', namespace: 'shop', name: 'web' },
      });
      const inMap = await until(() => mapEntry(b, ep.ip));
      expect(inMap).toMatchObject({ sec_identity: ep.identity, tunnel_endpoint: A_IP });
      // B's own endpoint stays local in B and reaches A the same way.
      const local = await createEndpoint(apiB, 'cart');
      expect((await ipEntry(apiB, local.ip))?.metadata?.source).toBe('local');
      expect(await until(() => ipEntry(apiA, local.ip))).toMatchObject({
        hostIP: B_IP,
        metadata: { source: 'kvstore' },
      });

      // Deleted on A: gone from B, its table and its map.
      await apiA.deleteEndpointID({ params: { id: String(ep.id) } });
      await until(async () => (await ipEntry(apiB, ep.ip)) === undefined);
      await until(() => mapEntry(b, ep.ip) === undefined);

      // Deleted and at once re-created with the same IP: it ends up present.
      const again = await createEndpoint(apiA, 'web2', ep.ip);
      await apiA.deleteEndpointID({ params: { id: String(again.id) } });
      const third = await createEndpoint(apiA, 'web3', ep.ip);
      const back = await until(async () => {
        const e = await ipEntry(apiB, ep.ip);
        return e?.metadata?.name === 'web3' ? e : undefined;
      });
      expect(back.identity).toBe(third.identity);
      expect(
        (await etcdList(etcd.endpoint, 'cilium/state/ip/v1/')).get(
          `cilium/state/ip/v1/default/${ep.ip}`,
        ),
      ).toContain('"K8sPodName":"web3"');
    });

    it('a killed agent: its lease expires, its node and ipcache entries leave the other', async () => {
      const etcd = await startEtcd();
      const a = await agentA(etcd, '5s');
      const b = await agentB(etcd);
      const apiA = client(a.socket);
      const apiB = client(b.socket);
      const ep = await createEndpoint(apiA, 'web');
      await until(() => mapEntry(b, ep.ip));
      await until(async () => (await nodes(apiB)).some((n) => n.name === 'default/node-a'));

      await a.kill('SIGKILL');
      await until(async () => !(await nodes(apiB)).some((n) => n.name === 'default/node-a'));
      await until(async () => (await ipEntry(apiB, ep.ip)) === undefined);
      await until(() => mapEntry(b, ep.ip) === undefined);
      await until(async () => !(await apiB.getNodeIds()).some((e) => e.ips.includes(A_IP)));
      expect((await nodeAndIpKeys(etcd)).sort()).toEqual([`cilium/state/nodes/v1/default/node-b`]);
    });

    it('skips hostile values written to etcd, says so in health, and keeps working', async () => {
      const etcd = await startEtcd();
      const b = await agentB(etcd);
      const apiB = client(b.socket);
      const mine = await createEndpoint(apiB, 'cart');
      const put = (k: string, v: unknown): Promise<void> =>
        etcdPut(etcd.endpoint, k, typeof v === 'string' ? v : JSON.stringify(v));
      const node = (name: string, over: Record<string, unknown> = {}) => ({
        Name: name,
        Cluster: 'default',
        IPAddresses: [{ Type: 'InternalIP', IP: '192.0.2.50' }],
        IPv4AllocCIDR: null,
        IPv6AllocCIDR: null,
        ...over,
      });
      const pair = (ip: string, over: Record<string, unknown> = {}) => ({
        IP: ip,
        Mask: null,
        HostIP: '192.0.2.50',
        ID: 4242,
        Key: 0,
        Metadata: '',
        ...over,
      });
      const N = 'cilium/state/nodes/v1/default/';
      const I = 'cilium/state/ip/v1/default/';
      await put(`${N}bad-json`, '{');
      await put(`${N}liar`, node('someone-else'));
      await put(`${N}thief`, node('thief', { IPAddresses: [{ Type: 'InternalIP', IP: B_IP }] }));
      await put(
        `${N}bad-cidr`,
        node('bad-cidr', { IPv4AllocCIDR: { IP: '10.9.0.1', Mask: '////AA==' } }),
      );
      await put(`${N}no-ip`, node('no-ip', { IPAddresses: [{ Type: 'InternalIP', IP: 'x' }] }));
      await put(`${I}10.70.0.1`, '[]');
      await put(`${I}10.70.0.2`, pair('10.70.0.2', { ID: 0 }));
      await put(`${I}10.70.0.3`, pair('10.70.0.3', { ID: 2 ** 32 }));
      await put(`${I}10.70.0.4`, pair('10.70.0.4', { HostIP: 'node-x' }));
      await put(`${I}10.70.0.5`, pair('10.70.0.9'));
      await put(`${I}not-an-ip`, pair('10.70.0.6'));
      // Valid ones still go in.
      await put(`${N}good`, node('good'));
      await put(`${I}10.70.0.10`, pair('10.70.0.10'));
      // A remote claim on B's own endpoint IP: the local entry wins.
      await put(`${I}${mine.ip}`, pair(mine.ip, { ID: 4343 }));

      await until(async () => (await nodes(apiB)).some((n) => n.name === 'default/good'));
      await until(() => ipEntry(apiB, '10.70.0.10'));
      const nodeHealth = await until(async () => {
        const h = await moduleHealth(apiB, 'node.kvstore-nodes');
        return h.message?.includes('skipped 5 invalid entries') ? h : undefined;
      });
      expect(nodeHealth.level).toBe('degraded');
      for (const reason of [
        `${N}bad-json: not JSON`,
        `${N}liar: Name "someone-else" is not the key's liar`,
        `${N}thief: claims this node's IP ${B_IP}`,
        `${N}bad-cidr: IPv4AllocCIDR`,
        `${N}no-ip: IPAddresses.0.IP: "x" is not an IP address`,
      ]) {
        expect(nodeHealth.message).toContain(reason);
      }
      const ipHealth = await until(async () => {
        const h = await moduleHealth(apiB, 'ipcache.kvstore-sync');
        return h.message?.includes('skipped 6 invalid entries') ? h : undefined;
      });
      expect(ipHealth.level).toBe('degraded');
      expect(ipHealth.message).toContain(`${I}10.70.0.1: not a JSON object`);
      expect(ipHealth.message).toContain('and 1 more');
      expect((await nodes(apiB)).map((n) => n.name).sort()).toEqual([
        'default/good',
        'default/node-b',
      ]);
      expect((await apiB.getIP()).filter((e) => e.cidr.startsWith('10.70.'))).toEqual([
        expect.objectContaining({ cidr: '10.70.0.10/32', identity: 4242 }),
      ]);
      expect(await ipEntry(apiB, mine.ip)).toMatchObject({
        identity: mine.identity,
        metadata: { source: 'local' },
      });
      expect(mapEntry(b, mine.ip)?.sec_identity).toBe(mine.identity);

      // Fixed or removed, the notes go.
      await put(`${N}bad-json`, node('bad-json'));
      await until(async () => (await nodes(apiB)).some((n) => n.name === 'default/bad-json'));
      expect((await moduleHealth(apiB, 'node.kvstore-nodes')).message).toContain(
        'skipped 4 invalid entries',
      );
    });

    it('etcd stopped while an endpoint is created on A: after it returns B has it, nothing duplicated', async () => {
      const etcd = await startEtcd();
      const a = await agentA(etcd);
      const b = await agentB(etcd);
      const apiA = client(a.socket);
      const apiB = client(b.socket);
      const before = await createEndpoint(apiA, 'before');
      await until(() => mapEntry(b, before.ip));

      await etcd.stop();
      // Labels A already uses: their identity is known without etcd (new ones would wait for it).
      const during = await createEndpoint(apiA, 'during', undefined, 'before');
      // A's own ipcache has it at once; its publication waits for etcd.
      expect((await ipEntry(apiA, during.ip))?.metadata?.source).toBe('local');
      await etcd.restart();

      const entry = await until(() => ipEntry(apiB, during.ip));
      expect(entry).toMatchObject({ identity: during.identity, hostIP: A_IP });
      await until(() => mapEntry(b, during.ip));
      // One key per IP, one per node; each node listed once on the other.
      const keys = (await nodeAndIpKeys(etcd)).sort();
      expect(keys).toEqual(
        [
          `cilium/state/ip/v1/default/${before.ip}`,
          `cilium/state/ip/v1/default/${during.ip}`,
          'cilium/state/nodes/v1/default/node-a',
          'cilium/state/nodes/v1/default/node-b',
        ].sort(),
      );
      // A's pods' entries (besides those the routing cell derives from node-a: its IP, its pod CIDR).
      const pods = (await apiB.getIP()).filter((e) => /^10\.61\.0\.\d+\/32$/.test(e.cidr));
      expect(pods.map((e) => e.metadata?.source)).toEqual(['kvstore', 'kvstore']);
      expect((await nodes(apiB)).filter((n) => n.name === 'default/node-a')).toHaveLength(1);
    });
  },
);
