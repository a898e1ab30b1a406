import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../core/api/index.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiServer } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { Ipam, ipamCell } from './index.js';
import { apiRequest } from '../../core/testing/api.js';

beforeAll(() => {
  process.env.CELLIUM_VALIDATE_RESPONSES = '1';
});
afterAll(() => {
  delete process.env.CELLIUM_VALIDATE_RESPONSES;
});

function ipamHive(flags: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-ipam-'));
  return testHive([apiCell, daemonCell, ipamCell], {
    flags: { 'socket-path': join(dir, 'api.sock'), ...flags },
  });
}

function call(
  h: ReturnType<typeof ipamHive>,
  method: string,
  path: string,
  headers: Record<string, string> = {},
) {
  return apiRequest(h.get(ApiServer).app, method, path, { headers });
}

describe('ipam cell', () => {
  it('answers POST /ipam like Cilium: address pair, per-family detail, host addressing', async () => {
    const h = ipamHive({
      'ipv4-range': '10.9.0.0/24',
      'enable-ipv6': true,
      'ipv6-range': 'fd00:9::/120',
    });
    const r = await call(h, 'POST', '/ipam?owner=default%2Fweb', { expiration: 'true' });
    expect(r.status).toBe(201);
    const body = r.body as Record<string, Record<string, unknown>>;
    expect(body.address).toMatchObject({ ipv4: '10.9.0.2', ipv6: 'fd00:9::2' });
    expect(body.address?.['ipv4-expiration-uuid']).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.ipv4).toMatchObject({
      ip: '10.9.0.2',
      gateway: '10.9.0.1',
      cidrs: ['10.9.0.0/24'],
    });
    expect(body['host-addressing']).toEqual({
      ipv4: { enabled: true, ip: '10.9.0.1', 'alloc-range': '10.9.0.0/24' },
      ipv6: { enabled: true, ip: 'fd00:9::1', 'alloc-range': 'fd00:9::/120' },
    });
    const v4only = await call(h, 'POST', '/ipam?family=ipv4&owner=a');
    expect(Object.keys((v4only.body as { address: object }).address)).toEqual(['ipv4']);
    expect((await call(h, 'POST', '/ipam?family=ipv5')).status).toBe(400);
  });

  it('allocates, conflicts, releases specific IPs with the documented statuses', async () => {
    const h = ipamHive({ 'ipv4-range': '10.9.0.0/24' });
    expect((await call(h, 'POST', '/ipam/10.9.0.77?owner=ns%2Fa')).status).toBe(200);
    expect(await call(h, 'POST', '/ipam/10.9.0.77?owner=ns%2Fb')).toEqual({
      status: 409,
      body: '10.9.0.77 is already allocated to ns/a',
    });
    expect((await call(h, 'POST', '/ipam/10.10.0.1')).status).toBe(400);
    expect(await call(h, 'POST', '/ipam/fd00::5')).toEqual({
      status: 400,
      body: 'IPv6 is disabled on this node (--enable-ipv6=false)',
    });
    expect(await call(h, 'POST', '/ipam/10.9.0.1')).toEqual({
      status: 400,
      body: '10.9.0.1 is the router (gateway) address of 10.9.0.0/24',
    });
    expect((await call(h, 'POST', '/ipam?family=ipv6')).status).toBe(400);
    expect((await call(h, 'DELETE', '/ipam/10.9.0.77')).status).toBe(200);
    expect(await call(h, 'DELETE', '/ipam/10.9.0.77')).toEqual({
      status: 404,
      body: '"10.9.0.77" is not allocated',
    });
    await call(h, 'POST', '/ipam/10.9.0.80?owner=ns%2Fc');
    await call(h, 'POST', '/ipam/10.9.0.81?owner=ns%2Fc');
    expect((await call(h, 'DELETE', '/ipam/ns%2Fc')).status).toBe(200);
    expect(h.get(Ipam).allocations()).toEqual({});
  });

  it('answers 502 naming the pool and its size when exhausted', async () => {
    const h = ipamHive({ 'ipv4-range': '10.9.0.0/30' });
    expect((await call(h, 'POST', '/ipam?owner=a')).status).toBe(201);
    expect(await call(h, 'POST', '/ipam?owner=b')).toEqual({
      status: 502,
      body: 'IPv4 pool 10.9.0.0/30 is exhausted: all 1 addresses are in use',
    });
  });

  it('never hands out an IP twice under concurrent requests over the socket', async () => {
    const h = ipamHive({ 'ipv4-range': '10.9.0.0/24' });
    await h.requireStart();
    const api = new ApiClient(h.get(ApiServer).socketPath);
    const replies = await Promise.allSettled(
      Array.from({ length: 260 }, (_, i) =>
        api.request<{ address: { ipv4: string } }>('POST', `/ipam?family=ipv4&owner=pod-${i}`),
      ),
    );
    api.close();
    const ips = replies.flatMap((r) => (r.status === 'fulfilled' ? [r.value.address.ipv4] : []));
    expect(ips).toHaveLength(253);
    expect(new Set(ips).size).toBe(253);
    const failures = replies.filter((r) => r.status === 'rejected');
    expect(failures).toHaveLength(7);
    expect(String((failures[0] as PromiseRejectedResult).reason)).toContain('502');
  });

  it('releases an IP allocated with expiration unless it is confirmed', async () => {
    const h = ipamHive({ 'ipv4-range': '10.9.0.0/24', 'ipam-expiration': '50ms' });
    const ipam = h.get(Ipam);
    const lapsed = await ipam.allocateNext('ipv4', 'ns/lapsed', { expiration: true });
    const kept = await ipam.allocateNext('ipv4', 'ns/kept', { expiration: true });
    ipam.claim(kept.ip, 'ns/kept');
    await eventually(() => !(lapsed.ip in ipam.allocations()));
    expect(ipam.allocations()).toEqual({ [kept.ip]: 'ns/kept' });
  });

  it('re-reserves restored IPs before serving any new allocation', async () => {
    const h = ipamHive({ 'ipv4-range': '10.9.0.0/24' });
    const ipam = h.get(Ipam);
    const done = ipam.holdAllocations('endpoint restore');
    const next = ipam.allocateNext('ipv4', 'ns/new');
    ipam.restore('10.9.0.2', 'ns/old');
    done();
    expect((await next).ip).toBe('10.9.0.3');
    expect(ipam.allocations()).toEqual({ '10.9.0.2': 'ns/old', '10.9.0.3': 'ns/new' });
  });

  it('shows allocations in /healthz and the mode and addressing in /config', async () => {
    const h = ipamHive({ 'ipv4-range': '10.9.0.0/24' });
    await call(h, 'POST', '/ipam/10.9.0.9?owner=ns%2Fweb');
    const health = (await call(h, 'GET', '/healthz')).body as { ipam: unknown };
    expect(health.ipam).toEqual({
      allocations: { '10.9.0.9': 'ns/web' },
      ipv4: ['10.9.0.9'],
      ipv6: [],
      status: '10.9.0.0/24: 1/253',
    });
    const cfg = (await call(h, 'GET', '/config')).body as { status: Record<string, unknown> };
    expect(cfg.status['ipam-mode']).toBe('cluster-pool');
    expect(cfg.status.addressing).toMatchObject({ ipv4: { enabled: true, ip: '10.9.0.1' } });
  });

  it('refuses an invalid pod CIDR before anything starts, naming the flag', () => {
    expect(() => ipamHive({ 'ipv4-range': '10.9.0.0/33' })).toThrow(
      "--ipv4-range: invalid value '10.9.0.0/33': prefix length must be 0 to 32",
    );
    expect(() => ipamHive({ 'ipv4-range': 'fd00:231:12::/120' })).toThrow(
      "--ipv4-range: invalid value 'fd00:231:12::/120' is not an IPv4 CIDR",
    );
  });
});
