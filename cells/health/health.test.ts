import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { agent } from '../agent.js';
import {
  ApiClient,
  loadSpecFile,
  SpecValidator,
  type HealthModel,
  type Model,
} from '../../core/api/index.js';
import { provide } from '../../core/hive/index.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { healthHostIf } from './endpoint.js';
import { Metrics } from '../metrics/index.js';
import { HealthChecker, HealthProbes } from './index.js';
import { nodeReachable, Prober, type ProbeFn, type Probes } from './prober.js';

type NodeElement = Model<'NodeElement'>;

const node = (name: string, ip: string, healthIp?: string): NodeElement => ({
  name,
  'primary-address': { ipv4: { enabled: true, ip }, ipv6: { enabled: false } },
  'health-endpoint-address': {
    ipv4: healthIp ? { enabled: true, ip: healthIp } : { enabled: false },
    ipv6: { enabled: false },
  },
});

/** A probe double: answers `ns` for the IPs it knows, fails for `down`, never for `stuck`. */
function double(
  opts: { down?: string[]; stuck?: string[]; ns?: number } = {},
): ProbeFn & { calls: string[]; inFlight: number; maxInFlight: number } {
  const fn = Object.assign(
    async (ip: string, _t: number, signal: AbortSignal): Promise<number> => {
      fn.calls.push(ip);
      fn.inFlight++;
      fn.maxInFlight = Math.max(fn.maxInFlight, fn.inFlight);
      try {
        await new Promise((r) => setImmediate(r));
        if (opts.stuck?.includes(ip)) {
          await new Promise((_, reject) =>
            signal.addEventListener('abort', () => reject(new Error('aborted'))),
          );
        }
        if (opts.down?.includes(ip)) throw new Error(`${ip} is down`);
        return opts.ns ?? 1000;
      } finally {
        fn.inFlight--;
      }
    },
    { calls: [] as string[], inFlight: 0, maxInFlight: 0 },
  );
  return fn;
}

describe('prober', () => {
  it('probes every IP of every node with ICMP and HTTP concurrently, recording latency and errors', async () => {
    const icmp = double({ ns: 1500, down: ['10.0.1.9'] });
    const http = double({ ns: 2500 });
    const prober = new Prober({
      probes: { icmp, http },
      nodes: () => [node('a', '192.168.0.1', '10.0.0.9'), node('b', '192.168.0.2', '10.0.1.9')],
      timeoutMs: 10_000,
    });
    const r = await prober.probe();
    expect(icmp.calls.sort()).toEqual(['10.0.0.9', '10.0.1.9', '192.168.0.1', '192.168.0.2']);
    expect(icmp.maxInFlight).toBe(4); // all at once, not one after the other
    const [a, b] = r.nodes;
    expect(a?.host?.['primary-address']).toMatchObject({
      ip: '192.168.0.1',
      icmp: { latency: 1500, status: '' },
      http: { latency: 2500, status: '' },
    });
    expect(a && nodeReachable(a)).toBe(true);
    expect(b?.['health-endpoint']?.['primary-address']?.icmp).toMatchObject({
      latency: 0,
      status: '10.0.1.9 is down',
    });
    expect(b && nodeReachable(b)).toBe(false);
    expect(prober.result).toBe(r);
  });

  it('counts a probe that does not answer in time as failed, and aborts it', async () => {
    const icmp = double({ stuck: ['192.168.0.2'] });
    const prober = new Prober({
      probes: { icmp, http: double() },
      nodes: () => [node('b', '192.168.0.2')],
      timeoutMs: 20,
    });
    const r = await prober.probe();
    const p = r.nodes[0]?.host?.['primary-address'];
    expect(p?.icmp?.status).toBe('no answer in 20 ms');
    expect(p?.http?.status).toBe('');
    expect(icmp.inFlight).toBe(0); // the stuck one was aborted
    expect(p?.icmp?.lastProbed).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('runs rounds one after the other: a probe asked for meanwhile waits, then runs afresh', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let rounds = 0;
    const probes: Probes = {
      icmp: async () => {
        rounds++;
        if (rounds === 1) await gate;
        return 1;
      },
      http: () => Promise.resolve(1),
    };
    const prober = new Prober({ probes, nodes: () => [node('a', '10.0.0.1')], timeoutMs: 60_000 });
    prober.start(60_000);
    const asked = prober.probe();
    expect(prober.count).toBe(0);
    release();
    await asked;
    expect(prober.count).toBe(2); // the scheduled round, then the one asked for
    expect(rounds).toBe(2);
    await prober.stop();
  });

  it('lets requests made while a round runs share the next round', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let rounds = 0;
    const probes: Probes = {
      icmp: async () => {
        rounds++;
        if (rounds === 1) await gate;
        return 1;
      },
      http: () => Promise.resolve(1),
    };
    const prober = new Prober({ probes, nodes: () => [node('a', '10.0.0.1')], timeoutMs: 60_000 });
    const first = prober.probe();
    const asked = [prober.probe(), prober.probe(), prober.probe()];
    release();
    const [r1, ...rest] = await Promise.all([first, ...asked]);
    expect(rounds).toBe(2); // one round for the three waiters, not three
    expect(new Set(rest).size).toBe(1);
    expect(rest[0]).not.toBe(r1);
    await prober.stop();
    await expect(prober.probe()).rejects.toThrow('the prober is stopped');
  });

  it('runs at most `concurrency` probes at once', async () => {
    const icmp = double();
    const http = double();
    const nodes = Array.from({ length: 30 }, (_, i) => node(`n${i}`, `10.0.0.${i + 1}`));
    let inFlight = 0;
    let max = 0;
    const counted =
      (fn: ProbeFn): ProbeFn =>
      async (...a) => {
        inFlight++;
        max = Math.max(max, inFlight);
        try {
          return await fn(...a);
        } finally {
          inFlight--;
        }
      };
    const prober = new Prober({
      probes: { icmp: counted(icmp), http: counted(http) },
      nodes: () => nodes,
      timeoutMs: 60_000,
      concurrency: 16,
    });
    const r = await prober.probe();
    expect(icmp.calls).toHaveLength(30);
    expect(http.calls).toHaveLength(30);
    expect(max).toBe(16);
    expect(r.nodes.every((n) => nodeReachable(n))).toBe(true);
  });

  it('probes again every interval until stopped', async () => {
    const icmp = double();
    const prober = new Prober({
      probes: { icmp, http: double() },
      nodes: () => [node('a', '10.0.0.1')],
      timeoutMs: 1000,
    });
    prober.start(1);
    while (prober.count < 3) await new Promise((r) => setTimeout(r, 1));
    await prober.stop();
    const n = prober.count;
    await new Promise((r) => setTimeout(r, 20));
    expect(prober.count).toBe(n);
  });
});

describe('health endpoint link name', () => {
  it('is lxc_health for the default namespace, else lxc_h and a hash of the namespace name', () => {
    expect(healthHostIf('cellium-health')).toBe('lxc_health');
    const a = healthHostIf('cellium-health-a');
    const b = healthHostIf('cellium-health-b');
    expect(a).toMatch(/^lxc_h[0-9a-f]{10}$/);
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(15); // IFNAMSIZ - 1
    expect(b).not.toBe(a);
    expect(healthHostIf('cellium-health-a')).toBe(a); // the same across restarts
  });
});

describe('health cell in the whole agent (in-memory maps, probe doubles)', () => {
  it('serves cilium-health models, lists static nodes, and says why it has no endpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-health-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const nodesFile = join(dir, 'nodes.yaml');
    writeFileSync(nodesFile, '- name: default/b\n  ipv4: 192.168.7.2\n  health-ipv4: 10.9.0.5\n');
    const icmp = double({ down: ['10.9.0.5'], ns: 1234 });
    const h = testHive([agent], {
      flags: {
        'socket-path': join(dir, 'api.sock'),
        'state-dir': join(dir, 'state'),
        'bpf-root': join(dir, 'bpf'),
        'bpf-backend': 'memory',
        // No TCP port on the host: another agent or test may hold the kubelet's 9879.
        'agent-health-port': 0,
        'node-name': 'a',
        // No local IP: no TCP listener that another test could hold.
        'ipv4-node': '',
        'ipv6-node': '',
        'nodes-file': nodesFile,
        'health-probe-interval': '1h',
      },
      overrides: [provide(HealthProbes, {}, () => ({ icmp, http: double({ ns: 999 }) }))],
    });
    await h.requireStart();
    onTestFinished(() => h.requireStop());
    const svc = h.get(HealthChecker);
    const health = new ApiClient(join(dir, 'health.sock'), '/v1beta');
    const api = new ApiClient(join(dir, 'api.sock'));
    onTestFinished(() => {
      health.close();
      api.close();
    });
    const v = new SpecValidator(loadSpecFile('health.yaml'));
    const op = (id: string) => {
      const o = loadSpecFile('health.yaml').operations.get(id);
      if (!o) throw new Error(id);
      return v.for(o);
    };

    const probed = await health.request<HealthModel<'HealthStatusResponse'>>(
      'PUT',
      '/status/probe',
    );
    op('PutStatusProbe').response(200, probed);
    expect(probed.local?.name).toBe('default/a');
    expect(probed.nodes?.map((n) => n.name)).toEqual(['default/a', 'default/b']);
    const b = probed.nodes?.[1];
    expect(b?.host?.['primary-address']).toMatchObject({
      ip: '192.168.7.2',
      icmp: { latency: 1234, status: '' },
      http: { latency: 999, status: '' },
    });
    expect(b?.['health-endpoint']?.['primary-address']?.icmp?.status).toBe('10.9.0.5 is down');
    // The metrics read the last round: b's endpoint is down, b's host answers.
    const reg = h.get(Metrics).registry;
    const value = async (name: string) => (await reg.getSingleMetric(name)?.get())?.values;
    expect((await value('cellium_unreachable_nodes'))?.[0]?.value).toBe(0);
    expect((await value('cellium_unreachable_health_endpoints'))?.[0]?.value).toBe(1);
    const latency = await value('cellium_node_connectivity_latency_seconds');
    expect(latency).toContainEqual({
      labels: {
        source_node_name: 'default/a',
        target_node_name: 'default/b',
        target_node_ip: '192.168.7.2',
        type: 'node',
        protocol: 'icmp',
        address_type: 'primary',
      },
      value: 1234e-9,
    });
    // The endpoint's ICMP failed: no latency for it; its HTTP answered.
    const ep = latency?.filter((v) => v.labels.type === 'endpoint') ?? [];
    expect(ep.map((v) => v.labels.protocol)).toEqual(['http']);
    const status = await health.request<HealthModel<'HealthStatusResponse'>>('GET', '/status');
    op('GetStatus').response(200, status);
    expect(status.timestamp).toBe(probed.timestamp);
    const hz = await health.request<HealthModel<'HealthResponse'>>('GET', '/healthz');
    op('GetHealthz').response(200, hz);
    expect(hz['system-load']?.last1min).toMatch(/^\d/);
    expect(hz.cilium).toMatchObject({ cilium: { state: 'Ok' } });

    const s = await api.request<Model<'StatusResponse'>>('GET', '/healthz');
    // The agent's state is the one /v1/healthz computes, not one of its own.
    expect(hz.cilium?.cilium).toEqual(s.cilium);
    expect(s.cluster?.ciliumHealth?.state).toBe('Warning');
    expect(s.cluster?.ciliumHealth?.msg).toContain('0/2 nodes reachable');
    expect(s.cluster?.ciliumHealth?.msg).toContain('health endpoint disabled');
    // No endpoint on in-memory maps: no controller for it, and no endpoint.
    expect(s.controllers?.map((c) => c.name)).not.toContain('cilium-health-ep');
    expect(await api.request('GET', '/endpoint')).toEqual([]);
    expect(svc.clusterHealth().state).toBe('Warning');
    // Requests are validated against api-spec/health.yaml, as the main API's.
    const app = svc.api.app();
    const bad = await app.request('/v1beta/status/probe', {
      method: 'PUT',
      body: '{',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatch(/^invalid request: body is not valid JSON/);
    expect((await app.request('/v1beta/nodes')).status).toBe(404);
    const nodes = await api.request<Model<'ClusterNodeStatus'>>('GET', '/cluster/nodes');
    expect(nodes['nodes-added']?.map((n) => [n.name, n.source])).toEqual([
      ['default/a', 'local'],
      ['default/b', 'static'],
    ]);
    // The static node's IP has a node id; a file without it releases it.
    type Ids = { id: number; ips: string[] }[];
    expect(await api.request<Ids>('GET', '/node/ids')).toEqual([{ id: 1, ips: ['192.168.7.2'] }]);
    writeFileSync(nodesFile, '[]\n');
    await eventually(async () => (await api.request<Ids>('GET', '/node/ids')).length === 0);
    expect(svc.prober.result?.nodes.map((n) => n.name)).toEqual(['default/a', 'default/b']);
    expect((await svc.prober.probe()).nodes.map((n) => n.name)).toEqual(['default/a']);
  });

  it('is Disabled in /v1/healthz with --enable-health-checking=false', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-health-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const h = testHive([agent], {
      flags: {
        'socket-path': join(dir, 'api.sock'),
        'state-dir': join(dir, 'state'),
        'bpf-root': join(dir, 'bpf'),
        'bpf-backend': 'memory',
        // No TCP port on the host: another agent or test may hold the kubelet's 9879.
        'agent-health-port': 0,
        'enable-health-checking': false,
      },
    });
    await h.requireStart();
    onTestFinished(() => h.requireStop());
    const api = new ApiClient(join(dir, 'api.sock'));
    onTestFinished(() => api.close());
    const s = await api.request<Model<'StatusResponse'>>('GET', '/healthz');
    expect(s.cluster?.ciliumHealth).toEqual({
      state: 'Disabled',
      msg: 'cilium-health is disabled (--enable-health-checking=false)',
    });
    await expect(
      new ApiClient(join(dir, 'health.sock'), '/v1beta').request('GET', '/status'),
    ).rejects.toThrow();
  });
});
