import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { agent } from '../agent.js';
import { ApiClient, type Model } from '../../core/api/index.js';
import { ConfigError } from '../../core/hive/index.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { IpcacheTable } from '../ipcache/index.js';
import { NodeIds } from '../node/index.js';
import { StateDB } from '../statedb/index.js';
import { routingConfigProblem, type RoutingConfig } from './config.js';
import { ROUTING_MODE_VALUE, RoutingMaps } from './maps.js';
import { nodeEntries, remoteNodes, type RemoteNode } from './nodes.js';
import { desiredRoutes } from './routes.js';

const b: RemoteNode = {
  name: 'default/b',
  ipv4: '192.168.7.2',
  ipv6: 'fd00:7::2',
  podCidrV4: '10.1.2.0/24',
  podCidrV6: 'fd01:2::/64',
  healthV4: '10.1.2.9',
  source: 'static',
};

describe('routing: what the other nodes want', () => {
  it('reads the other nodes of a node list, without the local one', () => {
    const el = (name: string, ip: string, range?: string): Model<'NodeElement'> => ({
      name,
      'primary-address': {
        ipv4: { enabled: true, ip, ...(range ? { 'alloc-range': range } : {}) },
        ipv6: { enabled: false },
      },
      'health-endpoint-address': { ipv4: { enabled: false }, ipv6: { enabled: false } },
      source: 'static',
    });
    expect(
      remoteNodes(
        [el('default/a', '192.168.7.1', '10.1.1.0/24'), el('default/b', '192.168.7.2')],
        'default/a',
      ),
    ).toEqual([{ name: 'default/b', ipv4: '192.168.7.2', source: 'static' }]);
  });

  it("derives the nodes' ipcache entries: node IPs, health IPs, and pod CIDRs in tunnel mode", () => {
    const peer = { hostIP: '192.168.7.2', source: 'static' };
    const native = nodeEntries([b], false);
    expect(native).toEqual([
      { prefix: '192.168.7.2/32', identity: 6, ...peer },
      { prefix: 'fd00:7::2/128', identity: 6, source: 'static' },
      { prefix: '10.1.2.9/32', identity: 4, ...peer },
    ]);
    expect(nodeEntries([b], true)).toEqual([
      ...native,
      { prefix: '10.1.2.0/24', identity: 9, ...peer },
      { prefix: 'fd01:2::/64', identity: 10, ...peer },
    ]);
    // Without an IPv4 there is no tunnel endpoint: no pod CIDR entries.
    const v6only: RemoteNode = {
      name: 'c',
      ipv6: 'fd00:7::3',
      podCidrV6: 'fd01:3::/64',
      source: 'kvstore',
    };
    expect(nodeEntries([v6only], true)).toEqual([
      { prefix: 'fd00:7::3/128', identity: 6, source: 'kvstore' },
    ]);
  });

  it('wants a route per pod CIDR via the node IP of its family', () => {
    expect(desiredRoutes([b, { name: 'c', ipv4: '192.168.7.3', source: 'static' }])).toEqual([
      { dst: '10.1.2.0/24', gateway: '192.168.7.2' },
      { dst: 'fd01:2::/64', gateway: 'fd00:7::2' },
    ]);
    // A nodes file's IPv6 as written (isIPv6Address takes it) is compared with the kernel's.
    expect(
      desiredRoutes([
        { name: 'd', ipv6: 'FD00:7:0::4', podCidrV6: 'fd01:4::/64', source: 'static' },
      ]),
    ).toEqual([{ dst: 'fd01:4::/64', gateway: 'fd00:7::4' }]);
  });

  it('refuses --auto-direct-node-routes in tunnel mode, as Cilium', () => {
    const c = (mode: 'native' | 'tunnel', direct: boolean) =>
      ({ routingMode: mode, autoDirectNodeRoutes: direct }) as RoutingConfig;
    expect(routingConfigProblem(c('native', true))).toBeUndefined();
    expect(routingConfigProblem(c('tunnel', false))).toBeUndefined();
    expect(routingConfigProblem(c('tunnel', true))).toMatchObject({
      flag: 'auto-direct-node-routes',
    });
  });
});

/** The whole agent on in-memory maps with a nodes file; the routing flags as given. */
async function agentWithNodes(flags: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-routing-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const nodesFile = join(dir, 'nodes.yaml');
  const writeNodes = (text: string) => {
    writeFileSync(`${nodesFile}.tmp`, text);
    renameSync(`${nodesFile}.tmp`, nodesFile);
  };
  writeNodes(
    '- {name: default/b, ipv4: 192.168.7.2, pod-cidrs: [10.1.2.0/24], health-ipv4: 10.1.2.9}\n' +
      '- {name: default/c, ipv4: 192.168.7.3, pod-cidrs: [10.1.3.0/24]}\n',
  );
  const h = testHive([agent], {
    flags: {
      'socket-path': join(dir, 'api.sock'),
      'state-dir': join(dir, 'state'),
      'bpf-root': join(dir, 'bpf'),
      'bpf-backend': 'memory',
      'agent-health-port': 0,
      'enable-health-checking': false,
      'enable-endpoint-health-checking': false,
      'node-name': 'a',
      'ipv4-node': '192.168.7.1',
      'ipv6-node': '',
      'ipv4-range': '10.1.1.0/24',
      'nodes-file': nodesFile,
      ...flags,
    },
  });
  await h.requireStart();
  const api = new ApiClient(join(dir, 'api.sock'));
  onTestFinished(() => api.close());
  const ipcache = () => {
    const db = h.get(StateDB);
    return Object.fromEntries(
      [...h.get(IpcacheTable).all(db.readTxn())]
        .filter((e) => e.source === 'static')
        .map((e) => [e.prefix, `${e.identity} ${e.hostIP}`]),
    );
  };
  return { h, api, ipcache, writeNodes };
}

describe('routing cell in the whole agent (in-memory maps)', () => {
  it('tunnel mode: the nodes in the ipcache, status, route MTU; a node gone takes its entries', async () => {
    const { h, api, ipcache, writeNodes } = await agentWithNodes({});
    await eventually(() => Object.keys(ipcache()).length === 5);
    expect(ipcache()).toEqual({
      '192.168.7.2/32': '6 192.168.7.2',
      '10.1.2.9/32': '4 192.168.7.2',
      '10.1.2.0/24': '9 192.168.7.2',
      '192.168.7.3/32': '6 192.168.7.3',
      '10.1.3.0/24': '9 192.168.7.3',
    });
    expect(h.get(RoutingMaps).get()).toEqual({
      mode: ROUTING_MODE_VALUE.tunnel,
      tunnel_ifindex: 0, // no device on in-memory maps
      node_ipv4: '192.168.7.1',
    });
    const s = await api.request<Model<'StatusResponse'>>('GET', '/healthz');
    expect(s.routing).toEqual({
      'intra-host-routing-mode': 'BPF',
      'inter-host-routing-mode': 'Tunnel',
      'tunnel-protocol': 'vxlan',
    });
    const c = await api.request<Model<'DaemonConfiguration'>>('GET', '/config');
    expect(c.status?.deviceMTU).toBe(1500);
    expect(c.status?.routeMTU).toBe(1450);
    const ids = h.get(NodeIds);
    expect(ids.idOf('192.168.7.3')).toBeGreaterThan(0);

    writeNodes('- {name: default/b, ipv4: 192.168.7.4, pod-cidrs: [10.1.2.0/24]}\n');
    await eventually(() => Object.keys(ipcache()).length === 2);
    expect(ipcache()).toEqual({
      '192.168.7.4/32': '6 192.168.7.4',
      '10.1.2.0/24': '9 192.168.7.4',
    });
    expect(ids.idOf('192.168.7.3')).toBeUndefined();
    expect(ids.idOf('192.168.7.2')).toBeUndefined();
    expect(ids.idOf('192.168.7.4')).toBeGreaterThan(0);
  });

  it('native mode: no pod CIDR entries, the full route MTU, Native in status', async () => {
    const { api, ipcache } = await agentWithNodes({
      'routing-mode': 'native',
      'auto-direct-node-routes': true,
    });
    await eventually(() => Object.keys(ipcache()).length === 3);
    expect(Object.keys(ipcache()).sort()).toEqual([
      '10.1.2.9/32',
      '192.168.7.2/32',
      '192.168.7.3/32',
    ]);
    const c = await api.request<Model<'DaemonConfiguration'>>('GET', '/config');
    expect(c.status?.routeMTU).toBe(1500);
    const s = await api.request<Model<'StatusResponse'>>('GET', '/healthz');
    expect(s.routing?.['inter-host-routing-mode']).toBe('Native');
    expect(s.routing?.['tunnel-protocol']).toBe('');
  });

  it('refuses flags that do not go together, and geneve, naming the flag', async () => {
    const h = testHive([agent], {
      flags: {
        'bpf-backend': 'memory',
        'agent-health-port': 0,
        'routing-mode': 'tunnel',
        'auto-direct-node-routes': true,
      },
    });
    await expect(h.requireStart()).rejects.toThrow(/--auto-direct-node-routes: cannot be used/);
    expect(() => testHive([agent], { flags: { 'tunnel-protocol': 'geneve' } })).toThrow(
      ConfigError,
    );
    expect(() => testHive([agent], { flags: { 'tunnel-protocol': 'geneve' } })).toThrow(
      /--tunnel-protocol: invalid value 'geneve': this agent supports vxlan only/,
    );
  });
});
