import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../core/api/index.js';
import { HealthTree, type HealthRegistry } from '../../core/hive/index.js';
import { ApiServer } from '../api/index.js';
import { eventually } from '../../core/testing/test-hive.js';
import { IdentityAllocator } from '../identity/index.js';
import { Ipam } from '../ipam/index.js';
import { IpcacheTable } from '../ipcache/index.js';
import { StateDB } from '../statedb/index.js';
import { DatapathMaps, endpointKeyOf } from '../maps/index.js';
import {
  call,
  epHive,
  fuzzedEndpoint,
  persisted,
  request,
  writeFuzzedStates,
  writeStateFile,
  type EpHive,
} from './fixtures.js';
import { EndpointManager } from './index.js';
import { fakeVeth, MemoryLinks } from './links.memory.js';
import { owner, type PersistedEndpoint } from './model.js';
import { formatSplit, RestoreClock, type RestoreSplit } from './restore-split.js';

const stateDir = (h: EpHive) => join(h.dir, 'state', 'endpoints');
const quarantined = (h: EpHive) => {
  const q = join(h.dir, 'state', 'endpoints-quarantine');
  return existsSync(q)
    ? readdirSync(q)
        .map((n) => n.replace(/-\d{8}T\d+Z$/, ''))
        .sort()
    : [];
};

function writeState(h: EpHive, name: string, content: unknown): void {
  writeStateFile(stateDir(h), name, content);
}

function restoredHealth(h: EpHive): string {
  const s = h.get(HealthTree).get('endpoint.restore');
  return `${s?.level ?? '?'}: ${s?.message ?? ''}`;
}

/** The endpoint.restore health message once it carries the timing (woken by reports, no polling). */
function timedHealth(tree: HealthRegistry): Promise<{ level: string; message: string }> {
  const timed = (m: string | undefined): boolean => m?.includes(' after process start ') === true;
  const now = tree.get('endpoint.restore');
  if (now && timed(now.message)) return Promise.resolve(now);
  return new Promise((resolve) => {
    const sub = tree.updates$.subscribe((s) => {
      if (s.id !== 'endpoint.restore' || !timed(s.message)) return;
      sub.unsubscribe();
      resolve(s);
    });
  });
}

/** Every phase is there, none is negative, and together they take no more than the total. */
function expectConsistent(split: RestoreSplit | undefined): RestoreSplit {
  expect(split).toBeDefined();
  const s = split as RestoreSplit;
  const phases = [s.processStart, s.stateRead, s.ipamIdentity, s.maps, s.attach];
  for (const x of [...phases, s.total]) {
    expect(Number.isFinite(x)).toBe(true);
    expect(x).toBeGreaterThanOrEqual(0);
  }
  const sum = phases.reduce((a, b) => a + b, 0);
  expect(sum).toBeLessThanOrEqual(s.total);
  // Nothing goes missing: what the timed phases leave is counted to maps (0.1 ms rounding).
  expect(s.total - sum).toBeLessThan(0.6);
  // The process was running before restore started.
  expect(s.processStart).toBeGreaterThan(0);
  return s;
}

describe('endpoint restore', () => {
  it('quarantines state files that are invalid or conflict, restores the rest untouched', async () => {
    const first = epHive();
    await first.requireStart();
    for (const n of [1, 2, 3])
      expect((await call(first, 'PUT', '/endpoint/0', request(n))).status).toBe(201);
    const before = first
      .get(EndpointManager)
      .list()
      .map((e) => [e.id, e.ipv4, e.identity]);
    await first.requireStop();
    const h = epHive(first.dir);
    const good = JSON.parse(readFileSync(join(stateDir(h), '1', 'ep_state.json'), 'utf8')) as {
      endpoint: PersistedEndpoint;
    };
    // A wrong-typed interface name once reached if_nametoindex and crashed the agent.
    writeState(h, '10', { format: 1, endpoint: { ...persisted(10), ifName: 12345 } });
    // A corrupted identity once poisoned other endpoints' sec_id and identity allocation.
    writeState(h, '11', { format: 1, endpoint: { ...persisted(11), identity: 'abc' } });
    // A copy of endpoint 1 under another id: its IP conflicts.
    writeState(h, '12', { format: 1, endpoint: { ...good.endpoint, id: 12 } });
    writeState(h, '13', '{"format":1,"endpoint":{"id":13,');
    mkdirSync(join(h.dir, 'elsewhere'));
    symlinkSync(join(h.dir, 'elsewhere'), join(stateDir(h), '14'));
    mkdirSync(join(stateDir(h), '15'));
    symlinkSync(join(stateDir(h), '1', 'ep_state.json'), join(stateDir(h), '15', 'ep_state.json'));
    writeState(h, '16', { format: 1, endpoint: { ...persisted(16), ifName: 'lo' } });
    writeState(h, '17', { format: 1, endpoint: persisted(18) });
    // An address of the pod CIDR under external-ipam: IPAM would hand it out again.
    writeState(h, '18', { format: 1, endpoint: persisted(18, { externalIpam: true }) });
    await h.requireStart();
    const m = h.get(EndpointManager);
    await eventually(() => m.restoring() === undefined);
    expect(m.list().map((e) => [e.id, e.ipv4, e.identity])).toEqual(before);
    expect(quarantined(h)).toEqual(['10', '11', '12', '13', '14', '15', '16', '17', '18']);
    expect(existsSync(join(h.dir, 'elsewhere'))).toBe(true);
    expect(restoredHealth(h)).toMatch(
      /^degraded: 9 endpoint state files could not be restored and were moved to .*endpoints-quarantine: 10 \(state\.endpoint\.ifName must be string\)/,
    );
    // Identities are intact: restored endpoints keep theirs in the datapath, allocation works.
    await eventually(() => m.list().every((e) => e.state === 'ready'));
    expect(h.get(DatapathMaps).lxc.lookup(endpointKeyOf('10.9.0.11'))?.sec_id).toBe(256);
    const created = await call(h, 'PUT', '/endpoint/0', { ...request(4), labels: ['k8s:app=new'] });
    expect(created.status).toBe(201);
    expect(h.get(IdentityAllocator).get(256)?.labels).toContain('k8s:app=web');
  });

  it('holds IPAM and endpoint writes until restore is done, so a restored IP is never handed out', async () => {
    const first = epHive();
    await first.requireStart();
    expect((await call(first, 'PUT', '/endpoint/0', request(1))).status).toBe(201);
    await first.requireStop();
    const h = epHive(first.dir);
    // Both arrive before restore: they wait, then see the restored endpoint.
    const take = call(h, 'POST', '/ipam/10.9.0.11?owner=intruder');
    const put = call(h, 'PUT', '/endpoint/0', { ...request(2), addressing: { ipv4: '10.9.0.11' } });
    const health = await call(h, 'GET', '/healthz');
    expect(health.status).toBe(200);
    await h.requireStart();
    expect(await take).toEqual({
      status: 409,
      body: '10.9.0.11 is already allocated to default/pod1',
    });
    expect(await put).toEqual({ status: 409, body: '10.9.0.11 is already used by endpoint 1' });
    expect(
      h
        .get(EndpointManager)
        .list()
        .map((e) => e.ipv4),
    ).toEqual(['10.9.0.11']);
  });

  it('answers /healthz while restoring and reports not ready until every endpoint is back', async () => {
    const h = epHive(undefined, { flags: { 'ipv4-range': '10.9.0.0/16' } });
    const total = 3000;
    for (let id = 1; id <= total; id++)
      writeState(h, String(id), { format: 1, endpoint: persisted(id) });
    await h.requireStart();
    // Over the socket, as a client would: each answer takes a turn of the event loop.
    const api = new ApiClient(h.get(ApiServer).socketPath);
    const seen: string[] = [];
    while (h.get(EndpointManager).restoring()) {
      const r = await api.request<{ cilium: { msg: string } }>('GET', '/healthz');
      seen.push(r.cilium.msg);
    }
    api.close();
    expect(seen.some((msg) => /^not ready: restoring endpoints \(\d+ of 3000\)$/.test(msg))).toBe(
      true,
    );
    expect(h.get(EndpointManager).list()).toHaveLength(total);
    const after = await call(h, 'GET', '/healthz');
    expect((after.body.cilium as { msg: string }).msg).not.toMatch(/not ready/);
  });

  it('refuses a change whose state cannot be saved, naming the cause, and keeps everything as it was', async () => {
    const h = epHive();
    await h.requireStart();
    expect((await call(h, 'PUT', '/endpoint/0', request(1))).status).toBe(201);
    // The next endpoint's directory cannot be created: a file stands in its place.
    writeFileSync(join(stateDir(h), '2'), 'in the way');
    const put = await call(h, 'PUT', '/endpoint/0', request(2));
    expect(put.status).toBe(500);
    expect(put.body).toMatch(
      /^endpoint 2: its state could not be saved, nothing was changed: cannot create directory .*\/2: ENOTDIR/,
    );
    expect(
      h
        .get(EndpointManager)
        .list()
        .map((e) => e.id),
    ).toEqual([1]);
    expect(h.get(Ipam).allocations()).toEqual({ '10.9.0.11': 'default/pod1' });
    expect(h.get(HealthTree).get('endpoint.persistence')?.level).toBe('degraded');
    expect(readdirSync(stateDir(h)).filter((n) => n.includes('tmp'))).toEqual([]);
  });

  it('survives hundreds of randomly mutated state files: valid ones back, the rest quarantined', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 100000);
    console.log(`restore fuzz seed ${seed} (FUZZ_SEED=${seed} repeats it)`);
    const links = new MemoryLinks();
    links.addVeth('lxcfuzz1');
    const h = epHive(undefined, { flags: { 'ipv4-range': '10.9.0.0/16' }, links });
    const total = 300;
    const { expectValid, expectBad } = writeFuzzedStates(stateDir(h), {
      total,
      seed,
      veth: 'lxcfuzz1',
    });
    await h.requireStart();
    const m = h.get(EndpointManager);
    await eventually(() => m.restoring() === undefined);
    const restored = m.list();
    const q = quarantined(h);
    // Every file is accounted for: restored, quarantined, or removed because its veth is gone.
    // Every file is accounted for: restored, quarantined, removed (its veth is gone), or kept in
    // place because its address does not fit the flags (IPv6 is off, or outside 10.9.0.0/16).
    const restoredIds = new Set(restored.map((e) => e.id));
    for (const id of readdirSync(stateDir(h)).map(Number)) {
      if (restoredIds.has(id)) continue;
      const kept = JSON.parse(
        readFileSync(join(stateDir(h), String(id), 'ep_state.json'), 'utf8'),
      ) as { endpoint: PersistedEndpoint };
      const { ipv4, ipv6 } = kept.endpoint;
      expect(ipv6 !== '' || !ipv4.startsWith('10.9.'), `seed ${seed}, id ${id}`).toBe(true);
    }
    expect(restored.length + q.length).toBeLessThanOrEqual(total);
    for (const id of expectBad) expect(q, `seed ${seed}`).toContain(String(id));
    // A valid file is restored unless an earlier restored endpoint already has its IP or veth.
    for (const id of expectValid) {
      const ep = fuzzedEndpoint(id, 'lxcfuzz1');
      const clash = restored.find(
        (e) => e.id < id && (e.ipv4 === ep.ipv4 || (ep.ifName !== '' && e.ifName === ep.ifName)),
      );
      if (!clash)
        expect(
          restored.map((e) => e.id),
          `seed ${seed}, id ${id}`,
        ).toContain(id);
    }
    // What came back is exactly what the files say, and consistent.
    const ips = restored.map((e) => e.ipv4);
    expect(new Set(ips).size).toBe(ips.length);
    const alloc = h.get(Ipam).allocations();
    for (const e of restored) {
      const file = JSON.parse(
        readFileSync(join(stateDir(h), String(e.id), 'ep_state.json'), 'utf8'),
      ) as { endpoint: PersistedEndpoint };
      expect(file.endpoint.ipv4).toBe(e.ipv4);
      if (!e.externalIpam) expect(alloc[e.ipv4], `seed ${seed}`).toBe(owner(e));
    }
    // The agent still works.
    expect(
      (
        await call(h, 'PUT', '/endpoint/0', {
          ...request(1),
          addressing: { ipv4: '10.9.250.1' },
          'container-id': 'new',
        })
      ).status,
    ).toBe(201);
  });

  it('never prunes the datapath entries of endpoints not restored yet', async () => {
    const first = epHive(undefined, { flags: { 'ipv4-range': '10.9.0.0/16' } });
    const total = 2000;
    for (let id = 1; id <= total; id++) {
      writeState(first, String(id), { format: 1, endpoint: persisted(id) });
    }
    await first.requireStart();
    await eventually(() => first.get(DatapathMaps).lxc.count() === total);
    await first.requireStop();
    // Same state and the same (in-memory) pins: a restart of the agent.
    const h = epHive(first.dir, { flags: { 'ipv4-range': '10.9.0.0/16' } });
    await h.requireStart();
    const lxc = h.get(DatapathMaps).lxc;
    let lowest = lxc.count();
    while (h.get(EndpointManager).restoring()) {
      lowest = Math.min(lowest, lxc.count());
      await new Promise((r) => setImmediate(r));
    }
    await eventually(() =>
      h
        .get(EndpointManager)
        .list()
        .every((e) => e.state === 'ready'),
    );
    expect(lowest).toBe(total);
    expect(lxc.count()).toBe(total);
  });

  it('restores the rest when the kernel cannot be asked about a device, or a name is not one', async () => {
    const dir = epHive().dir;
    const links = new MemoryLinks();
    links.addVeth('lxcgood');
    const failing = Object.assign(Object.create(links) as MemoryLinks, {
      all: () => {
        throw new Error('netlink: ENOBUFS');
      },
      get: (name: string) => {
        if (name === 'lxcflaky') throw new Error('netlink: ETIMEDOUT');
        return links.get(name);
      },
    });
    const h = epHive(dir, { links: failing });
    writeState(h, '1', { format: 1, endpoint: persisted(1, { ifName: 'lxcgood' }) });
    writeState(h, '2', { format: 1, endpoint: persisted(2, { ifName: 'lxcflaky', ifIndex: 7 }) });
    writeState(h, '3', { format: 1, endpoint: persisted(3, { ifName: 'éééééééé' }) });
    writeState(h, '4', { format: 1, endpoint: persisted(4, { ifName: 'a\u0000b' }) });
    await h.requireStart();
    const m = h.get(EndpointManager);
    await eventually(() => m.restoring() === undefined);
    // The flaky one is kept as saved (regeneration will tell); bad names are quarantined.
    expect(m.list().map((e) => [e.id, e.ifName, e.ifIndex])).toEqual([
      [1, 'lxcgood', links.get('lxcgood')?.index],
      [2, 'lxcflaky', 7],
    ]);
    expect(quarantined(h)).toEqual(['3', '4']);
  });

  it('keeps writes refused when restore fails as a whole, and says why', async () => {
    const h = epHive();
    mkdirSync(join(h.dir, 'state'), { recursive: true });
    writeFileSync(join(h.dir, 'state', 'endpoints'), 'not a directory');
    await h.requireStart();
    const m = h.get(EndpointManager);
    await eventually(() => m.restoring()?.failed !== undefined);
    const health = await call(h, 'GET', '/healthz');
    expect((health.body.cilium as { msg: string }).msg).toMatch(
      /^not ready: endpoint restore failed, endpoint and IPAM writes are refused until a restart: .*ENOTDIR/,
    );
    const pending = h.get(Ipam).allocateNext('ipv4', 'x');
    const raced = await Promise.race([
      pending.then(() => 'allocated'),
      new Promise((r) => setTimeout(r, 50, 'held')),
    ]);
    expect(raced).toBe('held');
    pending.catch(() => undefined);
  });

  it('holds a batch delete until restore is done', async () => {
    const first = epHive();
    await first.requireStart();
    expect((await call(first, 'PUT', '/endpoint/0', request(1))).status).toBe(201);
    await first.requireStop();
    const h = epHive(first.dir);
    const del = call(h, 'DELETE', '/endpoint', { 'container-id': 'c1' });
    await h.requireStart();
    expect((await del).status).toBe(200);
    expect(h.get(EndpointManager).list()).toEqual([]);
  });

  it('keeps in place what does not fit the flags, or whose veths all vanished; drops dead leftovers', async () => {
    const first = epHive();
    await first.requireStart();
    first.links.addVeth('lxcw1');
    first.links.addVeth('lxcw2');
    expect(
      (await call(first, 'PUT', '/endpoint/0', { ...request(1), 'interface-name': 'lxcw1' }))
        .status,
    ).toBe(201);
    expect(
      (await call(first, 'PUT', '/endpoint/0', { ...request(2), 'interface-name': 'lxcw2' }))
        .status,
    ).toBe(201);
    expect((await call(first, 'PUT', '/endpoint/0', request(3))).status).toBe(201);
    await first.requireStop();
    // A create the agent died in (no state file yet), and a FIFO where a state file should be.
    mkdirSync(join(stateDir(first), '40'));
    mkdirSync(join(stateDir(first), '41'));
    execFileSync('mkfifo', [join(stateDir(first), '41', 'ep_state.json')]);
    // Started in another network namespace (no veths) and with another pod CIDR by mistake.
    const wrong = epHive(first.dir, { flags: { 'ipv4-range': '10.8.0.0/24' } });
    await wrong.requireStart();
    const m = wrong.get(EndpointManager);
    await eventually(() => m.restoring() === undefined);
    expect(m.list()).toEqual([]);
    expect(restoredHealth(wrong)).toMatch(
      /not restored, their state kept in place \(none of their interfaces exists here/,
    );
    expect(existsSync(join(stateDir(first), '40'))).toBe(false);
    expect(quarantined(wrong)).toEqual(['41']);
    await wrong.requireStop();
    // The same state with the right flags and devices: all back.
    const links = new MemoryLinks();
    links.links.set('lxcw1', { ...fakeVeth('lxcw1', first.links.get('lxcw1')?.index ?? 0) });
    links.links.set('lxcw2', { ...fakeVeth('lxcw2', first.links.get('lxcw2')?.index ?? 0) });
    const right = epHive(first.dir, { links });
    await right.requireStart();
    await eventually(() => right.get(EndpointManager).restoring() === undefined);
    expect(
      right
        .get(EndpointManager)
        .list()
        .map((e) => e.id),
    ).toEqual([1, 2, 3]);
    // The FIFO still waits in quarantine, and health says so across restarts.
    expect(restoredHealth(right)).toMatch(/^degraded: 1 earlier state files wait in/);
  });

  it('reports where the restart went (process start, state read, IPAM/identity, maps, attach) once all are reconciled', async () => {
    const h = epHive(undefined, { flags: { 'ipv4-range': '10.9.0.0/16' } });
    const total = 200;
    for (let id = 1; id <= total; id++)
      writeState(h, String(id), { format: 1, endpoint: persisted(id) });
    const health = timedHealth(h.get(HealthTree));
    await h.requireStart();
    const reported = await health;
    const m = h.get(EndpointManager);
    const split = expectConsistent(m.restoreClock()?.split);
    expect(split.endpoints).toBe(total);
    expect(split.stateRead).toBeGreaterThan(0);
    // In-memory maps: nothing is attached.
    expect(split.attach).toBe(0);
    expect(reported).toMatchObject({
      level: 'ok',
      message: `${total} endpoints restored, 0 removed; ${formatSplit(split)}`,
    });
    // Reported only once the reconcilers were through: every restored row is in the maps.
    expect(m.list().filter((e) => e.state === 'ready')).toHaveLength(total);
    const db = h.get(StateDB);
    const ipcache = [...h.get(IpcacheTable).all(db.readTxn())];
    expect(ipcache).toHaveLength(total);
    expect(ipcache.every((e) => e.status.kind === 'done')).toBe(true);
    expect(h.get(DatapathMaps).lxc.lookup(endpointKeyOf('10.9.0.201'))?.lxc_id).toBe(200);
  });

  it('reports the split with nothing to restore, and keeps a degraded restore degraded', async () => {
    const empty = epHive();
    const health = timedHealth(empty.get(HealthTree));
    await empty.requireStart();
    expect((await health).message).toMatch(
      /^0 endpoints restored, 0 removed; 0 endpoints reconciled/,
    );
    expect(expectConsistent(empty.get(EndpointManager).restoreClock()?.split).endpoints).toBe(0);
    await empty.requireStop();

    const h = epHive();
    writeState(h, '1', { format: 1, endpoint: persisted(1) });
    writeState(h, '2', '{"format":1,');
    const timed = timedHealth(h.get(HealthTree));
    await h.requireStart();
    const r = await timed;
    expect(r.level).toBe('degraded');
    expect(r.message).toMatch(
      /^1 endpoint state files could not be restored .*; 1 endpoints reconciled \d+ ms after process start \(process start \d+ ms, state read \d+ ms, IPAM\/identity \d+ ms, maps \d+ ms, attach \d+ ms\)$/,
    );
    expectConsistent(h.get(EndpointManager).restoreClock()?.split);
  });

  it('counts attach time to attach, not to maps, and nothing after it is finished', () => {
    const c = new RestoreClock();
    c.time('stateRead', () => undefined);
    const busy = (ms: number) => () => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    c.time('attach', busy(3));
    c.time('attach', busy(2));
    c.add('attach', -1);
    const s = expectConsistent(c.finish(3));
    expect(s.attach).toBeGreaterThanOrEqual(5);
    // Nothing but the attaches ran: maps, the rest, gets (almost) none of it.
    expect(s.maps).toBeLessThan(s.attach);
    c.add('attach', 100);
    expect(c.finish(3)).toBe(s);
    expect(c.split?.attach).toBe(s.attach);
  });
});
