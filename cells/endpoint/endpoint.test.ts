import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiServer } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { IdentityAllocator, identityCell } from '../identity/index.js';
import { ipamCell, Ipam } from '../ipam/index.js';
import { ipcacheCell } from '../ipcache/index.js';
import { DatapathMaps, endpointKeyOf, ipcacheKeyOf, mapsCell } from '../maps/index.js';
import { statedbCell } from '../statedb/index.js';
import { endpointCell, EndpointManager } from './index.js';
import { apiRequest } from '../../core/testing/api.js';

beforeAll(() => {
  process.env.CELLIUM_VALIDATE_RESPONSES = '1';
});
afterAll(() => {
  delete process.env.CELLIUM_VALIDATE_RESPONSES;
});

const cells = [
  apiCell,
  statedbCell,
  daemonCell,
  mapsCell,
  ipamCell,
  identityCell,
  ipcacheCell,
  endpointCell,
];

function epHive(dir = mkdtempSync(join(tmpdir(), 'cellium-ep-'))) {
  return testHive(cells, {
    flags: {
      'socket-path': join(dir, `api-${Math.random().toString(16).slice(2)}.sock`),
      'state-dir': join(dir, 'state'),
      'bpf-backend': 'memory',
      'bpf-root': join(dir, 'bpf'),
      'ipv4-range': '10.9.0.0/24',
    },
  });
}

async function call(h: ReturnType<typeof epHive>, method: string, path: string, body?: unknown) {
  const r = await apiRequest(h.get(ApiServer).app, method, path, { body });
  return { status: r.status, body: r.body as Record<string, unknown> };
}

function request(n: number, extra: Record<string, unknown> = {}) {
  return {
    'container-id': `c${n}`,
    'k8s-namespace': 'default',
    'k8s-pod-name': `pod${n}`,
    'interface-name': '',
    'interface-index': 10 + n,
    mac: `02:00:00:00:00:0${n}`,
    'host-mac': '02:00:00:00:00:ff',
    addressing: { ipv4: `10.9.0.${10 + n}` },
    labels: ['k8s:app=web'],
    state: 'waiting-for-identity',
    'sync-build-endpoint': true,
    ...extra,
  };
}

describe('endpoint cell', () => {
  it('creates an endpoint: IP confirmed, identity, lxc and ipcache entries, ready when built', async () => {
    const h = epHive();
    await h.requireStart();
    const ipam = h.get(Ipam);
    const a = await ipam.allocateNext('ipv4', 'default/pod1', { expiration: true });
    const put = await call(h, 'PUT', '/endpoint/cilium-local:0', {
      ...request(1),
      addressing: { ipv4: a.ip },
    });
    expect(put.status).toBe(201);
    const ep = put.body as unknown as {
      id: number;
      status: { state: string; identity: { id: number } };
    };
    expect(ep.status.state).toBe('ready');
    expect(ep.status.identity.id).toBe(256);
    const maps = h.get(DatapathMaps);
    expect(maps.lxc.lookup(endpointKeyOf(a.ip))).toMatchObject({
      lxc_id: ep.id,
      ifindex: 11,
      sec_id: 256,
    });
    await eventually(() => maps.ipcache.lookup(ipcacheKeyOf(a.ip))?.sec_identity === 256);
    expect(ipam.allocations()[a.ip]).toBe('default/pod1');
    const byContainer = await call(h, 'GET', '/endpoint/container-id:c1');
    expect(byContainer.body.id).toBe(ep.id);
    const byPod = await call(h, 'GET', '/endpoint/pod-name:default:pod1');
    expect(byPod.body.id).toBe(ep.id);
    const log = (await call(h, 'GET', `/endpoint/${ep.id}/log`)).body as unknown as {
      state: string;
    }[];
    expect(log.map((l) => l.state)).toEqual([
      'waiting-for-identity',
      'waiting-to-regenerate',
      'regenerating',
      'ready',
    ]);
    expect((await call(h, 'GET', `/endpoint/${ep.id}/healthz`)).body).toMatchObject({
      overallHealth: 'OK',
    });
  });

  it('rejects invalid and conflicting requests with clear errors', async () => {
    const h = epHive();
    await h.requireStart();
    expect((await call(h, 'PUT', '/endpoint/0', request(1))).status).toBe(201);
    expect(await call(h, 'PUT', '/endpoint/0', request(1))).toMatchObject({ status: 409 });
    expect(
      await call(h, 'PUT', '/endpoint/0', { ...request(2), addressing: { ipv4: '10.9.0.11' } }),
    ).toEqual({
      status: 409,
      body: '10.9.0.11 is already used by endpoint 1',
    });
    const outside = await call(h, 'PUT', '/endpoint/0', {
      ...request(3),
      addressing: { ipv4: '192.168.1.1' },
    });
    expect(outside.status).toBe(400);
    expect(outside.body).toContain("192.168.1.1 is not in this node's pod CIDRs");
    expect(await call(h, 'PUT', '/endpoint/0', { ...request(4), mac: 'zz' })).toEqual({
      status: 400,
      body: "mac: 'zz' is not a MAC address",
    });
    expect(await call(h, 'GET', '/endpoint/bogus-prefix:1')).toMatchObject({ status: 400 });
    expect(await call(h, 'GET', '/endpoint/99')).toEqual({
      status: 404,
      body: 'endpoint 99 not found',
    });
  });

  it('changes identity with user labels, and frees everything on delete', async () => {
    const h = epHive();
    await h.requireStart();
    const id = ((await call(h, 'PUT', '/endpoint/0', request(1))).body as unknown as { id: number })
      .id;
    expect(
      (await call(h, 'PATCH', `/endpoint/${id}/labels`, { user: ['app=special'] })).status,
    ).toBe(200);
    const ids = h.get(IdentityAllocator);
    const ep = h.get(EndpointManager).find({ kind: 'cilium-local', id })!;
    expect(ids.get(ep.identity)?.labels).toContain('unspec:app=special');
    expect(ids.refCount(256)).toBe(0);
    expect((await call(h, 'DELETE', `/endpoint/${id}`)).status).toBe(200);
    expect(h.get(Ipam).allocations()).toEqual({});
    expect(ids.refCount(ep.identity)).toBe(0);
    await eventually(() => h.get(DatapathMaps).lxc.count() === 0);
    expect((await call(h, 'DELETE', `/endpoint/${id}`)).status).toBe(404);
  });

  it('restores endpoints after a restart with the same IPs and identities, skipping corrupt state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-ep-'));
    const first = epHive(dir);
    await first.requireStart();
    await call(first, 'PUT', '/endpoint/0', request(1));
    await call(first, 'PUT', '/endpoint/0', { ...request(2), labels: ['k8s:app=db'] });
    await call(first, 'PUT', '/endpoint/0', { ...request(3), 'interface-name': 'lxc-gone0' });
    const before = first
      .get(EndpointManager)
      .list()
      .map((e) => [e.id, e.ipv4, e.identity]);
    await first.requireStop();
    mkdirSync(join(dir, 'state', 'endpoints', '77'), { recursive: true });
    writeFileSync(join(dir, 'state', 'endpoints', '77', 'ep_state.json'), '{ not json');
    const second = epHive(dir);
    await second.requireStart();
    const m = second.get(EndpointManager);
    await eventually(() => m.list().length === 2 && m.list().every((e) => e.state === 'ready'));
    expect(m.list().map((e) => [e.id, e.ipv4, e.identity])).toEqual(before.slice(0, 2));
    // The restart pruned only the vanished endpoint's ipcache entry, never a restored one's.
    const deleted = second
      .get(DatapathMaps)
      .ipcache.recentEvents()
      .filter((e) => e.action === 'delete')
      .map((e) => e.key.ip);
    expect(deleted).toEqual(['10.9.0.13']);
    expect(second.get(Ipam).allocations()).toEqual({
      '10.9.0.11': 'default/pod1',
      '10.9.0.12': 'default/pod2',
    });
    // A new allocation never gets an IP in use.
    const next = await second.get(Ipam).allocateNext('ipv4', 'default/new');
    expect(['10.9.0.11', '10.9.0.12']).not.toContain(next.ip);
  });
});
