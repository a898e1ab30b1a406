// Node registration and discovery: two node hives (the node cell with the kvstore cell) against a
// real etcd (test/support/etcd.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../../core/testing/kernel.js';
import { ApiRegistry, type Model } from '../../core/api/index.js';
import { MapRegistry, unpinMemoryMaps } from '../../core/bpf/index.js';
import { HealthTree, provideValue } from '../../core/hive/index.js';
import { testHive } from '../../core/testing/test-hive.js';
import { etcdDelete, etcdList, etcdPut } from '../../test/support/etcd-keys.js';
import { startEtcd, type TestEtcd } from '../../test/support/etcd.js';
import { ApiRoutes } from '../api/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { Ipam } from '../ipam/index.js';
import { kvstoreCell } from '../kvstore/index.js';
import { DatapathMaps, Maps } from '../maps/index.js';
import { ClusterNodeList, nodeCell, NodeIds } from './index.js';
import { nodeKey, type NodeValue } from './node-value.js';

async function nodeHive(
  etcd: TestEtcd,
  name: string,
  ip: string,
  cidr: string,
  flags: Record<string, unknown> = {},
) {
  const pinDir = `/tmp/cellium-kvnode-test-${randomBytes(4).toString('hex')}`;
  onTestFinished(() => unpinMemoryMaps(pinDir));
  const h = testHive([nodeCell, kvstoreCell], {
    overrides: [
      provideValue(DatapathMaps, { backend: 'memory', pinDir } as DatapathMaps),
      provideValue(Maps, new MapRegistry()),
      provideValue(ApiRoutes, new ApiRegistry()),
      provideValue(StatusContributors, { add: () => undefined }),
      provideValue(DaemonConfig, { clusterName: 'default', nodeName: name } as DaemonConfig),
      provideValue(Ipam, { pools: new Map([['ipv4', { cidr }]]) } as unknown as Ipam),
    ],
    flags: {
      'ipv4-node': ip,
      'ipv6-node': '',
      kvstore: 'etcd',
      'kvstore-opt': `etcd.address=${etcd.endpoint}`,
      ...flags,
    },
  });
  await h.requireStart();
  const list = h.get(ClusterNodeList);
  const node = (n: string): Model<'NodeElement'> | undefined =>
    list.list().find((e) => e.name === `default/${n}`);
  const health = (): string =>
    h
      .get(HealthTree)
      .all()
      .find((s) => s.id.endsWith('node.kvstore-nodes'))?.message ?? '';
  return { h, list, node, health, ids: h.get(NodeIds) };
}

async function until<T>(fn: () => T | Promise<T>): Promise<NonNullable<T>> {
  for (;;) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

kernelSuite('nodes in the kvstore (real etcd)', { root: false, commands: ['etcd'] }, () => {
  it('registers each node as Cilium does and lists the others with node ids; a key gone takes its node', async () => {
    const etcd = await startEtcd();
    const a = await nodeHive(etcd, 'a', '192.0.2.1', '10.1.0.0/24');
    const b = await nodeHive(etcd, 'b', '192.0.2.2', '10.2.0.0/24');

    const value = await until(async () =>
      (await etcdList(etcd.endpoint, 'cilium/state/nodes/v1/')).get(nodeKey('default', 'a')),
    );
    expect(JSON.parse(value)).toMatchObject({
      Name: 'a',
      Cluster: 'default',
      IPAddresses: [{ Type: 'InternalIP', IP: '192.0.2.1' }],
      IPv4AllocCIDR: { IP: '10.1.0.0', Mask: '////AA==' },
      IPv6AllocCIDR: null,
      IPv4HealthIP: '',
      NodeIdentity: 1,
    } satisfies Partial<NodeValue>);

    const seen = await until(() => b.node('a'));
    expect(seen).toMatchObject({
      source: 'kvstore',
      'primary-address': {
        ipv4: { enabled: true, ip: '192.0.2.1', 'alloc-range': '10.1.0.0/24' },
        ipv6: { enabled: false },
      },
      'health-endpoint-address': { ipv4: { enabled: false } },
    });
    await until(() => a.node('b'));
    expect(b.ids.idOf('192.0.2.1')).toBeGreaterThan(0);
    expect(a.ids.idOf('192.0.2.2')).toBeGreaterThan(0);
    expect(b.health()).toBe(
      'registered as cilium/state/nodes/v1/default/b; 1 other nodes from the kvstore',
    );

    // A's health endpoint appears: A's value is rewritten, B lists the address.
    a.list.setLocalHealth({ ipv4: '10.1.0.9' });
    await until(() => b.node('a')?.['health-endpoint-address']?.ipv4?.ip === '10.1.0.9');

    // A's key goes (as when its lease expires): B forgets A and frees its id.
    await a.h.requireStop();
    await etcdDelete(etcd.endpoint, nodeKey('default', 'a'));
    await until(() => b.node('a') === undefined);
    expect(b.ids.idOf('192.0.2.1')).toBeUndefined();
  });

  it('a node in both the nodes file and the kvstore is listed once, from the kvstore, and says so', async () => {
    const etcd = await startEtcd();
    const dir = mkdtempSync(join(tmpdir(), 'cellium-kvnode-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'nodes.json');
    writeFileSync(
      file,
      JSON.stringify([
        { name: 'default/a', ipv4: '192.0.2.77', 'pod-cidrs': ['10.77.0.0/24'] },
        { name: 'default/c', ipv4: '192.0.2.3' },
      ]),
    );
    const b = await nodeHive(etcd, 'b', '192.0.2.2', '10.2.0.0/24', { 'nodes-file': file });
    expect(b.node('a')).toMatchObject({ source: 'static' });
    expect(b.ids.idOf('192.0.2.77')).toBeGreaterThan(0);
    await nodeHive(etcd, 'a', '192.0.2.1', '10.1.0.0/24');
    await until(() => b.node('a')?.source === 'kvstore');
    expect(b.node('a')?.['primary-address']?.ipv4?.ip).toBe('192.0.2.1');
    expect(b.list.list().map((n) => [n.name, n.source])).toEqual([
      ['default/b', 'local'],
      ['default/a', 'kvstore'],
      ['default/c', 'static'],
    ]);
    // The file's address for a is no longer a node's: its id is freed, the kvstore's has one.
    expect(b.ids.idOf('192.0.2.77')).toBeUndefined();
    expect(b.ids.idOf('192.0.2.1')).toBeGreaterThan(0);
    expect(b.health()).toContain(
      "default/a in both the nodes file and the kvstore: the kvstore's entries are used",
    );
  });

  it('skips hostile values with a health note, and drops a node whose value turns bad', async () => {
    const etcd = await startEtcd();
    const b = await nodeHive(etcd, 'b', '192.0.2.2', '10.2.0.0/24');
    const good = {
      Name: 'x',
      Cluster: 'default',
      IPAddresses: [{ Type: 'InternalIP', IP: '192.0.2.9' }],
      IPv4AllocCIDR: null,
    };
    await etcdPut(etcd.endpoint, nodeKey('default', 'x'), JSON.stringify(good));
    await until(() => b.node('x'));
    await etcdPut(etcd.endpoint, nodeKey('default', 'x'), JSON.stringify({ ...good, Name: 'y' }));
    await until(() => b.node('x') === undefined);
    expect(b.ids.idOf('192.0.2.9')).toBeUndefined();
    await etcdPut(
      etcd.endpoint,
      nodeKey('default', 'z'),
      JSON.stringify({
        ...good,
        Name: 'z',
        IPAddresses: [{ Type: 'InternalIP', IP: '192.0.2.2' }],
      }),
    );
    await until(() => b.health().includes('skipped 2 invalid entries'));
    expect(b.health()).toContain(`${nodeKey('default', 'x')}: Name "y" is not the key's x`);
    expect(b.health()).toContain(`${nodeKey('default', 'z')}: claims this node's IP 192.0.2.2`);
    expect(b.list.list().map((n) => n.name)).toEqual(['default/b']);
    // Another writer under b's own key: noted.
    await etcdPut(etcd.endpoint, nodeKey('default', 'b'), JSON.stringify({ ...good, Name: 'b' }));
    await until(() => b.health().includes("another writer claims this node's name"));
    // ... and b's own value goes back (after a pause).
    await until(async () =>
      (await etcdList(etcd.endpoint, 'cilium/state/nodes/v1/'))
        .get(nodeKey('default', 'b'))
        ?.includes('"IP":"192.0.2.2"'),
    );
    await until(() => !b.health().includes("another writer claims this node's name"));
  });
});
