import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FaultyMap, type RawMap, type UpdateFlag } from '../../core/bpf/index.js';
import { HealthTree, provide } from '../../core/hive/index.js';
import type { LinkInfo } from '../../core/net/index.js';
import { apiRequest } from '../../core/testing/api.js';
import { eventually } from '../../core/testing/test-hive.js';
import { ApiServer } from '../api/index.js';
import { K8sResources, type EndpointSlice, type Service } from '../k8s/index.js';
import { newMemoryK8sResources, type MemoryK8sResources } from '../k8s/resources.memory.js';
import { StateDB } from '../statedb/index.js';
import { lbHive, type LbHiveOpts } from './fixtures.js';
import { LbMaps, LbTables, SVC_FLAG } from './index.js';

/** The loadbalancer cell on memory maps, with in-memory reflected resources the test fills. */
function k8sHive(o: Omit<LbHiveOpts, 'overrides'> = {}) {
  let res: MemoryK8sResources | undefined;
  const h = lbHive(
    {
      ...o,
      overrides: [
        provide(K8sResources, { db: StateDB }, ({ db }) => (res = newMemoryK8sResources(db))),
      ],
    },
    'cellium-lbk8s-',
  );
  return Object.assign(h, {
    res: (): MemoryK8sResources => {
      if (!res) throw new Error('K8sResources not built');
      return res;
    },
  });
}

type H = ReturnType<typeof k8sHive>;

function service(
  name: string,
  spec: Record<string, unknown>,
  extra: Partial<Service> = {},
): Service {
  return {
    ...extra,
    metadata: { name, namespace: 'shop', ...extra.metadata },
    spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec },
  };
}

interface Ep {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zones?: string[];
}

function slice(
  svc: string,
  name: string,
  eps: Ep[],
  port = 8080,
  addressType = 'IPv4',
): EndpointSlice {
  return {
    metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': svc } },
    addressType,
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ready: e.ready ?? true,
        ...(e.serving !== undefined ? { serving: e.serving } : {}),
        ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
      },
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.zones ? { hints: { forZones: e.zones.map((z) => ({ name: z })) } } : {}),
    })),
  };
}

/** A frontend's entries as `addr:port/scope → backend addresses by slot (count active)`. */
function lb(h: H, v: 4 | 6 = 4): Record<string, string> {
  const m = v === 4 ? h.get(LbMaps).open.v4 : h.get(LbMaps).open.v6;
  const bes = new Map(
    [...m.backends.entries()].map(([k, b]) => [k.backend_id, `${b.address}:${b.port}`]),
  );
  const masters = new Map<string, number>();
  const slots = new Map<string, string[]>();
  for (const [k, s] of m.services.entries()) {
    const at = `${k.address}:${k.dport}/${k.scope}`;
    if (k.backend_slot === 0) masters.set(at, s.count);
    else {
      const l = slots.get(at) ?? [];
      l[k.backend_slot - 1] = bes.get(s.backend_id) ?? `dangling ${s.backend_id}`;
      slots.set(at, l);
    }
  }
  return Object.fromEntries(
    [...masters].map(([at, count]) => [at, `${(slots.get(at) ?? []).join(',')} (${count})`]),
  );
}

async function settled(h: H): Promise<void> {
  const db = h.get(StateDB);
  const t = h.get(LbTables).frontends;
  await eventually(() => [...t.all(db.readTxn())].every((f) => f.status.kind === 'done'));
}

const health = (h: H): string => JSON.stringify(h.get(HealthTree).all());
const call = (h: H, method: string, path: string, body?: unknown) =>
  apiRequest(h.get(ApiServer).app, method, path, body === undefined ? {} : { body });

describe('loadbalancer in Kubernetes mode', () => {
  it('writes nothing before both resources are synced, then Service + EndpointSlices → the LB maps', async () => {
    const h = await k8sHive().requireStart();
    const r = h.res();
    r.upsert('services', service('web', { clusterIPs: ['10.96.0.10', 'fd00::10'] }));
    r.upsert(
      'endpointSlices',
      slice('web', 'web-4', [{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }]),
      slice('web', 'web-6', [{ ip: 'fd00:1::1' }], 8080, 'IPv6'),
    );
    r.setSynced('services');
    await new Promise((res) => setTimeout(res, 50));
    expect(lb(h)).toEqual({});
    expect(health(h)).toContain('waiting for Services and EndpointSlices to sync');
    r.setSynced('endpointSlices');
    await eventually(() => lb(h)['10.96.0.10:80/0']);
    await settled(h);
    expect(lb(h)).toEqual({ '10.96.0.10:80/0': '10.1.0.1:8080,10.1.0.2:8080 (2)' });
    expect(lb(h, 6)).toEqual({ 'fd00::10:80/0': 'fd00:1::1:8080 (1)' });
    await eventually(() => health(h).includes('1 services from Kubernetes'));
    // `cellium service list`: one row per frontend, named as Cilium names it, apart from API ones.
    const list = (await call(h, 'GET', '/service')).body as {
      spec: { flags: Record<string, unknown> };
    }[];
    expect(
      list.map((s) => `${s.spec.flags.namespace as string}/${s.spec.flags.name as string}`),
    ).toEqual(['shop/web', 'shop/web']);
  });

  it('follows slice changes, terminating endpoints, several slices and deletion', async () => {
    const h = await k8sHive().requireStart();
    const r = h.res();
    r.upsert('services', service('web', { clusterIP: '10.96.0.10' }));
    r.upsert('endpointSlices', slice('web', 'a', [{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }]));
    r.setSynced();
    await eventually(() => lb(h)['10.96.0.10:80/0'] === '10.1.0.1:8080,10.1.0.2:8080 (2)');
    // 10.1.0.2 terminates (still serving): kept after the active ones, takes no new flows.
    r.upsert(
      'endpointSlices',
      slice('web', 'a', [
        { ip: '10.1.0.1' },
        { ip: '10.1.0.2', ready: false, serving: true, terminating: true },
      ]),
    );
    await eventually(() => lb(h)['10.96.0.10:80/0'] === '10.1.0.1:8080,10.1.0.2:8080 (1)');
    // A second slice of the same service adds its endpoints.
    r.upsert('endpointSlices', slice('web', 'b', [{ ip: '10.1.0.3' }]));
    await eventually(
      () => lb(h)['10.96.0.10:80/0'] === '10.1.0.1:8080,10.1.0.3:8080,10.1.0.2:8080 (2)',
    );
    // Only terminating ones left: they take new flows rather than nothing (Cilium's fallback).
    r.remove('endpointSlices', slice('web', 'b', []));
    r.upsert(
      'endpointSlices',
      slice('web', 'a', [{ ip: '10.1.0.2', ready: false, serving: true, terminating: true }]),
    );
    await eventually(() => lb(h)['10.96.0.10:80/0'] === '10.1.0.2:8080 (1)');
    // Not serving: gone.
    r.upsert(
      'endpointSlices',
      slice('web', 'a', [{ ip: '10.1.0.2', ready: false, serving: false, terminating: true }]),
    );
    await eventually(() => lb(h)['10.96.0.10:80/0'] === ' (0)');
    await settled(h);
    expect([...h.get(LbMaps).open.v4.backends.keys()]).toEqual([]);
    // The service goes: its entries go.
    r.upsert('endpointSlices', slice('web', 'a', [{ ip: '10.1.0.1' }]));
    await eventually(() => lb(h)['10.96.0.10:80/0'] === '10.1.0.1:8080 (1)');
    r.remove('services', service('web', {}));
    await eventually(() => Object.keys(lb(h)).length === 0);
    await settled(h);
    expect([...h.get(LbMaps).open.v4.backends.keys()]).toEqual([]);
    expect([...h.get(LbMaps).open.v4.revNat.keys()]).toEqual([]);
    // ... and comes back with its slice still there.
    r.upsert('services', service('web', { clusterIP: '10.96.0.10' }));
    await eventually(() => lb(h)['10.96.0.10:80/0'] === '10.1.0.1:8080 (1)');
  });

  it('keeps only this node’s backends with internalTrafficPolicy Local, and both scopes for a NodePort with externalTrafficPolicy Local', async () => {
    const links = [
      {
        index: 2,
        name: 'eth0',
        kind: '',
        flags: 1,
        up: true,
        loopback: false,
        mac: '02:00:00:00:00:01',
        mtu: 1500,
        addresses: [{ family: 'ipv4', address: '192.168.1.10', prefixlen: 24, scope: 'global' }],
      },
    ] as unknown as LinkInfo[];
    const h = await k8sHive({
      links,
      flags: { devices: ['eth0'], 'enable-node-port': true },
    }).requireStart();
    const r = h.res();
    r.upsert(
      'services',
      service('local', { clusterIP: '10.96.0.11', internalTrafficPolicy: 'Local' }),
      service('np', {
        type: 'NodePort',
        clusterIP: '10.96.0.12',
        externalTrafficPolicy: 'Local',
        ports: [{ name: 'http', port: 80, nodePort: 30080 }],
      }),
    );
    const eps = [
      { ip: '10.1.0.1', node: 'node-a' },
      { ip: '10.1.0.2', node: 'node-b' },
    ];
    r.upsert('endpointSlices', slice('local', 'l', eps), slice('np', 'n', eps));
    r.setSynced();
    await eventually(() => lb(h)['192.168.1.10:30080/1']);
    await settled(h);
    const m = lb(h);
    expect(m['10.96.0.11:80/0']).toBe('10.1.0.1:8080 (1)');
    expect(m['10.96.0.12:80/0']).toBe('10.1.0.1:8080,10.1.0.2:8080 (2)');
    // External scope: this node's backend only; internal scope: all of them.
    expect(m['0.0.0.0:30080/0']).toBe('10.1.0.1:8080 (1)');
    expect(m['0.0.0.0:30080/1']).toBe('10.1.0.1:8080,10.1.0.2:8080 (2)');
    expect(m['192.168.1.10:30080/0']).toBe('10.1.0.1:8080 (1)');
    expect(m['192.168.1.10:30080/1']).toBe('10.1.0.1:8080,10.1.0.2:8080 (2)');
  });

  it('carries session affinity and its timeout, LoadBalancer ingress IPs and externalIPs into the maps', async () => {
    const h = await k8sHive().requireStart();
    const r = h.res();
    r.upsert(
      'services',
      service(
        'sticky',
        {
          type: 'LoadBalancer',
          clusterIP: '10.96.0.30',
          externalIPs: ['192.0.2.30'],
          sessionAffinity: 'ClientIP',
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
        },
        { status: { loadBalancer: { ingress: [{ ip: '203.0.113.30' }] } } },
      ),
    );
    r.upsert('endpointSlices', slice('sticky', 's', [{ ip: '10.1.0.1' }]));
    r.setSynced();
    await eventually(() => Object.keys(lb(h)).length === 3);
    await settled(h);
    expect(lb(h)).toEqual({
      '10.96.0.30:80/0': '10.1.0.1:8080 (1)',
      '192.0.2.30:80/0': '10.1.0.1:8080 (1)',
      '203.0.113.30:80/0': '10.1.0.1:8080 (1)',
    });
    const master = (address: string) =>
      h
        .get(LbMaps)
        .open.v4.services.lookup({ address, dport: 80, backend_slot: 0, proto: 6, scope: 0 });
    for (const [ip, type] of [
      ['10.96.0.30', 0],
      ['192.0.2.30', SVC_FLAG.EXTERNAL_IP],
      ['203.0.113.30', SVC_FLAG.LOADBALANCER],
    ] as const) {
      const m = master(ip);
      expect(((m?.flags ?? 0) & SVC_FLAG.AFFINITY) !== 0, ip).toBe(true);
      expect((m?.flags ?? 0) & type, ip).toBe(type);
      // The low 24 bits of the master's backend_id: the affinity timeout.
      expect((m?.backend_id ?? 0) & 0xffffff, ip).toBe(60);
    }
  });

  it("uses the endpoints hinted for this node's zone, following the node's zone label", async () => {
    const h = await k8sHive({ flags: { 'enable-service-topology': true } }).requireStart();
    const r = h.res();
    const node = (zone: string) => ({
      metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': zone } },
    });
    r.upsert('nodes', node('z1'));
    r.upsert(
      'services',
      service(
        'zoned',
        { clusterIP: '10.96.0.20' },
        {
          metadata: {
            name: 'zoned',
            annotations: { 'service.kubernetes.io/topology-mode': 'Auto' },
          },
        },
      ),
      service('plain', { clusterIP: '10.96.0.21' }),
    );
    const eps = [
      { ip: '10.1.0.1', zones: ['z1'] },
      { ip: '10.1.0.2', zones: ['z2'] },
    ];
    r.upsert('endpointSlices', slice('zoned', 'z', eps), slice('plain', 'p', eps));
    r.setSynced();
    await eventually(() => lb(h)['10.96.0.20:80/0'] === '10.1.0.1:8080 (1)');
    expect(lb(h)['10.96.0.21:80/0']).toBe('10.1.0.1:8080,10.1.0.2:8080 (2)');
    r.upsert('nodes', node('z2'));
    await eventually(() => lb(h)['10.96.0.20:80/0'] === '10.1.0.2:8080 (1)');
  });

  it('refuses a bad update with a health note and keeps what it had; a fixed one clears it', async () => {
    const h = await k8sHive().requireStart();
    const r = h.res();
    r.upsert('services', service('web', { clusterIP: '10.96.0.10' }));
    r.upsert('endpointSlices', slice('web', 'a', [{ ip: '10.1.0.1' }]));
    r.setSynced();
    await eventually(() => lb(h)['10.96.0.10:80/0'] === '10.1.0.1:8080 (1)');
    r.upsert('services', service('web', { clusterIP: '10.96.0.10', ports: [{ port: 99999 }] }));
    const bad = slice('web', 'a', [{ ip: '10.1.0.1' }]);
    (bad.endpoints[0] as { addresses: string[] }).addresses = ['not-an-ip'];
    r.upsert('endpointSlices', bad);
    await eventually(() => health(h).includes('Service shop/web: spec.ports[0].port is 99999'));
    expect(health(h)).toContain('EndpointSlice shop/a: endpoints[0].addresses[0]');
    expect(lb(h)).toEqual({ '10.96.0.10:80/0': '10.1.0.1:8080 (1)' });
    r.upsert('services', service('web', { clusterIP: '10.96.0.10' }));
    r.upsert('endpointSlices', slice('web', 'a', [{ ip: '10.1.0.5' }]));
    await eventually(() => lb(h)['10.96.0.10:80/0'] === '10.1.0.5:8080 (1)');
    await eventually(() => health(h).includes('1 services from Kubernetes"'));
  });

  it('keeps REST API services apart: the API cannot change or delete a Kubernetes service, nor take its frontend', async () => {
    const h = await k8sHive().requireStart();
    const r = h.res();
    r.upsert('services', service('web', { clusterIP: '10.96.0.10' }));
    r.upsert('endpointSlices', slice('web', 'a', [{ ip: '10.1.0.1' }]));
    r.setSynced();
    await eventually(() => lb(h)['10.96.0.10:80/0']);
    const fe = [...h.get(LbTables).frontends.all(h.get(StateDB).readTxn())][0];
    if (!fe) throw new Error('no frontend');
    const body = (id: number, ip: string) => ({
      id,
      'frontend-address': { ip, port: 80, protocol: 'tcp', scope: 'external' },
      'backend-addresses': [{ ip: '10.9.9.9', port: 80, weight: 100, state: 'active' }],
      flags: { type: 'ClusterIP' },
    });
    const put = await call(h, 'PUT', `/service/${fe.id}`, body(fe.id, '10.96.0.10'));
    expect(put.status).toBe(460);
    expect(JSON.stringify(put.body)).toContain('shop/web from Kubernetes');
    const del = await call(h, 'DELETE', `/service/${fe.id}`);
    expect(del.status).toBe(403);
    expect(JSON.stringify(del.body)).toContain('cannot delete it');
    expect((await call(h, 'PUT', '/service/900', body(900, '10.96.0.10'))).status).toBe(460);
    // An API service of its own is fine, and a Kubernetes service cannot take its frontend.
    expect((await call(h, 'PUT', '/service/900', body(900, '10.96.0.99'))).status).toBe(201);
    r.upsert('services', service('thief', { clusterIP: '10.96.0.99' }));
    await eventually(() => health(h).includes('10.96.0.99:80/TCP (REST API service 900)'));
    expect(lb(h)['10.96.0.99:80/0']).toBe('10.9.9.9:80 (1)');
    // Once the API service goes, the Kubernetes one gets its frontend.
    r.upsert('endpointSlices', slice('thief', 't', [{ ip: '10.1.0.7' }]));
    expect((await call(h, 'DELETE', '/service/900')).status).toBe(200);
    await eventually(() => lb(h)['10.96.0.99:80/0'] === '10.1.0.7:8080 (1)');
    expect(lb(h)['10.96.0.10:80/0']).toBe('10.1.0.1:8080 (1)');
  });

  it('after a restart prunes services gone meanwhile only once synced, rewriting nothing of those still there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-lbk8s-'));
    const first = await k8sHive({ dir }).requireStart();
    let r = first.res();
    r.upsert(
      'services',
      service('keep', { clusterIP: '10.96.0.1' }),
      service('gone', { clusterIP: '10.96.0.2' }),
    );
    r.upsert(
      'endpointSlices',
      slice('keep', 'k', [{ ip: '10.1.0.1' }]),
      slice('gone', 'g', [{ ip: '10.1.0.2' }]),
    );
    r.setSynced();
    await eventually(() => Object.keys(lb(first)).length === 2);
    await settled(first);
    const before = lb(first);
    await first.requireStop();

    const writes: string[] = [];
    const wrap = (raw: RawMap): RawMap =>
      new (class extends FaultyMap {
        override update(key: Buffer, value: Buffer, flag: UpdateFlag): void {
          super.update(key, value, flag);
          writes.push(`${raw.name} update`);
        }
        override updateBatch(keys: Buffer, values: Buffer, count: number, flag: UpdateFlag): void {
          super.updateBatch(keys, values, count, flag);
          writes.push(`${raw.name} update x${count}`);
        }
      })(raw);
    const second = await k8sHive({ dir, wrap }).requireStart();
    r = second.res();
    r.upsert('services', service('keep', { clusterIP: '10.96.0.1' }));
    r.upsert('endpointSlices', slice('keep', 'k', [{ ip: '10.1.0.1' }]));
    r.setSynced('services');
    await new Promise((res) => setTimeout(res, 50));
    // Not synced yet: what the last run wrote stays.
    expect(lb(second)).toEqual(before);
    r.setSynced('endpointSlices');
    await eventually(() => Object.keys(lb(second)).length === 1);
    await settled(second);
    expect(lb(second)).toEqual({ '10.96.0.1:80/0': before['10.96.0.1:80/0'] });
    expect([...second.get(LbMaps).open.v4.backends.entries()].map(([, b]) => b.address)).toEqual([
      '10.1.0.1',
    ]);
    // The LB config array is written at every start; no service, slot or backend entry is.
    expect(writes.filter((w) => !w.startsWith('cellium_lb_config '))).toEqual([]);
  });
});
