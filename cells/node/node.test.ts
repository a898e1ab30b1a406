import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ApiRegistry, type Model } from '../../core/api/index.js';
import { MapRegistry, memoryPin, openMap, unpinMemoryMaps } from '../../core/bpf/index.js';
import { provideValue } from '../../core/hive/index.js';
import type { LinkInfo } from '../../core/net/index.js';
import { testHive } from '../../core/testing/test-hive.js';
import { ApiRoutes } from '../api/index.js';
import { DatapathMaps, Maps } from '../maps/index.js';
import { DaemonConfig, StatusContributors, type StatusContribution } from '../daemon/index.js';
import { Ipam } from '../ipam/index.js';
import { NODE_MAP, nodeCell, nodeKeyOf, NodeIds, NodeLinks } from './index.js';
import { NodeIdTable } from './ids.js';
import { localNodeIps } from './local.js';

const silent = { warn: () => undefined } as never;

function memoryMap(maxEntries = 1024) {
  return openMap(NODE_MAP, { backend: 'memory', maxEntries });
}

function link(
  index: number,
  name: string,
  addrs: [string, 'global' | 'link'][],
  up = true,
): LinkInfo {
  return {
    index,
    name,
    kind: '',
    flags: 0,
    up,
    loopback: name === 'lo',
    mac: '',
    mtu: 1500,
    addresses: addrs.map(([address, scope]) => ({
      family: address.includes(':') ? 'ipv6' : 'ipv4',
      address,
      prefixLen: 24,
      scope,
    })),
  };
}

describe('node id allocation', () => {
  it('gives one id per node, shared by its IPs, and writes them to the map', () => {
    const m = memoryMap();
    const t = new NodeIdTable(m, ['10.0.0.1']);
    const a = t.allocate(['10.0.1.1', 'fd00::a']);
    const b = t.allocate(['10.0.2.1']);
    expect(a).toBeGreaterThanOrEqual(1);
    expect(b).not.toBe(a);
    expect(t.allocate(['10.0.1.1'])).toBe(a);
    // An IP learned later joins the node's id.
    expect(t.allocate(['fd00:0:0::a', '10.0.1.2'])).toBe(a);
    expect(m.lookup(nodeKeyOf('10.0.1.2'))).toEqual({ node_id: a, spi: 0 });
    expect(m.lookup(nodeKeyOf('fd00::a'))).toEqual({ node_id: a, spi: 0 });
    expect(t.list()).toEqual([
      { id: 0, ips: ['10.0.0.1'] },
      { id: a, ips: ['10.0.1.1', '10.0.1.2', 'fd00::a'] },
      { id: b, ips: ['10.0.2.1'] },
    ]);
    expect(m.count()).toBe(4);
  });

  it('answers 0 for the local node and never puts its IPs in the map (as Cilium)', () => {
    const m = memoryMap();
    const t = new NodeIdTable(m, ['10.0.0.1', 'fd00::1']);
    expect(t.allocate(['10.0.0.1'])).toBe(0);
    expect(t.idOf('fd00:0::1')).toBe(0);
    expect(m.count()).toBe(0);
  });

  it('release frees every IP of the node; a freed id is not handed out again at once', () => {
    const m = memoryMap();
    const t = new NodeIdTable(m, []);
    const a = t.allocate(['10.0.1.1', '10.0.1.2']);
    t.release(['10.0.1.1']);
    expect(m.count()).toBe(0);
    expect(t.idOf('10.0.1.2')).toBeUndefined();
    t.release(['10.9.9.9']); // unknown: nothing to do
    expect(t.allocate(['10.0.3.1'])).not.toBe(a);
  });

  it('IPs of two nodes claimed by one get a fresh id (a node deleted while the agent was down)', () => {
    const m = memoryMap();
    const t = new NodeIdTable(m, []);
    const a = t.allocate(['10.0.1.1']);
    const b = t.allocate(['10.0.2.1']);
    const c = t.allocate(['10.0.1.1', '10.0.2.1']);
    expect([a, b]).not.toContain(c);
    expect(t.list()).toEqual([{ id: c, ips: ['10.0.1.1', '10.0.2.1'] }]);
  });

  it('refuses bad IPs and keeps nothing of a node whose IPs do not all fit in the map', () => {
    const m = memoryMap(2);
    const t = new NodeIdTable(m, []);
    expect(() => t.allocate(['10.0.0.300'])).toThrow("'10.0.0.300' is not an IP address");
    expect(() => t.allocate([])).toThrow('at least one IP');
    t.allocate(['10.0.1.1']);
    expect(() => t.allocate(['10.0.2.1', '10.0.2.2'])).toThrow();
    expect(t.list()).toEqual([{ id: expect.any(Number) as number, ips: ['10.0.1.1'] }]);
    expect(m.count()).toBe(1);
  });

  it('runs out of ids after 65535 nodes, with a message naming the range', () => {
    const t = new NodeIdTable(memoryMap(70_000), []);
    for (let i = 0; i < 65535; i++) t.allocate([`10.${(i >> 8) & 255}.${i & 255}.1`]);
    expect(() => t.allocate(['11.0.0.1'])).toThrow('no node id left: all 65535 ids (1-65535)');
  });

  it('restores allocations from the map and drops entries with id 0 or a local IP', () => {
    const m = memoryMap();
    m.update(nodeKeyOf('10.0.1.1'), { node_id: 7, spi: 0 });
    m.update(nodeKeyOf('fd00::7'), { node_id: 7, spi: 0 });
    m.update(nodeKeyOf('10.0.2.1'), { node_id: 0, spi: 0 });
    m.update(nodeKeyOf('10.0.0.1'), { node_id: 9, spi: 0 });
    const t = new NodeIdTable(m, ['10.0.0.1']);
    expect(t.restore(silent)).toEqual({ restored: 2, removed: 2 });
    expect(t.list()).toEqual([
      { id: 0, ips: ['10.0.0.1'] },
      { id: 7, ips: ['10.0.1.1', 'fd00::7'] },
    ]);
    expect(t.allocate(['10.0.3.1'])).toBe(8);
    expect(m.count()).toBe(3);
  });

  it("'auto' takes the first global address of each family on an up device that is not the agent's", () => {
    const links = () => [
      link(5, 'eth1', [['192.168.5.1', 'global']]),
      link(1, 'lo', [['127.0.0.1', 'global']]),
      link(2, 'lxc123', [['10.9.0.1', 'global']]),
      link(3, 'eth0', [
        ['fe80::1', 'link'],
        ['10.1.0.5', 'global'],
        ['fd00::5', 'global'],
      ]),
      link(4, 'down0', [['10.2.0.1', 'global']], false),
    ];
    expect(localNodeIps({ ipv4Node: 'auto', ipv6Node: 'auto' }, links)).toEqual([
      '10.1.0.5',
      'fd00::5',
    ]);
    expect(localNodeIps({ ipv4Node: '10.7.0.1', ipv6Node: '' }, links)).toEqual(['10.7.0.1']);
  });
});

describe('node cell (alone)', () => {
  // What the node cell reads from its neighbours: the node's name, the IPAM's pod CIDRs.
  const peers = [
    provideValue(DaemonConfig, { clusterName: 'default', nodeName: 'n1' } as DaemonConfig),
    provideValue(Ipam, { pools: new Map([['ipv4', { cidr: '10.9.0.0/24' }]]) } as unknown as Ipam),
  ];

  function nodeHive(pinDir: string) {
    const routes = new ApiRegistry();
    const contributions: StatusContribution[] = [];
    const h = testHive([nodeCell], {
      overrides: [
        provideValue(DatapathMaps, { backend: 'memory', pinDir } as DatapathMaps),
        provideValue(Maps, new MapRegistry()),
        provideValue(ApiRoutes, routes),
        provideValue(StatusContributors, { add: (c) => void contributions.push(c) }),
        ...peers,
        provideValue(NodeLinks, () => [link(2, 'eth0', [['10.1.0.5', 'global']])]),
      ],
      flags: { 'ipv6-node': '' },
    });
    /** /healthz as the contributions fill it. */
    const healthz = (): Model<'StatusResponse'> => {
      const st: Model<'StatusResponse'> = { cluster: { self: 'default/n1', nodes: [] } };
      for (const c of contributions) c.status?.(st);
      return st;
    };
    return { h, routes, healthz };
  }

  it('serves the ids, lists its map, and takes its allocations back after a restart', async () => {
    const pinDir = `/tmp/cellium-node-test-${randomBytes(4).toString('hex')}`;
    onTestFinished(() => unpinMemoryMaps(pinDir));
    const first = nodeHive(pinDir);
    expect(() => first.h.get(NodeIds).list()).toThrow('the node cell is not running');
    const early = first.routes.get('GetNodeIds') as unknown as (r: unknown) => unknown;
    let refused: unknown;
    try {
      early({});
    } catch (e) {
      refused = e;
    }
    expect(refused).toMatchObject({ status: 503 });
    // Before the ids are open /healthz keeps its empty node list.
    expect(first.healthz().cluster?.nodes).toEqual([]);
    await first.h.requireStart();
    expect(first.healthz().cluster?.nodes?.map((n) => n.name)).toEqual(['default/n1']);
    const ids = first.h.get(NodeIds);
    expect(ids.localIps).toEqual(['10.1.0.5']);
    const a = ids.allocate(['10.0.1.1', 'fd00::a']);
    expect(first.h.get(Maps).get('cellium_node_map')?.count()).toBe(2);
    const handler = first.routes.get('GetNodeIds');
    const reply = await (handler as unknown as (r: unknown) => unknown)({});
    expect(reply).toEqual({
      status: 200,
      body: [
        { id: 0, ips: ['10.1.0.5'] },
        { id: a, ips: ['10.0.1.1', 'fd00::a'] },
      ],
    });
    const nodes = first.routes.get('GetClusterNodes') as unknown as (r: unknown) => unknown;
    expect(await nodes({ headers: {} })).toEqual({
      status: 200,
      body: {
        self: 'default/n1',
        'nodes-added': [
          expect.objectContaining({
            name: 'default/n1',
            'primary-address': {
              ipv4: {
                enabled: true,
                ip: '10.1.0.5',
                'alloc-range': '10.9.0.0/24',
                'address-type': 'InternalIP',
              },
              ipv6: { enabled: false },
            },
          }),
        ],
        'nodes-removed': [],
      },
    });
    await first.h.requireStop();
    expect(first.h.get(Maps).get('cellium_node_map')).toBeUndefined();
    expect(memoryPin(`${pinDir}/cellium_node_map`)?.count()).toBe(2);

    const second = nodeHive(pinDir);
    await second.h.requireStart();
    const again = second.h.get(NodeIds);
    expect(again.idOf('fd00::a')).toBe(a);
    expect(again.allocate(['10.0.1.1'])).toBe(a);
    expect(again.allocate(['10.0.2.1'])).not.toBe(a);
  });

  it('refuses a --ipv4-node that is not an IPv4 address, naming the flag', () => {
    expect(() =>
      testHive([nodeCell], {
        overrides: [
          provideValue(DatapathMaps, { backend: 'memory', pinDir: '/tmp/x' } as DatapathMaps),
          provideValue(Maps, new MapRegistry()),
          provideValue(ApiRoutes, new ApiRegistry()),
          provideValue(StatusContributors, { add: () => undefined }),
          ...peers,
        ],
        flags: { 'ipv4-node': 'fd00::1' },
      }),
    ).toThrow(/ipv4-node.*not an IPv4 address/);
  });
});
