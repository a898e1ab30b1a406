import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E, FaultyMap, type RawMap, type UpdateFlag } from '../../core/bpf/index.js';
import { HealthTree } from '../../core/hive/index.js';
import type { LinkInfo } from '../../core/net/index.js';
import { apiRequest } from '../../core/testing/api.js';
import { eventually } from '../../core/testing/test-hive.js';
import { ApiServer } from '../api/index.js';
import { StateDB } from '../statedb/index.js';
import { lbHive } from './fixtures.js';
import { LbMaps, LbTables, LbWriter, Loadbalancer, SVC_FLAG, SVC_FLAG2 } from './index.js';

beforeAll(() => {
  process.env.CELLIUM_VALIDATE_RESPONSES = '1';
});
afterAll(() => {
  delete process.env.CELLIUM_VALIDATE_RESPONSES;
});

/** Every write and delete that reaches a map, in order, as `name op key`. */
class Recorder {
  readonly log: string[] = [];
  wrap = (raw: RawMap): RawMap => {
    const log = this.log;
    const name = raw.name;
    return new (class extends FaultyMap {
      override update(key: Buffer, value: Buffer, flag: UpdateFlag): void {
        super.update(key, value, flag);
        log.push(`${name} update ${key.toString('hex')}`);
      }
      override updateBatch(keys: Buffer, values: Buffer, count: number, flag: UpdateFlag): void {
        super.updateBatch(keys, values, count, flag);
        const ks = this.keySize;
        for (let i = 0; i < count; i++) {
          log.push(`${name} update ${keys.subarray(i * ks, (i + 1) * ks).toString('hex')}`);
        }
      }
      override delete(key: Buffer): boolean {
        const gone = super.delete(key);
        if (gone) log.push(`${name} delete ${key.toString('hex')}`);
        return gone;
      }
    })(raw);
  };
}

type H = ReturnType<typeof lbHive>;

const call = (h: H, method: string, path: string, body?: unknown) =>
  apiRequest(h.get(ApiServer).app, method, path, body === undefined ? {} : { body });

/** A ServiceSpec as Cilium's CLI sends it. */
function spec(
  id: number,
  frontend: string,
  backends: readonly string[],
  flags: Record<string, unknown> = {},
  extra: {
    protocol?: string;
    scope?: string;
    states?: readonly string[];
    nodes?: readonly string[];
  } = {},
) {
  const [ip = '', port = '0'] = frontend.split(/:(?=\d+$)/);
  return {
    id,
    'frontend-address': {
      ip,
      port: Number(port),
      protocol: extra.protocol ?? 'tcp',
      scope: extra.scope ?? 'external',
    },
    'backend-addresses': backends.map((b, i) => {
      const [bip = '', bport = '0'] = b.split(/:(?=\d+$)/);
      return {
        ip: bip,
        port: Number(bport),
        state: extra.states?.[i] ?? 'active',
        weight: 100,
        ...(extra.nodes?.[i] ? { nodeName: extra.nodes[i] } : {}),
      };
    }),
    flags: {
      type: 'ClusterIP',
      trafficPolicy: 'Cluster',
      extTrafficPolicy: 'Cluster',
      intTrafficPolicy: 'Cluster',
      ...flags,
    },
  };
}

/** The services map as `addr:port/proto/scope#slot → backend_id count rev flags`. */
function servicesMap(h: H, v: 4 | 6 = 4): Record<string, string> {
  const m = v === 4 ? h.get(LbMaps).open.v4 : h.get(LbMaps).open.v6;
  const out: Record<string, string> = {};
  for (const [k, val] of m.services.entries()) {
    out[`${k.address}:${k.dport}/${k.proto}/${k.scope}#${k.backend_slot}`] =
      k.backend_slot === 0
        ? `count=${val.count} q=${val.qcount} rev=${val.rev_nat_index} flags=${val.flags}/${val.flags2} meta=${val.backend_id}`
        : `be=${val.backend_id} rev=${val.rev_nat_index}`;
  }
  return out;
}

function backendsMap(h: H, v: 4 | 6 = 4): Record<number, string> {
  const m = v === 4 ? h.get(LbMaps).open.v4 : h.get(LbMaps).open.v6;
  const out: Record<number, string> = {};
  for (const [k, val] of m.backends.entries()) {
    out[k.backend_id] = `${val.address}:${val.port}/${val.proto} state=${val.flags}`;
  }
  return out;
}

/**
 * What the datapath must never see: a slot whose backend is not in the backends map, or a
 * master entry counting slots that are not there. Empty when the maps hang together.
 */
function dangling(h: H): string[] {
  const m = h.get(LbMaps).open.v4;
  const bes = new Set([...m.backends.keys()].map((k) => k.backend_id));
  const keys = new Set(
    [...m.services.keys()].map(
      (k) => `${k.address}:${k.dport}/${k.proto}/${k.scope}#${k.backend_slot}`,
    ),
  );
  const out: string[] = [];
  for (const [k, v] of m.services.entries()) {
    const at = `${k.address}:${k.dport}/${k.proto}/${k.scope}`;
    if (k.backend_slot > 0 && !bes.has(v.backend_id))
      out.push(`${at}#${k.backend_slot} → ${v.backend_id}`);
    if (k.backend_slot === 0)
      for (let i = 1; i <= v.count + v.qcount; i++)
        if (!keys.has(`${at}#${i}`)) out.push(`${at} counts slot ${i}, not there`);
  }
  return out;
}

async function reconciled(h: H): Promise<void> {
  const t = h.get(LbTables).frontends;
  const db = h.get(StateDB);
  await eventually(() => [...t.all(db.readTxn())].every((f) => f.status.kind === 'done'));
}

const RANDOM = 1 << 24;
const MAGLEV = 2 << 24;

describe('the load balancer cell', () => {
  it('resolves its graph with its minimal dependencies without starting', () => {
    const h = lbHive();
    expect(h.get(Loadbalancer).services.list()).toEqual([]);
  });

  it('creates a ClusterIP service from the body Cilium’s CLI sends, and writes its maps', async () => {
    const h = await lbHive().requireStart();
    const put = await call(
      h,
      'PUT',
      '/service/5',
      spec(5, '10.0.0.1:80', ['10.1.0.1:8080', '10.1.0.2:8080']),
    );
    expect(put.status).toBe(201);
    expect(servicesMap(h)).toEqual({
      '10.0.0.1:80/6/0#0': `count=2 q=0 rev=5 flags=0/0 meta=${RANDOM}`,
      '10.0.0.1:80/6/0#1': 'be=1 rev=5',
      '10.0.0.1:80/6/0#2': 'be=2 rev=5',
    });
    expect(backendsMap(h)).toEqual({
      1: '10.1.0.1:8080/6 state=0',
      2: '10.1.0.2:8080/6 state=0',
    });
    expect([...h.get(LbMaps).open.v4.revNat.entries()]).toEqual([
      [{ rev_nat_index: 5 }, { address: '10.0.0.1', port: 80 }],
    ]);
    // The same PUT again: 200, nothing written.
    const writes = h.get(Loadbalancer).ops.writes;
    expect(
      (
        await call(
          h,
          'PUT',
          '/service/5',
          spec(5, '10.0.0.1:80', ['10.1.0.1:8080', '10.1.0.2:8080']),
        )
      ).status,
    ).toBe(200);
    expect(h.get(Loadbalancer).ops.writes).toBe(writes);
    const get = await call(h, 'GET', '/service/5');
    expect(get.status).toBe(200);
    expect(get.body).toMatchObject({
      spec: {
        id: 5,
        'frontend-address': { ip: '10.0.0.1', port: 80, protocol: 'tcp', scope: 'external' },
        'backend-addresses': [
          { ip: '10.1.0.1', port: 8080, state: 'active', weight: 100 },
          { ip: '10.1.0.2', port: 8080, state: 'active', weight: 100 },
        ],
        flags: { type: 'ClusterIP', extTrafficPolicy: 'Cluster', intTrafficPolicy: 'Cluster' },
      },
      status: {
        realized: { id: 5, 'backend-addresses': [{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }] },
      },
    });
    expect((await call(h, 'GET', '/service')).body).toHaveLength(1);
  });

  it('writes backends, then slots, then reverse NAT, then the master; stale slots and orphans last', async () => {
    const rec = new Recorder();
    const h = await lbHive({ wrap: rec.wrap }).requireStart();
    await call(
      h,
      'PUT',
      '/service/7',
      spec(7, '10.0.0.7:80', ['10.1.0.1:80', '10.1.0.2:80', '10.1.0.3:80']),
    );
    const names = rec.log.map((l) => l.split(' ')[0]);
    const last = (n: string) => names.lastIndexOf(n);
    const first = (n: string) => names.indexOf(n);
    expect(last('cellium_lb4_backends_v3')).toBeLessThan(first('cellium_lb4_services_v2'));
    expect(first('cellium_lb4_reverse_nat')).toBeGreaterThan(first('cellium_lb4_services_v2'));
    // The master (slot 0) is the last services write.
    const services = rec.log.filter((l) => l.startsWith('cellium_lb4_services_v2'));
    expect(services.at(-1)).toMatch(/ 0a00000700500000060000 ?|0a000007005000000600/);
    // Shrink to one backend: the master first, then the stale slots, then the orphan backends.
    rec.log.length = 0;
    await call(h, 'PUT', '/service/7', spec(7, '10.0.0.7:80', ['10.1.0.3:80']));
    const ops = rec.log.map((l) => l.split(' ').slice(0, 2).join(' '));
    const master = ops.indexOf('cellium_lb4_services_v2 update');
    expect(master).toBeGreaterThanOrEqual(0);
    const slotDeletes = ops
      .map((o, i) => (o === 'cellium_lb4_services_v2 delete' ? i : -1))
      .filter((i) => i >= 0);
    const backendDeletes = ops
      .map((o, i) => (o === 'cellium_lb4_backends_v3 delete' ? i : -1))
      .filter((i) => i >= 0);
    expect(slotDeletes).toHaveLength(2);
    expect(backendDeletes).toHaveLength(2);
    expect(Math.min(...slotDeletes)).toBeGreaterThan(
      ops.lastIndexOf('cellium_lb4_services_v2 update'),
    );
    expect(Math.min(...backendDeletes)).toBeGreaterThan(Math.max(...slotDeletes));
    expect(servicesMap(h)).toEqual({
      '10.0.0.7:80/6/0#0': `count=1 q=0 rev=7 flags=0/0 meta=${RANDOM}`,
      '10.0.0.7:80/6/0#1': 'be=3 rev=7',
    });
    expect(Object.keys(backendsMap(h))).toEqual(['3']);
  });

  it('keeps a backend two services share until the last one lets go of it', async () => {
    const h = await lbHive().requireStart();
    await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', ['10.1.0.1:80', '10.1.0.2:80']));
    await call(h, 'PUT', '/service/2', spec(2, '10.0.0.2:80', ['10.1.0.2:80']));
    expect(Object.keys(backendsMap(h)).sort()).toEqual(['1', '2']);
    await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', ['10.1.0.1:80']));
    expect(Object.keys(backendsMap(h)).sort()).toEqual(['1', '2']);
    expect((await call(h, 'DELETE', '/service/2')).status).toBe(200);
    expect(Object.keys(backendsMap(h))).toEqual(['1']);
    expect(Object.keys(servicesMap(h)).every((k) => k.startsWith('10.0.0.1:'))).toBe(true);
    expect([...h.get(LbMaps).open.v4.revNat.keys()]).toEqual([{ rev_nat_index: 1 }]);
    expect((await call(h, 'DELETE', '/service/2')).status).toBe(404);
  });

  it('puts terminating backends after the active ones, out of the count', async () => {
    const h = await lbHive().requireStart();
    await call(
      h,
      'PUT',
      '/service/3',
      spec(
        3,
        '10.0.0.3:53',
        ['10.1.0.1:53', '10.1.0.2:53', '10.1.0.3:53'],
        {},
        {
          protocol: 'udp',
          states: ['terminating', 'active', 'active'],
        },
      ),
    );
    expect(servicesMap(h)).toEqual({
      '10.0.0.3:53/17/0#0': `count=2 q=1 rev=3 flags=0/0 meta=${RANDOM}`,
      '10.0.0.3:53/17/0#1': 'be=2 rev=3',
      '10.0.0.3:53/17/0#2': 'be=3 rev=3',
      '10.0.0.3:53/17/0#3': 'be=1 rev=3',
    });
    expect(backendsMap(h)[1]).toBe('10.1.0.1:53/17 state=1');
    // updateServices (Cilium's backend state update across services).
    const r = await call(h, 'PUT', '/service/0', {
      'frontend-address': { ip: '0.0.0.0' },
      updateServices: true,
      'backend-addresses': [{ ip: '10.1.0.2', port: 53, state: 'terminating' }],
    });
    expect(r.status).toBe(200);
    await reconciled(h);
    expect(servicesMap(h)['10.0.0.3:53/17/0#0']).toBe(`count=1 q=2 rev=3 flags=0/0 meta=${RANDOM}`);
  });

  it('answers 460 and 461 naming what is wrong, and stores nothing', async () => {
    const h = await lbHive().requireStart();
    const bad: [unknown, number, RegExp][] = [
      [spec(1, 'banana:80', []), 460, /frontend-address.ip: "banana" is not an IP address/],
      [
        spec(1, '10.0.0.1:80', ['fd00::1:80']),
        461,
        /backend-addresses\[0\]\.ip: fd00::1 is IPv6 but the frontend 10.0.0.1 is IPv4/,
      ],
      [spec(1, '10.0.0.1:80', ['10.1.0.1:80', '10.1.0.1:80']), 461, /listed twice/],
      [
        spec(1, '10.0.0.1:0', ['10.1.0.1:80']),
        461,
        /an L4 backend \(port 80\) with an L3 frontend/,
      ],
      [spec(1, '0.0.0.0:80', []), 460, /only NodePort and HostPort/],
      [spec(2, '10.0.0.1:80', []), 400, /the body's id 2 differs from the path's 1/],
      [
        spec(1, '10.0.0.1:80', [], {
          type: 'LoadBalancer',
          loadBalancerSourceRanges: ['10.0.0.0/33'],
        }),
        460,
        /loadBalancerSourceRanges\[0\]: "10.0.0.0\/33" has a prefix length that is not 0-32/,
      ],
    ];
    for (const [body, status, msg] of bad) {
      const r = await call(h, 'PUT', '/service/1', body);
      expect([r.status, r.body], JSON.stringify(body)).toEqual([
        status,
        expect.stringMatching(msg),
      ]);
    }
    expect((await call(h, 'PUT', '/service/0', spec(0, '10.0.0.1:80', []))).status).toBe(400);
    expect((await call(h, 'GET', '/service')).body).toEqual([]);
    // An id is one frontend's: another frontend under it, or the frontend under another id, is a 460.
    expect((await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', []))).status).toBe(201);
    const taken = await call(h, 'PUT', '/service/1', spec(1, '10.0.0.2:80', []));
    expect(taken.status).toBe(460);
    expect(taken.body).toMatch(/service id 1 is already in use by 10.0.0.1:80\/TCP/);
    const moved = await call(h, 'PUT', '/service/2', spec(2, '10.0.0.1:80', []));
    expect(moved).toEqual({
      status: 460,
      body: 'the service provided is already registered with ID 1, please use that ID instead of 2',
    });
    expect(servicesMap(h)).toEqual({
      '10.0.0.1:80/6/0#0': `count=0 q=0 rev=1 flags=0/0 meta=${RANDOM}`,
    });
  });

  it('expands a NodePort on 0.0.0.0 to the node addresses, each with its own id, and follows eTP=Local', async () => {
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
        addresses: [
          { family: 'ipv4', address: '192.168.1.10', prefixlen: 24, scope: 'global' },
          { family: 'ipv6', address: 'fd00::10', prefixlen: 64, scope: 'global' },
        ],
      },
    ] as unknown as LinkInfo[];
    const h = await lbHive({ links, flags: { devices: ['eth0'] } }).requireStart();
    const r = await call(
      h,
      'PUT',
      '/service/9',
      spec(
        9,
        '0.0.0.0:30080',
        ['10.1.0.1:80', '10.1.0.2:80'],
        { type: 'NodePort', extTrafficPolicy: 'Local' },
        {
          nodes: ['node-a', 'node-b'],
        },
      ),
    );
    expect(r.status).toBe(201);
    const m = servicesMap(h);
    const np = SVC_FLAG.NODEPORT | SVC_FLAG.EXT_LOCAL_SCOPE;
    const two = SVC_FLAG2.TWO_SCOPES;
    // The surrogate (not routable) and the node address, each with an EXT scope of the local
    // backend and an INT scope of both; the node address's entries have ids of their own.
    expect(m['0.0.0.0:30080/6/0#0']).toBe(`count=1 q=0 rev=9 flags=${np}/${two} meta=${RANDOM}`);
    expect(m['0.0.0.0:30080/6/1#0']).toMatch(
      new RegExp(`^count=2 q=0 rev=\\d+ flags=${np}/${two}`),
    );
    expect(m['192.168.1.10:30080/6/0#0']).toMatch(
      new RegExp(`^count=1 q=0 rev=\\d+ flags=${np | SVC_FLAG.ROUTABLE}/${two}`),
    );
    expect(m['192.168.1.10:30080/6/1#0']).toMatch(/^count=2 /);
    const revs = new Set(
      Object.entries(m)
        .filter(([k]) => k.endsWith('#0'))
        .map(([, v]) => /rev=(\d+)/.exec(v)?.[1]),
    );
    expect(revs.size).toBe(4);
    const nat = [...h.get(LbMaps).open.v4.revNat.entries()].map(
      ([k, v]) => `${k.rev_nat_index}=${v.address}:${v.port}`,
    );
    expect(nat).toHaveLength(4);
    expect(nat.filter((x) => x.endsWith('192.168.1.10:30080'))).toHaveLength(2);
  });

  it('reads IPv4-mapped addresses as IPv4; refuses source ranges of the other family or without a length', async () => {
    const h = await lbHive().requireStart();
    const mapped = spec(1, '::ffff:10.96.1.2:80', ['::ffff:10.1.0.1:80']);
    expect((await call(h, 'PUT', '/service/1', mapped)).status).toBe(201);
    expect(servicesMap(h)['10.96.1.2:80/6/0#1']).toBe('be=1 rev=1');
    const lb = (ranges: string[]) =>
      spec(2, '10.96.1.3:80', ['10.1.0.1:80'], {
        type: 'LoadBalancer',
        loadBalancerSourceRanges: ranges,
      });
    const v6 = await call(h, 'PUT', '/service/2', lb(['fd00::/8']));
    expect(v6).toMatchObject({ status: 460 });
    expect(v6.body).toMatch(/fd00::\/8 is IPv6 but the frontend 10\.96\.1\.3 is IPv4/);
    expect((await call(h, 'PUT', '/service/2', lb(['10.0.0.0']))).body).toMatch(
      /has no prefix length/,
    );
    expect((await call(h, 'PUT', '/service/2', lb(['10.0.0.0/08']))).body).toMatch(
      /prefix length that is not 0-32/,
    );
    const nat = spec(3, '10.96.1.4:80', ['10.1.0.1:80'], { natPolicy: 'Nat46' });
    const r = await call(h, 'PUT', '/service/3', nat);
    expect(r).toMatchObject({ status: 460 });
    expect(r.body).toMatch(/natPolicy: Nat46 needs NAT46\/64/);
  });

  it('keeps a backend at weight 0 out of rotation though updateServices says active', async () => {
    const h = await lbHive().requireStart();
    await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', ['10.1.0.1:80', '10.1.0.2:80']));
    const zero = spec(1, '10.0.0.1:80', ['10.1.0.1:80', '10.1.0.2:80']);
    zero['backend-addresses'][1] = { ...zero['backend-addresses'][1], weight: 0 } as never;
    await call(h, 'PUT', '/service/1', zero);
    const activate = {
      'frontend-address': { ip: '0.0.0.0', port: 0 },
      'backend-addresses': [{ ip: '10.1.0.2', port: 80, state: 'active' }],
      updateServices: true,
    };
    expect((await call(h, 'PUT', '/service/0', activate)).status).toBe(200);
    await reconciled(h);
    expect(servicesMap(h)['10.0.0.1:80/6/0#0']).toMatch(/^count=1 q=1/);
  });

  it('reads a path id only in decimal', async () => {
    const h = await lbHive().requireStart();
    for (const id of ['0x10', '1e1', '%201', '1.0']) {
      const r = await call(h, 'GET', `/service/${id}`);
      expect([id, r.status]).toEqual([id, 400]);
      expect(r.body).toMatch(/path\.id must be an integer/);
    }
    expect((await call(h, 'GET', '/service/16')).status).toBe(404);
  });

  it("refuses a frontend another one's expansion takes, either way round (460)", async () => {
    const links = [
      {
        index: 2,
        name: 'eth0',
        up: true,
        loopback: false,
        addresses: [{ family: 'ipv4', address: '192.168.1.10', prefixlen: 24, scope: 'global' }],
      },
    ] as unknown as LinkInfo[];
    const h = await lbHive({ links, flags: { devices: ['eth0'] } }).requireStart();
    const np = spec(1, '0.0.0.0:30080', ['10.1.0.1:80'], { type: 'NodePort' });
    expect((await call(h, 'PUT', '/service/1', np)).status).toBe(201);
    const lb = spec(2, '192.168.1.10:30080', ['10.1.0.2:80'], { type: 'LoadBalancer' });
    const r = await call(h, 'PUT', '/service/2', lb);
    expect(r).toMatchObject({ status: 460 });
    expect(r.body).toMatch(
      /192\.168\.1\.10:30080\/TCP, which service 1 \(0\.0\.0\.0:30080\/TCP\) also takes/,
    );
    const lb3 = spec(3, '192.168.1.10:30081', ['10.1.0.3:80'], { type: 'LoadBalancer' });
    expect((await call(h, 'PUT', '/service/3', lb3)).status).toBe(201);
    const np4 = spec(4, '0.0.0.0:30081', ['10.1.0.4:80'], { type: 'NodePort' });
    const r4 = await call(h, 'PUT', '/service/4', np4);
    expect(r4).toMatchObject({ status: 460 });
    expect(r4.body).toMatch(/would also take 192\.168\.1\.10:30081\/TCP .* which is service 3's/);
    // An internal frontend, then one whose two scopes would take its entry.
    const internal = spec(5, '10.96.0.5:80', ['10.1.0.5:80'], {}, { scope: 'internal' });
    expect((await call(h, 'PUT', '/service/5', internal)).status).toBe(201);
    const local = spec(6, '10.96.0.5:80', ['10.1.0.5:80'], {
      type: 'LoadBalancer',
      extTrafficPolicy: 'Local',
    });
    expect((await call(h, 'PUT', '/service/6', local)).status).toBe(460);
    expect(servicesMap(h)['192.168.1.10:30081/6/0#1']).toBe('be=2 rev=3');
  });

  it('writes affinity matches, source ranges and Maglev tables, and takes them away', async () => {
    const h = await lbHive({
      flags: { 'bpf-lb-algorithm': 'maglev', 'bpf-lb-maglev-table-size': 251 },
    }).requireStart();
    await call(
      h,
      'PUT',
      '/service/4',
      spec(4, '10.0.0.4:443', ['10.1.0.1:443', '10.1.0.2:443'], {
        type: 'LoadBalancer',
        sessionAffinity: true,
        sessionAffinityTimeout: 60,
        loadBalancerSourceRanges: ['192.168.0.0/16', '10.20.0.5/32'],
      }),
    );
    const maps = h.get(LbMaps).open;
    expect(servicesMap(h)['10.0.0.4:443/6/0#0']).toBe(
      `count=2 q=0 rev=4 flags=${SVC_FLAG.LOADBALANCER | SVC_FLAG.ROUTABLE | SVC_FLAG.AFFINITY | SVC_FLAG.SOURCE_RANGE}/0 meta=${MAGLEV | 60}`,
    );
    expect([...maps.affinityMatch.keys()].sort((a, b) => a.backend_id - b.backend_id)).toEqual([
      { backend_id: 1, rev_nat_id: 4 },
      { backend_id: 2, rev_nat_id: 4 },
    ]);
    expect(
      [...maps.v4.sourceRange.keys()]
        .map((k) => `${k.rev_nat_id} ${k.addr}/${k.prefixlen - 32}`)
        .sort(),
    ).toEqual(['4 10.20.0.5/32', '4 192.168.0.0/16']);
    expect(maps.v4.maglev.count()).toBe(1);
    await call(
      h,
      'PUT',
      '/service/4',
      spec(4, '10.0.0.4:443', ['10.1.0.2:443'], { type: 'LoadBalancer', algorithm: 'Random' }),
    );
    expect([...maps.affinityMatch.keys()]).toEqual([]);
    expect([...maps.v4.sourceRange.keys()]).toEqual([]);
    expect(maps.v4.maglev.count()).toBe(0);
    expect(servicesMap(h)['10.0.0.4:443/6/0#0']).toBe(
      `count=1 q=0 rev=4 flags=${SVC_FLAG.LOADBALANCER | SVC_FLAG.ROUTABLE}/0 meta=${RANDOM}`,
    );
  });

  it('restores services from its state file and ids from the maps; prunes what nothing wants; rewrites nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-lb-'));
    const first = await lbHive({ dir }).requireStart();
    await call(
      first,
      'PUT',
      '/service/11',
      spec(11, '10.0.0.11:80', ['10.1.0.1:80', '10.1.0.2:80']),
    );
    await call(first, 'PUT', '/service/12', spec(12, 'fd00::12:80', ['fd00::1:80']));
    const before = { v4: servicesMap(first), v6: servicesMap(first, 6), be: backendsMap(first) };
    // Something nothing wants, left in the maps by an earlier run.
    first
      .get(LbMaps)
      .open.v4.services.update(
        { address: '10.9.9.9', dport: 99, backend_slot: 0, proto: 6, scope: 0 },
        { backend_id: 0, count: 0, rev_nat_index: 999, flags: 0, flags2: 0, qcount: 0 },
      );
    first
      .get(LbMaps)
      .open.v4.backends.update(
        { backend_id: 77 },
        { address: '10.7.7.7', port: 7, proto: 6, flags: 0, cluster_id: 0 },
      );
    await first.requireStop();

    const second = await lbHive({ dir }).requireStart();
    await reconciled(second);
    await eventually(() => servicesMap(second)['10.9.9.9:99/6/0#0'] === undefined);
    expect({
      v4: servicesMap(second),
      v6: servicesMap(second, 6),
      be: backendsMap(second),
    }).toEqual(before);
    expect(second.get(Loadbalancer).ops.writes).toBe(2); // the two stale entries deleted, nothing rewritten
    expect((await call(second, 'GET', '/service/11')).status).toBe(200);
  });

  it('rewrites every slot when the flags change, and after a restart only a slot the maps hold wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-lb-'));
    const first = await lbHive({ dir }).requireStart();
    const bes = ['10.1.0.1:80', '10.1.0.2:80', '10.1.0.3:80'];
    await call(first, 'PUT', '/service/5', spec(5, '10.0.0.5:80', bes));
    const slotFlags = (h: typeof first) =>
      [...h.get(LbMaps).open.v4.services.entries()]
        .filter(([k]) => k.backend_slot > 0)
        .map(([k, v]) => `${k.backend_slot}:${v.flags}`)
        .sort();
    const plain = slotFlags(first);
    const writes = first.get(Loadbalancer).ops.writes;
    const lb = { ...spec(5, '10.0.0.5:80', bes), flags: { type: 'LoadBalancer' } };
    expect((await call(first, 'PUT', '/service/5', lb)).status).toBe(200);
    // The master and the three slots carry the new flags; nothing else is written.
    expect(first.get(Loadbalancer).ops.writes - writes).toBe(4);
    expect(slotFlags(first)).not.toEqual(plain);
    expect(new Set(slotFlags(first).map((x) => x.split(':')[1])).size).toBe(1);
    const before = servicesMap(first);
    // An earlier run left slot 2 with other flags.
    const key = { address: '10.0.0.5', dport: 80, backend_slot: 2, proto: 6, scope: 0 };
    const services = first.get(LbMaps).open.v4.services;
    const slot2 = services.lookup(key);
    if (!slot2) throw new Error('no slot 2');
    services.update(key, { ...slot2, flags: 0 });
    await first.requireStop();

    const second = await lbHive({ dir }).requireStart();
    await reconciled(second);
    expect(second.get(Loadbalancer).ops.writes).toBe(1);
    expect(servicesMap(second)).toEqual(before);
    expect(new Set(slotFlags(second).map((x) => x.split(':')[1])).size).toBe(1);
  });

  it('keeps an invalid state file aside, says so in health, and restores the other services', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-lb-'));
    const h0 = await lbHive({ dir }).requireStart();
    for (const id of [1, 2, 3])
      await call(h0, 'PUT', `/service/${id}`, spec(id, `10.0.0.${id}:80`, ['10.1.0.1:80']));
    await h0.requireStop();
    const files = join(dir, 'state', 'services');
    expect(readdirSync(files).sort()).toEqual(['1.json', '2.json', '3.json']);
    writeFileSync(
      join(files, '1.json'),
      JSON.stringify({ version: 1, service: { id: 1, 'frontend-address': { ip: 'x' } } }),
    );
    // Service 3's file claims service 2's frontend.
    const two = readFileSync(join(files, '2.json'), 'utf8');
    writeFileSync(join(files, '3.json'), two.replace('"id":2', '"id":3'));
    // A name this store never writes, and values the API would refuse.
    writeFileSync(join(files, '002.json'), two);
    writeFileSync(
      join(files, '4.json'),
      two.replace('"id":2', '"id":4').replace('"port":80,', '"port":70000,'),
    );
    const h = await lbHive({ dir }).requireStart();
    const left = readdirSync(files);
    expect(left.filter((f) => f.endsWith('.json'))).toEqual(['2.json']);
    expect(left.filter((f) => /^(1|3|4|002)\.json\.invalid-/.test(f))).toHaveLength(4);
    const health = JSON.stringify(h.get(HealthTree).all());
    expect(health).toContain('4 service state file(s) invalid');
    expect(health).toContain('002.json: not a service file name');
    expect(health).toMatch(/4\.json: [^;]*port[^;]*65535/);
    expect(health).toContain('1.json: frontend-address.ip: \\"x\\" is not an IP address');
    expect(health).toContain("3.json: its frontend 10.0.0.2:80/TCP is service 2's");
    expect((await call(h, 'GET', '/service/2')).status).toBe(200);
    expect((await call(h, 'GET', '/service/1')).status).toBe(404);
  });

  it('answers a state write failure with a 500 naming it, changes nothing, and recovers', async () => {
    const h = await lbHive().requireStart();
    const files = join(h.dir, 'state', 'services');
    mkdirSync(join(h.dir, 'state'), { recursive: true });
    writeFileSync(files, 'not a directory');
    const r = await call(h, 'PUT', '/service/4', spec(4, '10.0.0.4:80', ['10.1.0.4:80']));
    expect(r.status).toBe(500);
    expect(r.body).toMatch(
      /the service state could not be saved, nothing was changed: cannot create directory .*services: ENOTDIR/,
    );
    expect((await call(h, 'GET', '/service/4')).status).toBe(404);
    expect(JSON.stringify(h.get(HealthTree).all())).toContain('service state could not be saved');
    rmSync(files);
    expect(
      (await call(h, 'PUT', '/service/4', spec(4, '10.0.0.4:80', ['10.1.0.4:80']))).status,
    ).toBe(201);
    expect(JSON.stringify(h.get(HealthTree).all())).not.toContain('could not be saved');
  });

  it('starts with a file where the services directory should be, kept aside', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-lb-'));
    mkdirSync(join(dir, 'state'), { recursive: true });
    writeFileSync(join(dir, 'state', 'services'), 'x');
    const h = await lbHive({ dir }).requireStart();
    expect(readdirSync(join(dir, 'state')).some((f) => f.startsWith('services.invalid-'))).toBe(
      true,
    );
    expect(JSON.stringify(h.get(HealthTree).all())).toContain('services: not a directory');
    expect(
      (await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', ['10.1.0.1:80']))).status,
    ).toBe(201);
  });

  it('writes only the file of the service a change touches; DELETE removes it', async () => {
    const h = await lbHive().requireStart();
    const files = join(h.dir, 'state', 'services');
    await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', ['10.1.0.1:80']));
    await call(h, 'PUT', '/service/2', spec(2, '10.0.0.2:80', ['10.1.0.2:80']));
    const mtime = (f: string) => statSync(join(files, f)).mtimeMs;
    const one = mtime('1.json');
    await new Promise((r) => setTimeout(r, 20));
    await call(h, 'PUT', '/service/2', spec(2, '10.0.0.2:80', ['10.1.0.3:80']));
    expect(mtime('1.json')).toBe(one);
    expect(readFileSync(join(files, '2.json'), 'utf8')).toContain('10.1.0.3');
    expect((await call(h, 'DELETE', '/service/1')).status).toBe(200);
    expect(readdirSync(files)).toEqual(['2.json']);
  });

  it('retries failed writes with backoff, degrades health, then recovers', async () => {
    const faulty = new Map<string, FaultyMap>();
    const wrap = (raw: RawMap): RawMap => {
      const f = new FaultyMap(raw);
      faulty.set(raw.name, f);
      return f;
    };
    const h = await lbHive({ wrap }).requireStart();
    faulty.get('cellium_lb4_reverse_nat')?.fail('update', E.EINVAL, 3);
    const put = call(h, 'PUT', '/service/2', spec(2, '10.0.0.2:80', ['10.1.0.1:80']));
    await eventually(() => JSON.stringify(h.get(HealthTree).all()).includes('1 failing'));
    expect((await put).status).toBe(201);
    await reconciled(h);
    await eventually(() => !JSON.stringify(h.get(HealthTree).all()).includes('failing'));
    expect(servicesMap(h)['10.0.0.2:80/6/0#0']).toMatch(/^count=1/);
  });

  it('answers a full map with its name, size and flag, and undoes the change', async () => {
    const h = await lbHive({ flags: { 'bpf-lb-service-backend-map-max': 2 } }).requireStart();
    expect(
      (await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', ['10.1.0.1:80']))).status,
    ).toBe(201);
    const r = await call(
      h,
      'PUT',
      '/service/2',
      spec(2, '10.0.0.2:80', ['10.1.0.2:80', '10.1.0.3:80']),
    );
    expect(r.status).toBe(500);
    expect(r.body).toMatch(
      /service 2 cannot be realized: map cellium_lb4_backends_v3 is full \(2 entries\): raise --bpf-lb-service-backend-map-max/,
    );
    await eventually(async () => (await call(h, 'GET', '/service/2')).status === 404);
    await eventually(() => Object.keys(servicesMap(h)).every((k) => k.startsWith('10.0.0.1:')));
    expect(readdirSync(join(h.dir, 'state', 'services'))).toEqual(['1.json']);
  });

  it('a refused PUT that shared a backend with another service leaves that service whole', async () => {
    const h = await lbHive({ flags: { 'bpf-lb-service-backend-map-max': 2 } }).requireStart();
    await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', ['10.1.0.1:80']));
    const r = await call(
      h,
      'PUT',
      '/service/3',
      spec(3, '10.0.0.3:80', ['10.1.0.1:80', '10.1.0.2:80', '10.1.0.4:80']),
    );
    expect(r.status).toBe(500);
    await eventually(async () => (await call(h, 'GET', '/service/3')).status === 404);
    await reconciled(h);
    expect(dangling(h)).toEqual([]);
    // Service 1's backend stays; the one the refused PUT wrote alone is gone.
    expect(Object.values(backendsMap(h))).toEqual(['10.1.0.1:80/6 state=0']);
  });

  it('a batch the kernel takes part of: what landed is read back, and the maps stay whole', async () => {
    // Four entries: service 1's master and two slots, and service 2's master.
    const h = await lbHive({ flags: { 'bpf-lb-service-map-max': 4 } }).requireStart();
    await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', ['10.1.0.1:80', '10.1.0.2:80']));
    await call(h, 'PUT', '/service/2', spec(2, '10.0.0.2:80', []));
    const before = servicesMap(h);
    // Slots 1 and 2 are rewritten (the first backend terminating goes last), slot 3 is refused.
    const grow = spec(
      1,
      '10.0.0.1:80',
      ['10.1.0.1:80', '10.1.0.2:80', '10.1.0.3:80'],
      {},
      {
        states: ['terminating', 'active', 'active'],
      },
    );
    expect((await call(h, 'PUT', '/service/1', grow)).status).toBe(500);
    await reconciled(h);
    expect(dangling(h)).toEqual([]);
    expect(servicesMap(h)).toEqual(before);
    h.get(Loadbalancer).reconciler.triggerFull();
    await eventually(() => Object.keys(backendsMap(h)).length === 2);
    expect(dangling(h)).toEqual([]);
    expect(servicesMap(h)).toEqual(before);
  });

  it("a backend one service drops stays while another service's slot points at it", async () => {
    const faulty = new Map<string, FaultyMap>();
    const wrap = (raw: RawMap): RawMap => {
      const f = new FaultyMap(raw);
      faulty.set(raw.name, f);
      return f;
    };
    const h = await lbHive({ wrap }).requireStart();
    await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', ['10.1.0.9:80']));
    await call(h, 'PUT', '/service/2', spec(2, '10.0.0.2:80', ['10.1.0.8:80']));
    // Service 2 moves to service 1's backend; its affinity write (after the slots) keeps failing.
    faulty.get('cellium_lb_affinity_match')?.fail('update', E.EINVAL);
    const moving = call(
      h,
      'PUT',
      '/service/2',
      spec(2, '10.0.0.2:80', ['10.1.0.9:80'], { sessionAffinity: true }),
    );
    await eventually(() => servicesMap(h)['10.0.0.2:80/6/0#1'] === 'be=1 rev=2');
    // Service 1 lets go of the backend service 2's slot now points at.
    expect(
      (await call(h, 'PUT', '/service/1', spec(1, '10.0.0.1:80', ['10.1.0.7:80']))).status,
    ).toBe(200);
    expect(dangling(h)).toEqual([]);
    expect(backendsMap(h)[1]).toBe('10.1.0.9:80/6 state=0');
    faulty.get('cellium_lb_affinity_match')?.fail('update', E.EINVAL, 0);
    expect((await moving).status).toBe(200);
    await reconciled(h);
    expect(dangling(h)).toEqual([]);
  });

  it('keeps the ids when a service is renamed, and when a refused PUT is undone', async () => {
    const h = await lbHive({ flags: { 'bpf-lb-service-backend-map-max': 3 } }).requireStart();
    const bes = ['10.1.0.1:80', '10.1.0.2:80'];
    await call(
      h,
      'PUT',
      '/service/1',
      spec(1, '10.0.0.1:80', bes, { name: 'web', namespace: 'a' }),
    );
    const before = { services: servicesMap(h), backends: backendsMap(h) };
    const renamed = spec(1, '10.0.0.1:80', bes, { name: 'www', namespace: 'a' });
    expect((await call(h, 'PUT', '/service/1', renamed)).status).toBe(200);
    const w = h.get(LbWriter);
    expect(w.serviceIds.lookup('10.0.0.1:80/TCP')).toBe(1);
    expect([
      w.backendIds.lookup('10.1.0.1:80/TCP'),
      w.backendIds.lookup('10.1.0.2:80/TCP'),
    ]).toEqual([1, 2]);
    expect(backendsMap(h)).toEqual(before.backends);
    // Both backends replaced, the second refused (a full map): undone, with the same ids.
    const r = await call(
      h,
      'PUT',
      '/service/1',
      spec(1, '10.0.0.1:80', ['10.1.0.3:80', '10.1.0.4:80']),
    );
    expect(r.status).toBe(500);
    await reconciled(h);
    expect(servicesMap(h)).toEqual(before.services);
    expect(backendsMap(h)).toEqual(before.backends);
    expect(dangling(h)).toEqual([]);
  });

  it('keeps the settings of two ids that share a name apart', async () => {
    const h = await lbHive().requireStart();
    const named = { name: 'web', namespace: 'default' };
    const lb = spec(1, '10.0.0.1:80', ['10.1.0.1:80'], {
      ...named,
      type: 'LoadBalancer',
      loadBalancerSourceRanges: ['10.0.0.0/8'],
      sessionAffinity: true,
      sessionAffinityTimeout: 300,
    });
    expect((await call(h, 'PUT', '/service/1', lb)).status).toBe(201);
    expect(
      (await call(h, 'PUT', '/service/2', spec(2, '10.0.0.2:80', ['10.1.0.1:80'], named))).status,
    ).toBe(201);
    const one = (await call(h, 'GET', '/service/1')).body as {
      spec: { flags: Record<string, unknown> };
    };
    expect(one.spec.flags).toMatchObject({
      name: 'web',
      loadBalancerSourceRanges: ['10.0.0.0/8'],
      sessionAffinity: true,
    });
    expect(servicesMap(h)['10.0.0.1:80/6/0#0']).toMatch(/flags=(?!0\/)/);
  });

  it('takes writes through the Writer as a data source other than the API would', async () => {
    const h = await lbHive().requireStart();
    const w = h.get(LbWriter);
    w.update((t) => {
      t.upsertService({
        key: 'default/web',
        namespace: 'default',
        name: 'web',
        cluster: '',
        source: 'k8s',
        extTrafficPolicy: 'Cluster',
        intTrafficPolicy: 'Cluster',
        natPolicy: '',
        healthCheckNodePort: 0,
        sessionAffinity: false,
        sessionAffinityTimeoutSec: 0,
        sourceRanges: [],
        algorithm: undefined,
      });
      t.upsertFrontend({
        address: { ip: '10.96.0.10', port: 80, protocol: 'tcp', scope: 'external' },
        type: 'ClusterIP',
        serviceKey: 'default/web',
        portName: 'http',
      });
      t.setBackends('default/web', 'http', [
        {
          ip: '10.1.0.9',
          port: 8080,
          protocol: 'tcp',
          state: 'active',
          weight: 100,
          zone: '',
          nodeName: '',
        },
      ]);
    });
    await reconciled(h);
    const m = servicesMap(h);
    expect(m['10.96.0.10:80/6/0#0']).toMatch(/^count=1 q=0 rev=1 /);
    expect(Object.values(backendsMap(h))).toEqual(['10.1.0.9:8080/6 state=0']);
  });
});
