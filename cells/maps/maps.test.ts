import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfMap, E, FaultyMap, openMemoryMap } from '../../core/bpf/index.js';
import { testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiServer } from '../api/index.js';
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

function mapsHive() {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-maps-'));
  return testHive([apiCell, mapsCell], {
    flags: {
      'socket-path': join(dir, 'api.sock'),
      'bpf-backend': 'memory',
      'bpf-root': join(dir, 'bpf'),
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

  it('shows a map decoded, its recent writes, and 404 naming the maps for an unknown one', async () => {
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
    expect((body as { cache: unknown[] }).cache).toEqual([
      {
        key: 'ip=10.0.0.9 family=1 key=0 cluster_id=0',
        value:
          'ifindex=4 lxc_id=10 flags=0 mac=aa:bb:cc:dd:ee:01 node_mac=02:00:00:00:00:01 sec_id=43',
        'desired-action': 'ok',
      },
    ]);
    const events = (await get(h, '/map/cellium_lxc/events')).body as {
      action: string;
      key: string;
    }[];
    expect(events.map((e) => `${e.action} ${e.key.split(' ')[0] ?? ''}`)).toEqual([
      'update ip=fd00::5',
      'delete ip=fd00::5',
      'update ip=10.0.0.9',
    ]);
    expect(await get(h, '/map/cellium_nope')).toEqual({
      status: 404,
      body: 'map cellium_nope not found (maps: cellium_ipcache, cellium_lxc, cellium_metrics)',
    });
  });

  it('keeps the maps across a restart of the cell (pins outlive the agent)', async () => {
    const h1 = mapsHive();
    await h1.requireStart();
    const root = h1.hive.config.get('bpf-root') as string;
    h1.get(DatapathMaps).metrics.update({ reason: 0, dir: 1 }, [{ count: 5n, bytes: 500n }]);
    await h1.requireStop();
    const h2 = testHive([apiCell, mapsCell], {
      flags: {
        'socket-path': join(root, '..', 'api2.sock'),
        'bpf-backend': 'memory',
        'bpf-root': root,
      },
    });
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
