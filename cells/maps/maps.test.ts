import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfMap, E, FaultyMap, openMemoryMap } from '../../core/bpf/index.js';
import { HealthTree } from '../../core/hive/index.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiServer } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import {
  DatapathMaps,
  endpointKeyOf,
  ipcacheKeyOf,
  LXC_MAP,
  mapsCell,
  METRICS_MAP,
} from './index.js';
import { apiRequest } from '../../core/testing/api.js';

beforeAll(() => {
  process.env.CELLIUM_VALIDATE_RESPONSES = '1';
});
afterAll(() => {
  delete process.env.CELLIUM_VALIDATE_RESPONSES;
});

function mapsHive(
  flags: Record<string, unknown> = {},
  dir = mkdtempSync(join(tmpdir(), 'cellium-maps-')),
) {
  return testHive([apiCell, daemonCell, mapsCell], {
    flags: {
      'socket-path': join(dir, `api-${randomBytes(4).toString('hex')}.sock`),
      'bpf-backend': 'memory',
      'bpf-root': join(dir, 'bpf'),
      ...flags,
    },
  });
}

function get(h: ReturnType<typeof mapsHive>, path: string) {
  return apiRequest(h.get(ApiServer).app, 'GET', path);
}

describe('maps cell (in-memory backend)', () => {
  it('opens the agent maps at start and lists them with live counts', async () => {
    const h = mapsHive();
    expect(() => h.get(DatapathMaps).lxc).toThrow('the maps cell has not started');
    await h.requireStart();
    const maps = h.get(DatapathMaps);
    expect(maps.backend).toBe('memory');
    maps.lxc.update(endpointKeyOf('10.0.0.5'), {
      ifindex: 12,
      lxc_id: 345,
      flags: 0,
      mac: '02:00:00:00:00:05',
      node_mac: '02:00:00:00:00:01',
      sec_id: 1234,
    });
    maps.ipcache.update(ipcacheKeyOf('10.0.0.0/24'), {
      sec_identity: 7,
      tunnel_endpoint: '0.0.0.0',
      node_id: 0,
      key: 0,
      flags: 0,
    });
    const { body } = await get(h, '/map');
    expect((body as { maps: { name: string; entries: number; path: string }[] }).maps).toEqual([
      expect.objectContaining({
        name: 'cellium_ipcache',
        entries: 1,
        backend: 'memory',
      }),
      expect.objectContaining({ name: 'cellium_lxc', entries: 1 }),
      expect.objectContaining({ name: 'cellium_metrics', entries: 0 }),
    ]);
  });

  it('shows a map no cell owns with its live contents, 404 for its events and for an unknown map', async () => {
    const h = mapsHive();
    await h.requireStart();
    const { lxc } = h.get(DatapathMaps);
    const key = endpointKeyOf('fd00::5');
    lxc.update(key, {
      ifindex: 3,
      lxc_id: 9,
      flags: 0,
      mac: 'aa:bb:cc:dd:ee:ff',
      node_mac: '02:00:00:00:00:01',
      sec_id: 42,
    });
    lxc.delete(key);
    lxc.update(endpointKeyOf('10.0.0.9'), {
      ifindex: 4,
      lxc_id: 10,
      flags: 0,
      mac: 'aa:bb:cc:dd:ee:01',
      node_mac: '02:00:00:00:00:01',
      sec_id: 43,
    });
    const { body } = await get(h, '/map/cellium_lxc');
    expect(body).toMatchObject({
      path: join(h.hive.config.get('bpf-root') as string, 'tc', 'globals', 'cellium_lxc'),
    });
    // No desired state here (no endpoint cell): what the map holds, without a desired action.
    expect((body as { cache: unknown[] }).cache).toEqual([
      {
        key: 'ip=10.0.0.9 family=1 key=0 cluster_id=0',
        value:
          'ifindex=4 lxc_id=10 flags=0 mac=aa:bb:cc:dd:ee:01 node_mac=02:00:00:00:00:01 sec_id=43',
      },
    ]);
    const events = await get(h, '/map/cellium_metrics/events');
    expect(events.status).toBe(404);
    expect(events.body).toMatch(/cellium_metrics" has no event buffer.*--bpf-map-event-buffers/);
    expect(await get(h, '/map/cellium_nope')).toEqual({
      status: 404,
      body: 'map "cellium_nope" not found (maps: cellium_ipcache, cellium_lxc, cellium_metrics)',
    });
    expect((await get(h, '/map/cellium_nope/events')).status).toBe(404);
  });

  it('keeps the maps across a restart of the cell (pins outlive the agent)', async () => {
    const h1 = mapsHive();
    await h1.requireStart();
    const root = h1.hive.config.get('bpf-root') as string;
    h1.get(DatapathMaps).metrics.update({ reason: 0, dir: 1 }, [{ count: 5n, bytes: 500n }]);
    await h1.requireStop();
    const h2 = mapsHive({ 'bpf-root': root });
    await h2.requireStart();
    const v = h2.get(DatapathMaps).metrics.lookup({ reason: 0, dir: 1 });
    expect(v?.[0]).toEqual({ count: 5n, bytes: 500n });
  });
});

describe('map errors', () => {
  it('counts failed writes and keeps the last error for map list', () => {
    const raw = new FaultyMap(
      openMemoryMap({
        name: LXC_MAP.name,
        type: LXC_MAP.type,
        keySize: LXC_MAP.key.size,
        valueSize: LXC_MAP.element.size,
        maxEntries: 4,
        flags: 0,
      }),
    );
    const m = new BpfMap(LXC_MAP, raw).enableEvents();
    raw.fail('update', E.E2BIG, 1);
    const info = {
      ifindex: 1,
      lxc_id: 1,
      flags: 0,
      mac: '02:00:00:00:00:02',
      node_mac: '02:00:00:00:00:01',
      sec_id: 1,
    };
    expect(() => m.update(endpointKeyOf('10.0.0.1'), info)).toThrow(
      'map cellium_lxc is full (max entries 4) (E2BIG)',
    );
    m.update(endpointKeyOf('10.0.0.1'), info);
    expect([m.errorCount, m.lastError]).toEqual([
      1,
      'map cellium_lxc is full (max entries 4) (E2BIG)',
    ]);
    expect(m.recentEvents().map((e) => e.error ?? 'ok')).toEqual([
      'map cellium_lxc is full (max entries 4) (E2BIG)',
      'ok',
    ]);
    void METRICS_MAP;
  });
});

function info(id: number) {
  return {
    ifindex: id,
    lxc_id: id,
    flags: 0,
    mac: '02:00:00:00:00:02',
    node_mac: '02:00:00:00:00:01',
    sec_id: id,
  };
}

function fillLxc(h: ReturnType<typeof mapsHive>, from: number, to: number) {
  const { lxc } = h.get(DatapathMaps);
  for (let i = from; i < to; i++) lxc.update(endpointKeyOf(`10.1.${i >> 8}.${i & 255}`), info(i));
}

describe('map sizes (--bpf-*-map-max)', () => {
  it('sizes the maps from their flags and shows the sizes in /healthz and /map', async () => {
    const h = mapsHive({
      'bpf-lxc-map-max': 32,
      'bpf-ipcache-map-max': 1000,
      'bpf-metrics-map-max': 64,
    });
    await h.requireStart();
    const maps = h.get(DatapathMaps);
    expect([maps.lxc, maps.ipcache, maps.metrics].map((m) => m.raw.maxEntries)).toEqual([
      32, 1000, 64,
    ]);
    // The sizes at once; how full each map is once the bpf-maps probe has counted them.
    const health = await eventually(async () => {
      const r = (await get(h, '/healthz')).body as {
        'bpf-maps': { maps: { pressure?: number }[] };
      };
      return r['bpf-maps'].maps.every((m) => m.pressure !== undefined) && r;
    });
    expect(health['bpf-maps']).toEqual({
      'dynamic-size-ratio': 0.0025,
      maps: [
        { name: 'cellium_ipcache', size: 1000, pressure: 0 },
        { name: 'cellium_lxc', size: 32, pressure: 0 },
        { name: 'cellium_metrics', size: 64, pressure: 0 },
      ],
    });
    const list = (await get(h, '/map')).body as { maps: { name: string }[] };
    expect(list.maps.find((m) => m.name === 'cellium_lxc')).toMatchObject({ 'max-entries': 32 });
  });

  it.each([
    ['bpf-lxc-map-max', 0, 'must be >= 1'],
    ['bpf-ipcache-map-max', 16_777_217, 'must be <= 16777216'],
    ['bpf-metrics-map-max', 'many', 'must be integer'],
  ])('refuses --%s %s before anything starts, naming the flag', (flag, value, why) => {
    expect(() => mapsHive({ [flag]: value })).toThrow(`--${flag}: invalid value`);
    expect(() => mapsHive({ [flag]: value })).toThrow(why);
  });
});

describe('map pressure', () => {
  it('turns a map degraded at 90% full, naming it, its fill and its flag', async () => {
    const h = mapsHive({ 'bpf-lxc-map-max': 20 });
    await h.requireStart();
    const maps = h.get(DatapathMaps);
    const tree = h.get(HealthTree);
    const lxcHealth = () => tree.get('maps.cellium_lxc');
    await eventually(() => lxcHealth()?.message === '0/20 entries (0.00%)');
    expect(lxcHealth()).toMatchObject({ level: 'ok', message: '0/20 entries (0.00%)' });
    fillLxc(h, 0, 17);
    expect((await maps.checkPressure()).find((p) => p.name === 'cellium_lxc')).toMatchObject({
      entries: 17,
      maxEntries: 20,
      high: false,
    });
    expect(lxcHealth()).toMatchObject({ level: 'ok', message: '17/20 entries (85.0%)' });
    fillLxc(h, 17, 18);
    await maps.checkPressure();
    expect(lxcHealth()).toMatchObject({
      level: 'degraded',
      message:
        'cellium_lxc holds 18/20 entries (90.0%), at or above 90.0%; raise --bpf-lxc-map-max',
    });
    const status = (await get(h, '/healthz')).body as { cilium: { state: string; msg: string } };
    expect(status.cilium.state).toBe('Warning');
    expect(status.cilium.msg).toContain('raise --bpf-lxc-map-max');
  });

  it('checks at once when a write finds a map full', async () => {
    const h = mapsHive({ 'bpf-lxc-map-max': 16 });
    await h.requireStart();
    const tree = h.get(HealthTree);
    await eventually(() => tree.get('maps.cellium_lxc')?.message === '0/16 entries (0.00%)');
    fillLxc(h, 0, 16);
    // Nothing counted since start (the timer runs every 30 s): still reported empty.
    expect(tree.get('maps.cellium_lxc')?.message).toBe('0/16 entries (0.00%)');
    expect(() => fillLxc(h, 16, 17)).toThrow(/is full \(max entries 16\)/);
    await eventually(() => tree.get('maps.cellium_lxc')?.level === 'degraded');
  });
});

describe('pinned maps of another size', () => {
  it('migrates a pin to a larger size with its entries; keeps a size too small for them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-maps-'));
    const h1 = mapsHive({ 'bpf-lxc-map-max': 32 }, dir);
    await h1.requireStart();
    fillLxc(h1, 0, 20);
    await h1.requireStop();

    const h2 = mapsHive({ 'bpf-lxc-map-max': 64 }, dir);
    await h2.requireStart();
    const m2 = h2.get(DatapathMaps);
    expect([m2.lxc.raw.maxEntries, m2.lxc.count()]).toEqual([64, 20]);
    await h2.requireStop();

    const h3 = mapsHive({ 'bpf-lxc-map-max': 16 }, dir);
    await h3.requireStart();
    const m3 = h3.get(DatapathMaps);
    expect([m3.lxc.raw.maxEntries, m3.lxc.count()]).toEqual([64, 20]);
    await eventually(() => h3.get(HealthTree).get('maps.cellium_lxc')?.message.includes('entries'));
    const health = h3.get(HealthTree).get('maps.cellium_lxc');
    expect(health?.level).toBe('degraded');
    expect(health?.message).toBe(
      'cellium_lxc: it holds 20 entries, more than the wanted max 16: keeping its max of 64 ' +
        '(sized by --bpf-lxc-map-max); 20/64 entries (31.3%)',
    );
  });
});
