import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { StateWriteError } from '../../core/atomic-file.js';
import { eventually } from '../../core/testing/test-hive.js';
import { IdentityAllocator } from '../identity/index.js';
import { Ipam } from '../ipam/index.js';
import { DatapathMaps, endpointKeyOf, ipcacheKeyOf } from '../maps/index.js';
import { call, epHive, request, type EpHive } from './fixtures.js';
import { EndpointManager } from './index.js';
import { fakeVeth } from './links.memory.js';
import { EndpointStore } from './store.js';

beforeAll(() => {
  process.env.CELLIUM_VALIDATE_RESPONSES = '1';
});
afterAll(() => {
  delete process.env.CELLIUM_VALIDATE_RESPONSES;
});

describe('endpoint cell', () => {
  it('creates an endpoint: IP confirmed, identity, lxc and ipcache entries, ready when built', async () => {
    const h = epHive();
    await h.requireStart();
    const ipam = h.get(Ipam);
    const a = await ipam.allocateNext('ipv4', 'default/pod1', { expiration: true });
    const ifindex = h.links.addVeth('lxcpod1');
    const put = await call(h, 'PUT', '/endpoint/cilium-local:0', {
      ...request(1),
      'interface-name': 'lxcpod1',
      'interface-index': ifindex,
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
      ifindex,
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
    expect(outside.body).toContain("192.168.1.1 is not in this node's pod CIDR 10.9.0.0/24");
    expect(await call(h, 'PUT', '/endpoint/0', { ...request(4), mac: 'zz' })).toEqual({
      status: 400,
      body: "mac: 'zz' is not a MAC address",
    });
    expect(await call(h, 'GET', '/endpoint/bogus-prefix:1')).toMatchObject({ status: 400 });
    expect(await call(h, 'GET', '/endpoint/99')).toEqual({
      status: 404,
      body: 'endpoint "99" not found',
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

  it('restores endpoints after a restart with the same IPs and identities, removing those whose veth is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-ep-'));
    const first = epHive(dir);
    await first.requireStart();
    first.links.addVeth('lxc-gone0');
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
    // A new hive on the same state: the third endpoint's veth is gone (its pod was deleted).
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

describe('endpoint cell: hardening', () => {
  it('rolls a failed synchronous create back to what the client is told, at once', async () => {
    // cellium_lxc holds one entry: the second endpoint cannot be built (map full, E2BIG). The
    // sync timeout is long: the create must fail because the failure is permanent, not time out.
    const h = epHive(undefined, {
      flags: { 'bpf-lxc-map-max': 1, 'endpoint-sync-timeout': '10m' },
    });
    await h.requireStart();
    const ipam = h.get(Ipam);
    const ids = h.get(IdentityAllocator);
    expect((await call(h, 'PUT', '/endpoint/0', request(1))).status).toBe(201);
    const a = await ipam.allocateNext('ipv4', 'default/pod2', { expiration: true });
    const put = await call(h, 'PUT', '/endpoint/0', { ...request(2), addressing: { ipv4: a.ip } });
    expect(put.status).toBe(500);
    expect(put.body).toMatch(/endpoint 2 could not be built: .*cellium_lxc is full/);
    // Nothing half-done: no endpoint, no state file, the IP is the client's again (still
    // expiring), identity references as before; the CNI plugin's release then frees it.
    expect(
      h
        .get(EndpointManager)
        .list()
        .map((e) => e.id),
    ).toEqual([1]);
    expect(existsSync(join(h.dir, 'state', 'endpoints', '2'))).toBe(false);
    expect(ipam.get(a.ip)).toMatchObject({
      owner: 'default/pod2',
      expirationUuid: a.expirationUuid,
    });
    expect(ids.refCount(256)).toBe(1);
    expect((await call(h, 'DELETE', `/ipam/${a.ip}`)).status).toBe(200);
    expect(ipam.get(a.ip)).toBeUndefined();
  });

  it('writes a dual-stack endpoint to cellium_lxc all or nothing', async () => {
    const h = epHive(undefined, {
      flags: {
        'bpf-lxc-map-max': 1,
        'enable-ipv6': true,
        'ipv6-range': 'fd00:9::/112',
        'endpoint-sync-timeout': '10m',
      },
    });
    await h.requireStart();
    const put = await call(h, 'PUT', '/endpoint/0', {
      ...request(1),
      addressing: { ipv4: '10.9.0.11', ipv6: 'fd00:9::11' },
    });
    expect(put.status).toBe(500);
    expect(put.body).toMatch(/cellium_lxc is full/);
    expect(h.get(DatapathMaps).lxc.count()).toBe(0);
    expect(h.get(Ipam).allocations()).toEqual({});
  });

  it('keeps IPAM the only owner of addresses: PATCH claims and frees, delete frees only its own', async () => {
    const h = epHive();
    await h.requireStart();
    const ipam = h.get(Ipam);
    const id = (await call(h, 'PUT', '/endpoint/0', request(1))).body.id as number;
    // An endpoint's IP cannot be released behind its back, nor taken by another client.
    expect(await call(h, 'DELETE', '/ipam/10.9.0.11')).toMatchObject({ status: 409 });
    expect(await call(h, 'POST', '/ipam/10.9.0.11?owner=x')).toMatchObject({ status: 409 });
    // PATCH to an address someone else holds: refused, nothing changes.
    await ipam.allocateIp('10.9.0.50', 'default/other');
    const stolen = await call(h, 'PATCH', `/endpoint/${id}`, {
      state: 'waiting-for-identity',
      addressing: { ipv4: '10.9.0.50' },
    });
    expect(stolen.status).toBe(409);
    expect(stolen.body).toMatch(/^addressing: 10\.9\.0\.50 is allocated to default\/other/);
    expect(h.get(EndpointManager).find({ kind: 'cilium-local', id })?.ipv4).toBe('10.9.0.11');
    // PATCH to a free address: IPAM hands it to the endpoint and frees the old one.
    const moved = await call(h, 'PATCH', `/endpoint/${id}`, {
      state: 'waiting-for-identity',
      addressing: { ipv4: '10.9.0.60' },
    });
    expect(moved.status).toBe(200);
    expect(ipam.allocations()).toEqual({
      '10.9.0.50': 'default/other',
      '10.9.0.60': 'default/pod1',
    });
    await eventually(
      () => h.get(DatapathMaps).lxc.lookup(endpointKeyOf('10.9.0.11')) === undefined,
    );
    expect(
      await call(h, 'PATCH', `/endpoint/${id}`, { state: 'ready', 'k8s-pod-name': 'x' }),
    ).toEqual({
      status: 400,
      body: "k8s-pod-name: cannot change from 'pod1' to 'x' (delete the endpoint and create it again)",
    });
    // Deleting frees the endpoint's own IP, never another owner's.
    expect((await call(h, 'DELETE', `/endpoint/${id}`)).status).toBe(200);
    expect(ipam.allocations()).toEqual({ '10.9.0.50': 'default/other' });
  });

  it('checks ids, interfaces and addresses, answering 4xx that name the field', async () => {
    const h = epHive(undefined, { flags: { 'ipv4-range': '10.9.0.0/24' } });
    await h.requireStart();
    const veth = h.links.addVeth('lxcok');
    const put = (extra: Record<string, unknown>, path = '/endpoint/0') =>
      call(h, 'PUT', path, { ...request(1), ...extra });
    expect(await put({ 'interface-name': 'lo' })).toEqual({
      status: 400,
      body: "interface-name: 'lo' is the loopback device, not a pod's veth",
    });
    expect((await put({ 'interface-name': 'eth0' })).body).toMatch(
      /^interface-name: 'eth0' is a physical device, not a veth/,
    );
    expect((await put({ 'interface-name': 'nope0' })).body).toBe(
      "interface-name: no interface named 'nope0' exists on this node",
    );
    expect((await put({ 'interface-name': 'a/b' })).body).toMatch(
      /^interface-name: "a\/b" is not a valid interface name/,
    );
    expect(await put({ 'interface-name': 'lxcok', 'interface-index': veth + 1 })).toEqual({
      status: 400,
      body: `interface-index: ${veth + 1} is not the index of interface-name 'lxcok' (${veth})`,
    });
    expect((await put({ 'interface-index': 7 })).body).toBe(
      'interface-index: 7 is given without an interface-name',
    );
    for (const id of [70000, -3]) {
      expect((await put({ id })).body).toMatch(/^invalid request: body\.id must be [<>]=/);
    }
    expect((await put({}, '/endpoint/70000')).status).toBe(400);
    expect((await put({ 'interface-index': 2 ** 31 })).status).toBe(400);
    expect(await put({ addressing: { ipv4: '10.9.0.1' } })).toEqual({
      status: 400,
      body: 'addressing.ipv4: 10.9.0.1 is the router (gateway) address of 10.9.0.0/24',
    });
    expect((await put({ addressing: { ipv4: '10.9.0.0' } })).body).toMatch(/network address/);
    expect((await put({ addressing: { ipv4: '10.9.0.255' } })).body).toMatch(/broadcast address/);
    expect(await put({ addressing: { ipv6: 'fd00::5' } })).toEqual({
      status: 400,
      body: 'addressing.ipv6: IPv6 is disabled on this node (--enable-ipv6=false)',
    });
    // Every id prefix is served: cep-name is the pod's endpoint name.
    expect((await put({ 'interface-name': 'lxcok' })).status).toBe(201);
    expect((await call(h, 'GET', '/endpoint/cep-name:default:pod1')).status).toBe(200);
    expect((await call(h, 'GET', '/endpoint/cep-name:default%2Fnope')).status).toBe(404);
    // One endpoint per host interface.
    expect(
      await put({
        'interface-name': 'lxcok',
        'container-id': 'c9',
        addressing: { ipv4: '10.9.0.99' },
      }),
    ).toEqual({
      status: 409,
      body: 'interface-name: lxcok is already used by endpoint 1',
    });
  });

  it('refuses what a restart could not restore, and external IPs that belong to IPAM', async () => {
    const h = epHive(undefined, { flags: { 'enable-ipv6': true, 'ipv6-range': 'fd00:9::/112' } });
    await h.requireStart();
    const long = await call(h, 'PUT', '/endpoint/0', {
      ...request(1),
      labels: ['k8s:a=' + 'x'.repeat(2000)],
    });
    expect(long.status).toBe(400);
    expect(long.body).toMatch(
      /^invalid request: body\.labels\.0 must NOT have more than 1024 characters/,
    );
    expect((await call(h, 'PUT', '/endpoint/0', request(1))).status).toBe(201);
    expect(
      await call(h, 'PATCH', '/endpoint/1', { state: 'ready', addressing: { ipv4: '' } }),
    ).toEqual({ status: 400, body: 'addressing: an endpoint needs an IPv4 or IPv6 address' });
    const ext = (n: number, addressing: Record<string, string>) =>
      call(h, 'PUT', '/endpoint/0', {
        ...request(n),
        addressing,
        'datapath-configuration': { 'external-ipam': true },
      });
    expect((await ext(2, { ipv4: '10.9.0.50' })).body).toBe(
      "addressing.ipv4: 10.9.0.50 is in this node's pod CIDR 10.9.0.0/24: it comes from IPAM, not external-ipam",
    );
    // Another spelling of the same address is the same address.
    expect((await ext(3, { ipv6: 'fd00:5::1' })).status).toBe(201);
    expect(await ext(4, { ipv6: 'fd00:5:0::1' })).toEqual({
      status: 409,
      body: 'fd00:5::1 is already used by endpoint 2',
    });
  });

  it('keeps a failed synchronous create whose state cannot be removed, with its IPs', async () => {
    const h = epHive(undefined, {
      flags: { 'bpf-lxc-map-max': 1, 'endpoint-sync-timeout': '10m' },
    });
    await h.requireStart();
    expect((await call(h, 'PUT', '/endpoint/0', request(1))).status).toBe(201);
    const remove = vi.spyOn(EndpointStore.prototype, 'remove').mockImplementation(() => {
      throw new StateWriteError(
        '/state/endpoints/2',
        'remove',
        Object.assign(new Error(), { code: 'EROFS' }),
      );
    });
    onTestFinished(() => {
      remove.mockRestore();
    });
    expect((await call(h, 'PUT', '/endpoint/0', request(2))).status).toBe(500);
    // On disk it is still there, so it stays (not ready) and keeps its IP: a restart brings it back.
    expect(
      h
        .get(EndpointManager)
        .list()
        .map((e) => e.id),
    ).toEqual([1, 2]);
    expect(h.get(Ipam).get('10.9.0.12')).toMatchObject({ owner: 'default/pod2', inUse: true });
    expect(await call(h, 'DELETE', '/ipam/10.9.0.12')).toMatchObject({ status: 409 });
  });

  it('refuses labels a client must not set, zoned addresses, and a second name for a device', async () => {
    const h = epHive();
    await h.requireStart();
    const put = (extra: Record<string, unknown>) =>
      call(h, 'PUT', '/endpoint/0', { ...request(1), ...extra });
    expect(await put({ labels: ['reserved:host'] })).toEqual({
      status: 400,
      body: `labels.0: "reserved:host": reserved labels are the agent's`,
    });
    expect(await put({ labels: ['k8s:a=b', ' '] })).toEqual({
      status: 400,
      body: 'labels.1: a label cannot be blank',
    });
    expect((await put({ addressing: { ipv6: 'fd00::1%eth0' } })).body).toMatch(
      /^addressing\.ipv6: 'fd00::1%eth0' is not an IPv6 address/,
    );
    // Label sets that would share a key if joined with ';' are two identities.
    expect((await put({ labels: ['k8s:app=web;k8s:role=admin'] })).status).toBe(201);
    const two = await call(h, 'PUT', '/endpoint/0', {
      ...request(2),
      labels: ['k8s:app=web', 'k8s:role=admin'],
    });
    const ids = h
      .get(EndpointManager)
      .list()
      .map((e) => e.identity);
    expect(two.status).toBe(201);
    expect(new Set(ids).size).toBe(2);
    // An altname finds the device under its own name: one device, one endpoint.
    const index = h.links.addVeth('lxcreal');
    h.links.links.set('podalias', fakeVeth('lxcreal', index));
    expect(
      (await call(h, 'PUT', '/endpoint/0', { ...request(3), 'interface-name': 'lxcreal' })).status,
    ).toBe(201);
    expect(
      await call(h, 'PUT', '/endpoint/0', { ...request(4), 'interface-name': 'podalias' }),
    ).toEqual({
      status: 409,
      body: 'interface-name: lxcreal is already used by endpoint 3',
    });
    expect(
      (await call(h, 'PATCH', '/endpoint/1/labels', { user: ['reserved:world'] })).status,
    ).toBe(400);
  });
});

describe('endpoint cell: options and regeneration on request', () => {
  type Log = { state: string; message: string; code: string }[];
  const revisions = async (h: EpHive, id: number) => {
    const ep = (await call(h, 'GET', `/endpoint/${id}`)).body as {
      status: { policy: { spec: Record<string, number>; realized: Record<string, number> } };
    };
    return [ep.status.policy.spec['policy-revision'], ep.status.policy.realized['policy-revision']];
  };
  const log = async (h: EpHive, id: number) =>
    (await call(h, 'GET', `/endpoint/${id}/log`)).body as unknown as Log;

  it('regenerates on PATCH .../config {}: the datapath rewritten, logged, the revision bumped', async () => {
    const h = epHive();
    await h.requireStart();
    expect((await call(h, 'PUT', '/endpoint/0', request(1))).status).toBe(201);
    expect(await revisions(h, 1)).toEqual([1, 1]);
    const maps = h.get(DatapathMaps);
    const key = endpointKeyOf('10.9.0.11');
    maps.lxc.delete(key); // lost behind the agent's back: a regeneration writes it again
    const before = (await log(h, 1)).length;
    expect(await call(h, 'PATCH', '/endpoint/1/config', {})).toMatchObject({ status: 200 });
    expect(maps.lxc.lookup(key)).toMatchObject({ lxc_id: 1, sec_id: 256 });
    const entries = (await log(h, 1)).slice(before);
    expect(entries.map((e) => [e.state, e.message])).toEqual([
      [
        'waiting-to-regenerate',
        'Triggering endpoint regeneration due to endpoint was manually regenerated via API',
      ],
      ['regenerating', 'Regenerating endpoint: endpoint was manually regenerated via API'],
      [
        'ready',
        'Completed endpoint regeneration with no pending regeneration requests (endpoint map written, revision 2)',
      ],
    ]);
    expect(await revisions(h, 1)).toEqual([2, 2]);
    expect((await call(h, 'PATCH', '/endpoint/1/config', {})).status).toBe(200);
    expect(await revisions(h, 1)).toEqual([3, 3]);
    expect(await call(h, 'PATCH', '/endpoint/9/config', {})).toEqual({
      status: 404,
      body: 'endpoint "cilium-local:9" not found',
    });
  });

  it("takes Cilium's option names and values; Debug puts that endpoint's regeneration steps in its log", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-ep-'));
    const h = epHive(dir);
    await h.requireStart();
    await call(h, 'PUT', '/endpoint/0', request(1));
    await call(h, 'PUT', '/endpoint/0', request(2));
    const patch = (id: number, options: Record<string, string>) =>
      call(h, 'PATCH', `/endpoint/${id}/config`, { options });
    expect(await patch(1, { Debug: '1' })).toMatchObject({ status: 200 });
    const cfg = (await call(h, 'GET', '/endpoint/1/config')).body as {
      realized: { options: Record<string, string> };
      immutable: Record<string, string>;
    };
    expect(cfg.realized.options).toEqual({ Debug: 'Enabled' });
    expect(cfg.immutable).toMatchObject({
      DropNotification: 'Enabled',
      PolicyAuditMode: 'Disabled',
      MonitorAggregationLevel: 'Medium',
    });
    expect(await revisions(h, 1)).toEqual([2, 2]);
    const debug = (l: Log) =>
      l.filter((e) => e.message.startsWith('debug: ')).map((e) => e.message);
    expect(debug(await log(h, 1))).toEqual([
      'debug: lxc entries written for 10.9.0.11 (identity 256, ifindex 0)',
    ]);
    // The other endpoint is not in debug mode: its regeneration logs no steps.
    await call(h, 'PATCH', '/endpoint/2/config', {});
    expect(debug(await log(h, 2))).toEqual([]);
    // The same value again, in another spelling: nothing to do, no regeneration.
    expect(await patch(1, { debug: 'true' })).toMatchObject({ status: 200 });
    expect(await revisions(h, 1)).toEqual([2, 2]);
    expect(await patch(1, { DEBUG: 'off' })).toMatchObject({ status: 200 });
    expect(await revisions(h, 1)).toEqual([3, 3]);
    expect(debug(await log(h, 1))).toHaveLength(1);
    // Refusals name the option and what it accepts, and change nothing.
    expect(await patch(1, { Debug: 'maybe' })).toEqual({
      status: 400,
      body: "options: option Debug: invalid value 'maybe' (accepted: true, on, enable, enabled, 1, false, off, disable, disabled, 0)",
    });
    expect(await patch(1, { Bogus: '1' })).toMatchObject({ status: 400 });
    expect((await patch(1, { Bogus: '1' })).body).toMatch(
      /^options: unknown option 'Bogus' \(known: .*Debug/,
    );
    expect(await patch(1, { dropnotification: 'Disabled' })).toMatchObject({ status: 400 });
    expect((await patch(1, { dropnotification: 'Disabled' })).body).toMatch(
      /option DropNotification is read-only .*not switchable/,
    );
    expect(await patch(1, { MonitorAggregationLevel: 'none' })).toMatchObject({ status: 400 });
    expect(await revisions(h, 1)).toEqual([3, 3]);
    await patch(2, { Debug: 'Enabled' });
    await h.requireStop();
    // Options are persisted: a restart brings them back.
    const again = epHive(dir);
    await again.requireStart();
    const m = again.get(EndpointManager);
    await eventually(() => m.list().length === 2 && m.list().every((e) => e.state === 'ready'));
    const opts = async (id: number) =>
      (
        (await call(again, 'GET', `/endpoint/${id}/config`)).body.realized as Record<
          string,
          unknown
        >
      ).options;
    expect(await opts(1)).toEqual({ Debug: 'Disabled' });
    expect(await opts(2)).toEqual({ Debug: 'Enabled' });
  });
});
