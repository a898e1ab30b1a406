// The maps' health and log lines, with the cell's logic built without a hive.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  MapRegistry,
  MapType,
  memoryPin,
  openMemoryMap,
  unpinMemoryMaps,
} from '../../core/bpf/index.js';
import { HealthRegistry, type Hook } from '../../core/hive/index.js';
import type { MapsConfig } from './config.js';
import { endpointKeyOf } from './defs.js';
import { newDatapathMaps } from './maps.js';

function setup(config: Partial<MapsConfig> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'cellium-pressure-'));
  onTestFinished(() => {
    unpinMemoryMaps(root);
    rmSync(root, { recursive: true, force: true });
  });
  const lines: { level: number; msg: string; map?: string }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) },
  );
  const hooks: Hook[] = [];
  const health = new HealthRegistry();
  const maps = newDatapathMaps({
    config: {
      bpfRoot: join(root, 'bpf'),
      bpfBackend: 'memory',
      bpfLxcMapMax: 20,
      bpfIpcacheMapMax: 512000,
      bpfMetricsMapMax: 1024,
      bpfMapEventBuffers: '',
      bpfEventsRingSize: 4096,
      ...config,
    },
    registry: new MapRegistry(),
    lifecycle: { append: (h) => void hooks.push(h) },
    health: health.forPath('maps'),
    logger,
  });
  const start = async () => {
    for (const h of hooks) await h.onStart?.({ signal: new AbortController().signal });
  };
  const warnings = () => lines.filter((l) => l.level >= 40).map((l) => l.msg);
  return { root, maps, health, lines, warnings, start };
}

const info = {
  ifindex: 1,
  lxc_id: 1,
  flags: 0,
  mac: '02:00:00:00:00:02',
  node_mac: '02:00:00:00:00:01',
  sec_id: 1,
};

describe('map pressure', () => {
  it('warns once when a map crosses 90%, and says when it is below again', async () => {
    const t = setup();
    await t.start();
    const ips = Array.from({ length: 18 }, (_, i) => `10.0.0.${i + 1}`);
    for (const ip of ips) t.maps.lxc.update(endpointKeyOf(ip), info);
    await t.maps.checkPressure();
    await t.maps.checkPressure();
    expect(t.warnings()).toEqual([
      'map cellium_lxc is 90.0% full (18 of 20 entries); raise --bpf-lxc-map-max',
    ]);
    for (const ip of ips.slice(0, 3)) t.maps.lxc.delete(endpointKeyOf(ip));
    await t.maps.checkPressure();
    expect(t.lines.at(-1)?.msg).toBe(
      'map cellium_lxc is below 90.0% full again (15/20 entries (75.0%))',
    );
    expect(t.health.get('maps.cellium_lxc')).toMatchObject({
      level: 'ok',
      message: '15/20 entries (75.0%)',
    });
  });
});

describe('pins that cannot be migrated', () => {
  it('keeps the old map aside, logs an error naming both shapes, and degrades the map', async () => {
    const t = setup();
    // A pin left by an agent without BTF, with another value size: not understood.
    const pin = join(t.root, 'bpf', 'tc', 'globals', 'cellium_lxc');
    const shape = {
      name: 'cellium_lxc',
      type: MapType.Hash,
      keySize: 20,
      valueSize: 40,
      maxEntries: 100,
      flags: 0,
    };
    const old = openMemoryMap(shape, pin);
    old.update(Buffer.alloc(20, 1), Buffer.alloc(40, 2), 'any');
    await t.start();
    expect(t.maps.lxc.count()).toBe(0);
    expect(memoryPin(`${pin}_prev`)?.count()).toBe(1);
    const error = t.lines.find((l) => l.level === 50);
    expect(error?.map).toBe('cellium_lxc');
    expect(error?.msg).toBe(
      `map cellium_lxc at ${pin} cannot be migrated (it has no BTF describing its layout, and its key or value size changed): ` +
        `its 1 entries are kept in the old map, now pinned at ${pin}_prev; a new empty map took its place ` +
        '(was: hash key 20 B value 40 B max 100 flags 0; ' +
        'now: hash key 20 B value 48 B max 20 flags 0 (endpoint_key{ip:ip16@0,family:u8@16,key:u8@17,cluster_id:u16@18} → ' +
        'endpoint_info{ifindex:u32@0,lxc_id:u16@6,flags:u32@8,mac:mac64@16,node_mac:mac64@24,sec_id:u32@32}))',
    );
    const health = t.health.get('maps.cellium_lxc');
    expect(health?.level).toBe('degraded');
    expect(health?.message).toMatch(
      /^cellium_lxc: cannot be migrated \(.*\): its 1 entries are kept in the old map, now pinned at \S+_prev; a new empty map took its place \(sized by --bpf-lxc-map-max\); 0\/20 entries/,
    );
  });
});
