import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { apiRequest } from '../../core/testing/api.js';
import { freePort } from '../../core/testing/ports.js';
import { testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiServer } from '../api/index.js';
import { dumpMetrics, Metrics, metricsCell, parseServeAddr, PrometheusServer } from './index.js';

function hive(flags: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-metrics-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return testHive([apiCell, metricsCell], {
    flags: {
      'socket-path': join(dir, `api-${randomBytes(3).toString('hex')}.sock`),
      ...flags,
    },
  });
}

describe('--prometheus-serve-addr', () => {
  it.each([
    [':9962', undefined, 9962],
    ['127.0.0.1:9962', '127.0.0.1', 9962],
    ['[::1]:1', '::1', 1],
    ['localhost:65535', 'localhost', 65535],
  ])('reads %s', (text, host, port) => {
    expect(parseServeAddr(text)).toEqual({ host, port });
  });

  it.each([
    ['9962', "'9962' is not [host]:port (like :9962 or 127.0.0.1:9962)"],
    [':0', "':0': port must be 1 to 65535"],
    [':99999', "':99999': port must be 1 to 65535"],
    ['[10.0.0.1]:80', "'[10.0.0.1]:80': [10.0.0.1] is not an IPv6 address"],
    ['1.2.3:80', "'1.2.3:80': '1.2.3' is not an IP address or host name"],
    ['a b:80', "'a b:80': 'a b' is not an IP address or host name"],
  ])('refuses %s, saying why', (text, why) => {
    expect(() => parseServeAddr(text)).toThrow(why);
  });

  it('stops the agent before anything starts on a bad value, naming the flag', () => {
    expect(() => hive({ 'prometheus-serve-addr': 'localhost' })).toThrow(
      /prometheus-serve-addr.*'localhost' is not \[host\]:port/,
    );
  });

  it('is off by default: no listener', async () => {
    const h = await hive().requireStart();
    expect(h.get(PrometheusServer).address()).toBeUndefined();
  });

  it('serves GET /metrics in the Prometheus text format, with the process metrics', async () => {
    const port = await freePort();
    const h = await hive({ 'prometheus-serve-addr': `127.0.0.1:${port}` }).requireStart();
    expect(h.get(PrometheusServer).address()?.port).toBe(port);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(h.get(Metrics).registry.contentType);
    const text = await res.text();
    expect(text).toContain('# TYPE cellium_process_cpu_seconds_total counter');
    expect(text).toMatch(/^cellium_process_resident_memory_bytes \d+/m);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(405);
    await h.requireStop();
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('fails the start naming the flag when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    onTestFinished(() => void taken.close());
    const port = (taken.address() as { port: number }).port;
    const h = hive({ 'prometheus-serve-addr': `127.0.0.1:${port}` });
    await expect(h.hive.start()).rejects.toThrow(
      `--prometheus-serve-addr=127.0.0.1:${port}: cannot listen: the port is in use`,
    );
  });
});

describe('the registry', () => {
  it('is the hive’s own: metrics of one hive never show in another', async () => {
    const a = hive();
    const b = hive();
    a.get(Metrics).counter({ name: 'cellium_test_events_total', help: 'Test events' }).inc();
    expect(
      await a.get(Metrics).registry.getSingleMetricAsString('cellium_test_events_total'),
    ).toContain('cellium_test_events_total 1');
    expect(b.get(Metrics).registry.getSingleMetric('cellium_test_events_total')).toBeUndefined();
    // and a second hive can create the same metric (never prom-client's global registry)
    b.get(Metrics).counter({ name: 'cellium_test_events_total', help: 'Test events' });
    // The process metrics describe the process: one set of collectors, in every hive's registry.
    const cpu = 'cellium_process_cpu_seconds_total';
    expect(a.get(Metrics).registry.getSingleMetric(cpu)).toBeDefined();
    expect(a.get(Metrics).registry.getSingleMetric(cpu)).toBe(
      b.get(Metrics).registry.getSingleMetric(cpu),
    );
  });

  it('refuses names without the prefix, and _total on anything but a counter', () => {
    const m = hive().get(Metrics);
    expect(() => m.gauge({ name: 'cilium_x', help: 'x' })).toThrow('names start with cellium_');
    expect(() => m.gauge({ name: 'cellium_x_total', help: 'x' })).toThrow('_total');
    expect(() => m.counter({ name: 'cellium_x', help: 'x' })).toThrow('_total');
  });

  it('reads collect-time metrics from state on each scrape', async () => {
    const m = hive().get(Metrics);
    const state = new Map([['ready', 2]]);
    m.gaugeFrom({
      name: 'cellium_test_things',
      help: 'Things by state',
      labelNames: ['state'],
      read: () => [...state].map(([s, n]) => [{ state: s }, n] as const),
    });
    m.counterFrom({
      name: 'cellium_test_packets_total',
      help: 'Packets',
      read: () => [[{}, state.size * 10]],
    });
    const values = async () =>
      (await dumpMetrics(m.registry)).filter((x) => x.name?.startsWith('cellium_test_'));
    expect(await values()).toEqual([
      { name: 'cellium_test_things', labels: { state: 'ready' }, value: 2 },
      { name: 'cellium_test_packets_total', labels: {}, value: 10 },
    ]);
    state.delete('ready');
    state.set('regenerating', 1);
    expect(await values()).toEqual([
      { name: 'cellium_test_things', labels: { state: 'regenerating' }, value: 1 },
      { name: 'cellium_test_packets_total', labels: {}, value: 10 },
    ]);
  });
});

describe('GET /v1/metrics/', () => {
  it("flattens as Cilium's DumpMetrics: one entry per label set, a histogram's sum as its value", async () => {
    const h = await hive().requireStart();
    const m = h.get(Metrics);
    m.counter({ name: 'cellium_test_ops_total', help: 'Ops', labelNames: ['op'] }).inc(
      { op: 'a' },
      3,
    );
    const g = m.gauge({ name: 'cellium_test_level', help: 'Level', labelNames: ['x'] });
    g.set({ x: '1' }, 0.5);
    g.set({ x: '2' }, 7);
    const hist = m.histogram({
      name: 'cellium_test_time_seconds',
      help: 'Time',
      labelNames: ['k'],
    });
    hist.observe({ k: 'a' }, 0.25);
    hist.observe({ k: 'a' }, 1);
    const { status, body } = await apiRequest(h.get(ApiServer).app, 'GET', '/metrics/');
    expect(status).toBe(200);
    const mine = (body as { name: string }[]).filter((x) => x.name.startsWith('cellium_test_'));
    expect(mine).toEqual([
      { name: 'cellium_test_ops_total', labels: { op: 'a' }, value: 3 },
      { name: 'cellium_test_level', labels: { x: '1' }, value: 0.5 },
      { name: 'cellium_test_level', labels: { x: '2' }, value: 7 },
      { name: 'cellium_test_time_seconds', labels: { k: 'a' }, value: 1.25 },
    ]);
    const names = new Set((body as { name: string }[]).map((x) => x.name));
    expect(names).toContain('cellium_process_cpu_seconds_total');
  });

  it('counts API requests by path template, method and code, never by raw path', async () => {
    const h = await hive().requireStart();
    const app = h.get(ApiServer).app;
    await apiRequest(app, 'GET', '/metrics/');
    await apiRequest(app, 'GET', '/endpoint/123'); // no endpoint cell: 501
    await apiRequest(app, 'GET', '/endpoint/456');
    await apiRequest(app, 'GET', '/no/such/path'); // no operation: not counted
    const { body } = await apiRequest(app, 'GET', '/metrics/');
    const api = (body as { name: string; labels: Record<string, string> }[])
      .filter((x) => x.name === 'cellium_agent_api_process_time_seconds')
      .map((x) => x.labels);
    expect(api).toEqual([
      { path: '/v1/metrics/', method: 'GET', return_code: '200' },
      { path: '/v1/endpoint/{id}', method: 'GET', return_code: '501' },
    ]);
    const text = await h.get(Metrics).registry.metrics();
    expect(text).toContain(
      'cellium_agent_api_process_time_seconds_count{path="/v1/endpoint/{id}",method="GET",return_code="501"} 2',
    );
  });
});
