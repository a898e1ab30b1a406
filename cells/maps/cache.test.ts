import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CelliumClient } from '../../core/api/typed-client.js';
import type { Status } from '../../core/reconciler/index.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { apiCell } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { identityCell } from '../identity/index.js';
import { ipcacheCell, IpcacheWriter } from '../ipcache/index.js';
import { statedbCell } from '../statedb/index.js';
import { desiredAction, MapCacheRegistry, reconciledCache } from './cache.js';
import { eventBuffers, parseEventBuffers } from './config.js';
import { ipcacheKeyOf, IPCACHE_MAP, remoteEndpointInfoOf } from './defs.js';
import { EventRing, MAX_SUBSCRIBERS, type MapEntryEvent } from './events.js';
import { DumpQueue, getMap, listMaps } from './api.js';
import { MapCaches, Maps, mapsCell } from './index.js';

const at = (ms: number, key = `k${ms}`): MapEntryEvent => ({
  timestamp: new Date(ms),
  action: 'update',
  key,
  value: 'v',
  desiredAction: 'ok',
});

describe('event ring', () => {
  it('counts a reserved follow stream as a subscriber until it subscribes', () => {
    const r = new EventRing(3);
    r.reserve();
    r.reserve();
    expect(r.subscribers).toBe(2);
    const off = r.subscribe({ next: () => undefined, end: () => undefined });
    expect(r.subscribers).toBe(2);
    off();
    expect(r.subscribers).toBe(1);
  });

  it('keeps the last N events oldest first, and hides those older than its TTL', () => {
    let now = 10_000;
    const r = new EventRing(3, 1000, () => now);
    for (const t of [9000, 9500, 9600, 9700]) r.push(at(t));
    expect(r.dump().map((e) => e.key)).toEqual(['k9500', 'k9600', 'k9700']);
    now = 10_550;
    expect(r.dump().map((e) => e.key)).toEqual(['k9600', 'k9700']);
    expect(() => new EventRing(0)).toThrow(/at least 1/);
  });

  it('hands a follower the buffered events, then each new one, until it leaves or the ring closes', () => {
    const r = new EventRing(8);
    r.push(at(1));
    const got: string[] = [];
    let ended = 0;
    const leave = r.subscribe({ next: (e) => got.push(e.key), end: () => ended++ });
    r.push(at(2));
    expect(got).toEqual(['k1', 'k2']);
    expect(r.subscribers).toBe(1);
    leave();
    r.push(at(3));
    expect(got).toEqual(['k1', 'k2']);
    expect(r.subscribers).toBe(0);
    r.subscribe({ next: () => undefined, end: () => ended++ });
    r.close();
    expect(ended).toBe(1);
    expect(r.subscribers).toBe(0);
    // A follower arriving after the close gets the buffer and ends at once.
    const late: string[] = [];
    r.subscribe({ next: (e) => late.push(e.key), end: () => ended++ });
    expect(late).toEqual(['k1', 'k2', 'k3']);
    expect(ended).toBe(2);
  });
});

describe('--bpf-map-event-buffers', () => {
  it("parses Cilium's name=enabled,size,ttl entries over the defaults", () => {
    const of = eventBuffers('cellium_ipcache=enabled,16,1h,cellium_lxc=disabled');
    expect(of('cellium_ipcache')).toEqual({ size: 16, ttlMs: 3_600_000 });
    expect(of('cellium_lxc')).toEqual({ size: 0, ttlMs: 0 });
    expect(eventBuffers('')('cellium_lxc')).toEqual({ size: 128, ttlMs: 0 });
    expect(eventBuffers('')('cellium_ipcache')).toEqual({ size: 1024, ttlMs: 0 });
    expect(eventBuffers('')('cellium_metrics')).toEqual({ size: 0, ttlMs: 0 });
    expect(() => parseEventBuffers('cellium_lxc=maybe')).toThrow(/enabled or disabled/);
    expect(() => parseEventBuffers('cellium_lxc=enabled,0')).toThrow(/1 to 65536/);
    expect(() => parseEventBuffers('cellium_lxc=enabled,8,soon')).toThrow(/not a duration/);
    expect(() => parseEventBuffers('Bad=enabled')).toThrow(/not a map name/);
  });

  it('refuses a bad value before anything starts, naming the flag', () => {
    const bad = { 'bpf-map-event-buffers': 'cellium_lxc=enabled,-3' };
    expect(() => testHive([apiCell, daemonCell, mapsCell], { flags: bad })).toThrow(
      "--bpf-map-event-buffers: invalid value 'cellium_lxc=enabled,-3'",
    );
    expect(() => testHive([apiCell, daemonCell, mapsCell], { flags: bad })).toThrow(
      /the size must be an integer from 1 to 65536, not '-3'/,
    );
  });
});

describe('desired state as a map cache', () => {
  const st = (kind: Status['kind'], error?: string): Status => ({
    kind,
    updatedAt: new Date(),
    ...(error !== undefined ? { error } : {}),
  });

  it("maps reconcile status to Cilium's desired action", () => {
    expect(desiredAction(st('done'))).toEqual({ desiredAction: 'ok' });
    expect(desiredAction(st('pending'))).toEqual({ desiredAction: 'insert' });
    expect(desiredAction(st('error', 'E2BIG: full'))).toEqual({
      desiredAction: 'insert',
      lastError: 'E2BIG: full',
    });
  });

  it('shows every desired entry, failed deletes as delete, and records each write as an event', () => {
    interface Row {
      prefix: string;
      identity: number;
      status: Status;
    }
    let rows: Row[] = [
      { prefix: '10.0.0.1/32', identity: 7, status: st('done') },
      { prefix: '10.0.0.2/32', identity: 8, status: st('pending') },
      { prefix: '10.0.0.3/32', identity: 9, status: st('error', 'map full') },
    ];
    const caches = new MapCacheRegistry(() => ({ size: 4, ttlMs: 0 }));
    const observe = reconciledCache({
      caches,
      spec: IPCACHE_MAP,
      objects: () => rows,
      status: (r) => r.status,
      id: (r) => r.prefix,
      entries: (r) => [
        [ipcacheKeyOf(r.prefix), remoteEndpointInfoOf({ ...r, hostIP: '', encryptKey: 0 })],
      ],
    });
    const cache = () =>
      (caches.cache('cellium_ipcache') ?? []).map(
        (e) => `${e.key.split(' ').pop() ?? ''} ${e.desiredAction} ${e.lastError ?? '-'}`,
      );
    expect(cache()).toEqual([
      'ip=10.0.0.1 ok -',
      'ip=10.0.0.2 insert -',
      'ip=10.0.0.3 insert map full',
    ]);
    expect(caches.cache('cellium_ipcache')?.[0]).toMatchObject({
      key: 'prefixlen=64 cluster_id=0 family=1 ip=10.0.0.1',
      value: 'sec_identity=7 tunnel_endpoint=0.0.0.0 node_id=0 key=0 flags=0',
    });
    const gone = rows[0] as Row;
    rows = rows.slice(1);
    observe({ action: 'delete', object: gone, error: 'EPERM' });
    expect(cache()).toContain('ip=10.0.0.1 delete EPERM');
    observe({ action: 'delete', object: gone });
    expect(cache()).not.toContain('ip=10.0.0.1 delete EPERM');
    // A delete that keeps failing until a prune takes the entry away: gone from the cache too.
    observe({ action: 'delete', object: gone, error: 'EPERM' });
    observe({ action: 'prune' });
    expect(cache()).not.toContain('ip=10.0.0.1 delete EPERM');
    observe({ action: 'update', object: rows[0] as Row });
    observe({ action: 'update', object: rows[1] as Row, error: 'map full' });
    const events = caches.events('cellium_ipcache')?.dump() ?? [];
    // The ring holds the last 4.
    expect(events.map((e) => `${e.action} ${e.desiredAction} ${e.lastError ?? '-'}`)).toEqual([
      'delete delete -',
      'delete delete EPERM',
      'update ok -',
      'update insert map full',
    ]);
    expect(caches.cache('cellium_lxc')).toBeUndefined();
    expect(() => caches.register('cellium_ipcache', { entries: () => [] })).toThrow(/owner/);
  });
});

function ipcacheHive(flags: Record<string, unknown> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'cellium-mapcache-'));
  const socket = join(root, 'api.sock');
  const h = testHive([apiCell, statedbCell, identityCell, daemonCell, mapsCell, ipcacheCell], {
    flags: {
      'socket-path': socket,
      'bpf-backend': 'memory',
      'bpf-root': join(root, 'bpf'),
      ...flags,
    },
  });
  const api = new CelliumClient(socket);
  onTestFinished(() => api.close());
  return { h, api };
}

/** Collects the JSON lines of a stream as they arrive; `ended` resolves when it ends. */
function lines(body: Readable): { got: Record<string, unknown>[]; ended: Promise<void> } {
  const got: Record<string, unknown>[] = [];
  const rl = createInterface({ input: body });
  rl.on('line', (l) => got.push(JSON.parse(l) as Record<string, unknown>));
  const ended = new Promise<void>((resolve) => rl.on('close', resolve));
  return { got, ended };
}

describe('GET /v1/map/{name}/events over the socket', () => {
  it('answers the buffer and ends; with follow streams new events until the client goes away', async () => {
    const { h, api } = ipcacheHive();
    await h.requireStart();
    const w = h.get(IpcacheWriter);
    w.upsert({ prefix: '10.1.0.1', identity: 100, source: 'local' });
    const ring = h.get(MapCaches).events('cellium_ipcache');
    await eventually(() => (ring?.dump().length ?? 0) >= 1);

    const once = lines(await api.getMapNameEvents({ params: { name: 'cellium_ipcache' } }));
    await once.ended;
    expect(once.got).toEqual([
      expect.objectContaining({
        action: 'update',
        'desired-action': 'ok',
        key: 'prefixlen=64 cluster_id=0 family=1 ip=10.1.0.1',
      }),
    ]);
    expect(once.got[0]).not.toHaveProperty('last-error');

    const body = await api.getMapNameEvents({
      params: { name: 'cellium_ipcache' },
      query: { follow: true },
    });
    const live = lines(body);
    await eventually(() => live.got.length === 1);
    expect(ring?.subscribers).toBe(1);
    w.upsert({ prefix: '10.1.0.2', identity: 101, source: 'local' });
    await eventually(() => live.got.length === 2);
    expect(live.got[1]).toMatchObject({ key: 'prefixlen=64 cluster_id=0 family=1 ip=10.1.0.2' });
    body.destroy();
    // The agent notices the closed socket and drops the subscription.
    await eventually(() => ring?.subscribers === 0);
    await h.requireStop();
  });

  it('ends follow streams cleanly at stop; refuses more than 32 followers; 404 for a map without buffer', async () => {
    const { h, api } = ipcacheHive({ 'bpf-map-event-buffers': 'cellium_ipcache=enabled,4' });
    await h.requireStart();
    const ring = h.get(MapCaches).events('cellium_ipcache');
    expect(ring?.capacity).toBe(4);
    const bodies: Readable[] = [];
    for (let i = 0; i < MAX_SUBSCRIBERS; i++) {
      bodies.push(
        await api.getMapNameEvents({
          params: { name: 'cellium_ipcache' },
          query: { follow: true },
        }),
      );
    }
    await eventually(() => ring?.subscribers === MAX_SUBSCRIBERS);
    await expect(
      api.getMapNameEvents({ params: { name: 'cellium_ipcache' }, query: { follow: true } }),
    ).rejects.toThrow(/429.*32 event streams/);
    await expect(api.getMapNameEvents({ params: { name: 'cellium_metrics' } })).rejects.toThrow(
      /404.*no event buffer/,
    );
    const ends = bodies.map((b) => lines(b).ended);
    await h.requireStop();
    await Promise.all(ends);
    expect(ring?.subscribers).toBe(0);
  });
});

describe('GET /v1/map with more entries than one reply shows', () => {
  it('lists the first ones and says the cache is truncated', async () => {
    const { h } = ipcacheHive();
    await h.requireStart();
    const w = h.get(IpcacheWriter);
    for (const n of [1, 2, 3]) w.upsert({ prefix: `10.2.0.${n}`, identity: 100, source: 'local' });
    const registry = h.get(Maps);
    const caches = h.get(MapCaches);
    await eventually(() => (caches.cache('cellium_ipcache') ?? []).length >= 3);
    const cut = await getMap(registry, caches, 'cellium_ipcache', 2);
    expect(cut.cache).toHaveLength(2);
    expect(cut['cache-truncated']).toBe(true);
    const whole = await getMap(registry, caches, 'cellium_ipcache', 3);
    expect(whole.cache).toHaveLength(3);
    expect(whole['cache-truncated']).toBeUndefined();
    const listed = (await listMaps(registry, caches, 0)).maps?.find(
      (m) => m.name === 'cellium_ipcache',
    );
    expect(listed?.cache).toEqual([]);
    expect(listed?.['cache-truncated']).toBe(true);
  });
});

describe('listing a big map', () => {
  it('lets other work run while it formats, and runs one listing at a time', async () => {
    const { h } = ipcacheHive();
    await h.requireStart();
    const w = h.get(IpcacheWriter);
    for (let n = 0; n < 5_000; n++) {
      w.upsert({ prefix: `10.3.${n >> 8}.${n & 255}`, identity: 100, source: 'local' });
    }
    const registry = h.get(Maps);
    const caches = h.get(MapCaches);
    await eventually(() => (caches.cache('cellium_ipcache') ?? []).length >= 5_000);
    let ranBetween = false;
    setImmediate(() => (ranBetween = true));
    const listing = getMap(registry, caches, 'cellium_ipcache');
    expect(ranBetween).toBe(false);
    expect((await listing).cache).toHaveLength(5_000);
    expect(ranBetween).toBe(true);

    const order: string[] = [];
    const q = new DumpQueue();
    const slow = q.run(async () => {
      await new Promise((r) => setImmediate(r));
      order.push('first');
    });
    const fast = q.run(() => {
      order.push('second');
      return Promise.resolve();
    });
    const failing = q.run(() => Promise.reject(new Error('boom')));
    const after = q.run(() => {
      order.push('third');
      return Promise.resolve();
    });
    await Promise.all([slow, fast, failing.catch(() => undefined), after]);
    expect(order).toEqual(['first', 'second', 'third']);
  });
});
