// `cellium node list`, `nodeid list`, `cgroups list`, `debuginfo` and `identity list --endpoints` against the
// whole agent: a table (or markdown) by default, the model as JSON with -o json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../core/api/types.js';
import { CelliumClient } from '../core/api/typed-client.js';
import { debugEnvironment } from '../cells/daemon/handlers.js';
import { NodeIds } from '../cells/node/index.js';
import { cellium, celliumJson } from './support/cli.js';
import { startWholeAgent, type WholeAgent } from './support/whole-agent.js';

let whole: WholeAgent;
let sock: string;
let ep: Model<'Endpoint'>;

beforeAll(async () => {
  whole = await startWholeAgent('10.79.0.0/24', {
    'ipv4-node': '10.99.0.1',
    'ipv6-node': 'fd99::1',
    'cgroup-root': '/sys/fs/cgroup',
  });
  sock = whole.socket;
  const api = new CelliumClient(sock);
  try {
    const ipam = await api.postIpam({ query: { owner: 'shop/cart' } });
    ep = await api.putEndpointID({
      params: { id: 'cilium-local:0' },
      body: {
        addressing: { ipv4: ipam.address.ipv4 ?? '' },
        // No such container on this host: listed without cgroups.
        'container-id': 'f'.repeat(64),
        'k8s-namespace': 'shop',
        'k8s-pod-name': 'cart',
        labels: ['k8s:app=cart'],
        state: 'waiting-for-identity',
        'sync-build-endpoint': true,
      },
    });
  } finally {
    api.close();
  }
});
afterAll(() => whole.stop());

describe('cellium (node ids, cgroups, debuginfo, identities)', () => {
  it('nodeid list: this node as 0, remote nodes one line per IP; -o json', async () => {
    const ids = whole.hive.get(NodeIds);
    const remote = ids.allocate(['10.98.0.2', 'fd98::2']);
    const text = await cellium(sock, 'nodeid', 'list');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^NODE ID\s+IP ADDRESSES\n0\s+10\.99\.0\.1\n\s+fd99::1\n/);
    expect(text.stdout).toMatch(new RegExp(`\\n${remote}\\s+10\\.98\\.0\\.2\\n\\s+fd98::2\\n$`));
    const json = await celliumJson<Model<'NodeID'>[]>(sock, 'nodeid', 'list');
    expect(json).toEqual([
      { id: 0, ips: ['10.99.0.1', 'fd99::1'] },
      { id: remote, ips: ['10.98.0.2', 'fd98::2'] },
    ]);
    ids.release(['10.98.0.2']);
    expect(await celliumJson(sock, 'nodeid', 'ls')).toEqual([
      { id: 0, ips: ['10.99.0.1', 'fd99::1'] },
    ]);
  });

  it("node list: Cilium's columns, one line per node; -o json is the node list", async () => {
    const text = await cellium(sock, 'node', 'list');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^Name\s+IPv4 Address\s+Endpoint CIDR\s+IPv6 Address\s+Endpoint CIDR\s+Source\n\S+\/\S+\s+10\.99\.0\.1\s+10\.79\.0\.0\/24\s+fd99::1\s+local\n$/,
    );
    const json = await celliumJson<Model<'NodeElement'>[]>(sock, 'node', 'ls');
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({
      source: 'local',
      'primary-address': {
        ipv4: { enabled: true, ip: '10.99.0.1', 'alloc-range': '10.79.0.0/24' },
        ipv6: { enabled: true, ip: 'fd99::1' },
      },
    });
  });

  it('cgroups list: a pod whose cgroup is not found has a line, and no containers in -o json', async () => {
    const text = await cellium(sock, 'cgroups', 'list');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^POD NAME\s+POD NAMESPACE\s+CGROUP IDS\ncart\s+shop\s+-\n$/);
    const bare = await cellium(sock, 'cgroups', 'list', '--no-headers');
    expect(bare.stdout).toMatch(/^cart\s+shop\s+-\n$/);
    const json = await celliumJson<Model<'CgroupPodMetadata'>[]>(sock, 'cgroups', 'list');
    expect(json).toEqual([
      {
        name: 'cart',
        namespace: 'shop',
        ips: [ep.status?.networking?.addressing?.[0]?.ipv4],
        containers: [],
      },
    ]);
  });

  it('debuginfo: markdown sections by default, the whole model with -o json', async () => {
    const text = await cellium(sock, 'debuginfo');
    expect(text.code).toBe(0);
    for (const title of [
      '# Cellium debug information',
      '#### Cellium version',
      '#### Kernel version',
      '#### Cellium status',
      '#### Cellium environment keys',
      '#### Endpoint list',
      '#### Service list',
      '#### Policy get',
      '#### Cellium memory map',
      '#### config',
      '#### cgroup',
      '#### Cellium encryption',
      '##### WireGuard',
    ]) {
      expect(text.stdout).toContain(`${title}\n`);
    }
    expect(text.stdout).toMatch(/^Cellium:\s+\w+/m);
    expect(text.stdout).toMatch(
      new RegExp(`^${ep.id ?? 'x'}\\s+\\S+\\s+\\d+\\s+k8s:app=cart`, 'm'),
    );
    expect(text.stdout).toContain('Revision: 1');
    expect(text.stdout).toMatch(/^ipv4-node: 10\.99\.0\.1$/m);
    const d = await celliumJson<Model<'DebugInfo'>>(sock, 'debuginfo');
    expect(d['cilium-status']?.cilium?.state).toBeDefined();
    expect(d['cilium-status']?.['modules-health']?.modules?.length).toBeGreaterThan(0);
    expect(d['endpoint-list']?.map((e) => e.id)).toEqual([ep.id]);
    expect(d['endpoint-list']?.[0]?.status?.['external-identifiers']?.['k8s-pod-name']).toBe(
      'cart',
    );
    expect(d['service-list']).toEqual([]);
    expect(d.policy).toEqual({ revision: 1, policy: '[]' });
    // This process's own memory map: the node binary is mapped in it.
    expect(d['cilium-memory-map']).toContain(process.execPath);
    expect(d.subsystem?.config).toMatch(/^cgroup-root: \/sys\/fs\/cgroup$/m);
    expect(d.subsystem?.cgroup).toContain('--cgroup-root /sys/fs/cgroup');
    expect(d.encryption).toEqual({ wireguard: { 'node-encryption': 'Disabled', interfaces: [] } });
  });

  it('identity list --endpoints: the identities local endpoints use, with refcounts; -o json', async () => {
    const id = ep.status?.identity?.id;
    expect(id).toBeGreaterThan(0);
    const text = await cellium(sock, 'identity', 'list', '--endpoints');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ID\s+LABELS\s+REFCOUNT\n/);
    expect(text.stdout).toMatch(new RegExp(`^${id}\\s+.*k8s:app=cart.*\\s+1$`, 'm'));
    const json = await celliumJson<Model<'IdentityEndpoints'>[]>(
      sock,
      'identity',
      'list',
      '--endpoints',
    );
    expect(json).toEqual([
      expect.objectContaining({
        identity: expect.objectContaining({ id }) as unknown,
        refCount: 1,
      }),
    ]);
  });

  it('debuginfo environment: CELLIUM_* and relevant variables only, secret values redacted', () => {
    expect(
      debugEnvironment({
        CELLIUM_DEBUG: 'true',
        CELLIUM_KVSTORE_PASSWORD: 'hunter2',
        CELLIUM_API_TOKEN: 'abc',
        CELLIUM_ETCD_KEY_FILE: '/k',
        KUBERNETES_SERVICE_HOST: '10.0.0.1',
        AWS_SECRET_ACCESS_KEY: 'x',
        HOME: '/root',
      }),
    ).toEqual([
      'CELLIUM_API_TOKEN=<redacted>',
      'CELLIUM_DEBUG=true',
      'CELLIUM_ETCD_KEY_FILE=<redacted>',
      'CELLIUM_KVSTORE_PASSWORD=<redacted>',
      'KUBERNETES_SERVICE_HOST=10.0.0.1',
    ]);
  });
});
