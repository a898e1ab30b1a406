import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiServer } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { identityCell } from '../identity/index.js';
import { DatapathMaps, ipcacheKeyOf, mapsCell } from '../maps/index.js';
import { statedbCell, StateDB } from '../statedb/index.js';
import { ipcacheCell, IpcacheTable, IpcacheWriter, normalizePrefix } from './index.js';

beforeAll(() => {
  process.env.CELLIUM_VALIDATE_RESPONSES = '1';
});
afterAll(() => {
  delete process.env.CELLIUM_VALIDATE_RESPONSES;
});

function ipcacheHive(root = mkdtempSync(join(tmpdir(), 'cellium-ipcache-'))) {
  return testHive([apiCell, statedbCell, identityCell, daemonCell, mapsCell, ipcacheCell], {
    flags: {
      'socket-path': join(root, `api-${Math.random()}.sock`),
      'bpf-backend': 'memory',
      'bpf-root': join(root, 'bpf'),
    },
  });
}

describe('prefixes', () => {
  it('normalizes IPs and CIDRs', () => {
    expect(normalizePrefix('10.0.0.5')).toBe('10.0.0.5/32');
    expect(normalizePrefix('10.0.0.77/24')).toBe('10.0.0.0/24');
    expect(normalizePrefix('fd00::1/64')).toBe('fd00::/64');
    expect(normalizePrefix('10.0.0.0/33')).toBeUndefined();
    expect(normalizePrefix('nope')).toBeUndefined();
  });
});

describe('ipcache cell', () => {
  it('reconciles entries into cellium_ipcache, and deletes them', async () => {
    const h = ipcacheHive();
    await h.requireStart();
    const w = h.get(IpcacheWriter);
    w.upsert({
      prefix: '10.0.0.5',
      identity: 1234,
      source: 'local',
      namespace: 'default',
      name: 'web',
    });
    w.upsert({ prefix: '192.168.0.0/16', identity: 2, source: 'generated' });
    const db = h.get(StateDB);
    const table = h.get(IpcacheTable);
    await eventually(() => [...table.all(db.readTxn())].every((e) => e.status.kind === 'done'));
    const map = h.get(DatapathMaps).ipcache;
    expect(map.lookup(ipcacheKeyOf('10.0.0.5/32'))?.sec_identity).toBe(1234);
    expect(map.lookup({ ...ipcacheKeyOf('192.168.3.4/32') })?.sec_identity).toBe(2); // longest prefix
    w.delete('10.0.0.5');
    await eventually(() => map.lookup(ipcacheKeyOf('10.0.0.5/32'))?.sec_identity !== 1234);
  });

  it('prunes prefixes left in the map by a previous run', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cellium-ipcache-'));
    const first = ipcacheHive(root);
    await first.requireStart();
    first.get(DatapathMaps).ipcache.update(ipcacheKeyOf('10.9.9.9/32'), {
      sec_identity: 99,
      tunnel_endpoint: '0.0.0.0',
      node_id: 0,
      key: 0,
      flags: 0,
    });
    await first.requireStop();
    const second = ipcacheHive(root);
    await second.requireStart();
    await eventually(() => second.get(DatapathMaps).ipcache.count() === 0);
  });

  it('lists entries with GET /ip, filtered by CIDR', async () => {
    const h = ipcacheHive();
    const w = h.get(IpcacheWriter);
    w.upsert({
      prefix: '10.0.0.5',
      identity: 1234,
      source: 'local',
      namespace: 'default',
      name: 'web',
    });
    w.upsert({ prefix: '10.1.0.0/16', identity: 2, source: 'generated' });
    const get = async (q: string) => {
      const res = await h.get(ApiServer).app.request(`/v1/ip${q}`);
      const body: unknown = await res.json();
      return { status: res.status, body };
    };
    expect((await get('?cidr=10.0.0.0/8')).body).toEqual([
      {
        cidr: '10.0.0.5/32',
        identity: 1234,
        encryptKey: 0,
        metadata: { source: 'local', namespace: 'default', name: 'web' },
      },
      { cidr: '10.1.0.0/16', identity: 2, encryptKey: 0, metadata: { source: 'generated' } },
    ]);
    expect((await get('?cidr=10.0.0.0/24')).body).toHaveLength(1);
    expect(await get('?cidr=172.16.0.0/12')).toEqual({
      status: 404,
      body: 'no ipcache entries within 172.16.0.0/12',
    });
    expect((await get('?cidr=banana')).status).toBe(400);
  });
});
