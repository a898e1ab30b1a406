import { onTestFinished, expect, it } from 'vitest';
import { newRootLogger } from '../../core/hive/index.js';
import { kernelSuite } from '../../core/testing/kernel.js';
import { eventually } from '../../core/testing/test-hive.js';
import { startEtcd, tcpProxy } from '../../test/support/etcd.js';
import { EtcdStore } from './etcd.js';
import type { KVEvent, KVStoreStatus } from './kvstore.js';

const logger = newRootLogger({ silent: true });
let seq = 0;

/** A started store on `endpoint`, stopped (lease revoked) when the test finishes. */
function store(endpoint: string, opts: { ttlMs?: number; timeoutMs?: number } = {}): EtcdStore {
  const s = new EtcdStore({
    target: { endpoints: [endpoint] },
    leaseTtlMs: opts.ttlMs ?? 60_000,
    connectivityTimeoutMs: opts.timeoutMs ?? 60_000,
    logger,
    probeIntervalMs: 200,
  });
  s.start();
  onTestFinished(() => s.stop(1000));
  return s;
}

/** A prefix no other test uses. */
function prefix(): string {
  return `cellium/test/${process.pid}/${++seq}/`;
}

/** Collects a watch's events and counts its onSynced calls. */
function recorder(): {
  events: KVEvent[];
  synced: number;
  onEvent(e: KVEvent): void;
  onSynced(): void;
} {
  const r = {
    events: [] as KVEvent[],
    synced: 0,
    onEvent: (e: KVEvent) => void r.events.push(e),
    onSynced: () => void r.synced++,
  };
  return r;
}

kernelSuite('kvstore against a real etcd', { root: false, commands: ['etcd'] }, () => {
  it('puts, gets, lists, creates and deletes keys', async () => {
    const etcd = await startEtcd();
    const kv = store(etcd.endpoint);
    const p = prefix();
    await kv.put(`${p}a`, '1');
    await kv.put(`${p}b`, '2');
    expect(await kv.get(`${p}a`)).toBe('1');
    expect(await kv.get(`${p}missing`)).toBeUndefined();
    expect(await kv.list(p)).toEqual(
      new Map([
        [`${p}a`, '1'],
        [`${p}b`, '2'],
      ]),
    );
    expect(await kv.create(`${p}a`, 'x')).toBe(false);
    expect(await kv.create(`${p}c`, '3')).toBe(true);
    expect(await kv.get(`${p}a`)).toBe('1');
    expect(await kv.deleteIfValue(`${p}a`, 'other')).toBe(false);
    expect(await kv.deleteIfValue(`${p}a`, '1')).toBe(true);
    await kv.delete(`${p}b`);
    await kv.delete(`${p}never-there`);
    expect([...(await kv.list(p)).keys()]).toEqual([`${p}c`]);
  });

  it('leased keys vanish for others when the lease is revoked (stop) or expires (agent gone)', async () => {
    const etcd = await startEtcd();
    const other = store(etcd.endpoint);
    const p = prefix();
    const a = store(etcd.endpoint);
    await a.put(`${p}a`, 'A', { lease: true });
    expect(await a.create(`${p}a2`, 'A', { lease: true })).toBe(true);
    await a.put(`${p}plain`, 'P');
    expect(a.sessionKeys).toEqual(
      new Map([
        [`${p}a`, 'A'],
        [`${p}a2`, 'A'],
      ]),
    );
    await a.stop();
    expect([...(await other.list(p)).keys()]).toEqual([`${p}plain`]);

    const b = store(etcd.endpoint, { ttlMs: 5000 });
    await b.put(`${p}b`, 'B', { lease: true });
    expect(await other.get(`${p}b`)).toBe('B');
    await b.abandon();
    await eventually(async () => (await other.get(`${p}b`)) === undefined, 30_000);
  });

  it('writes its keys again under a new lease when the old one is lost, once each', async () => {
    const etcd = await startEtcd();
    const proxy = await tcpProxy(etcd.endpoint);
    const other = store(etcd.endpoint);
    const p = prefix();
    const r = recorder();
    const w = other.watch(p, r);
    await w.waitSynced();
    const a = store(proxy.endpoint, { ttlMs: 5000 });
    await a.put(`${p}a`, '1', { lease: true });
    await a.create(`${p}b`, '2', { lease: true });
    await a.put(`${p}c`, '3', { lease: true });
    await a.delete(`${p}c`);
    const first = a.session.current;
    // Cut off longer than the TTL: etcd expires the lease and deletes the keys.
    proxy.cut();
    await eventually(() => r.events.filter((e) => e.kind === 'delete').length === 3, 30_000);
    expect(a.status().state).toBe('Failure');
    proxy.heal();
    await eventually(async () => (await other.list(p)).size === 2, 30_000);
    expect(a.session.current).not.toBe(first);
    expect(await other.list(p)).toEqual(
      new Map([
        [`${p}a`, '1'],
        [`${p}b`, '2'],
      ]),
    );
    await eventually(() => a.status().state === 'Ok');
    // Each key: written, deleted at expiry, written again — and nothing more.
    const byKey = (k: string): string[] => r.events.filter((e) => e.key === k).map((e) => e.kind);
    expect(byKey(`${p}a`)).toEqual(['upsert', 'delete', 'upsert']);
    expect(byKey(`${p}b`)).toEqual(['upsert', 'delete', 'upsert']);
    expect(byKey(`${p}c`)).toEqual(['upsert', 'delete']);
  });

  it('re-writes its keys when the lease is revoked by someone else', async () => {
    const etcd = await startEtcd();
    const a = store(etcd.endpoint);
    const other = store(etcd.endpoint);
    const p = prefix();
    await a.put(`${p}k`, 'v', { lease: true });
    const id = a.session.current ?? '';
    await other.conn.client.leaseClient.leaseRevoke({ ID: id });
    await eventually(async () => a.session.current !== id && (await other.get(`${p}k`)) === 'v');
  });

  it('keeps its keys across an etcd restart longer than the TTL', async () => {
    const etcd = await startEtcd();
    const a = store(etcd.endpoint, { ttlMs: 5000 });
    const p = prefix();
    await a.put(`${p}k`, 'v', { lease: true });
    await etcd.stop();
    await eventually(() => a.status().state === 'Failure');
    await new Promise((r) => setTimeout(r, 6000));
    await etcd.restart();
    await eventually(() => a.status().state === 'Ok', 30_000);
    const other = store(etcd.endpoint);
    await eventually(async () => (await other.get(`${p}k`)) === 'v', 30_000);
    expect(await other.list(p)).toEqual(new Map([[`${p}k`, 'v']]));
  });

  it('watches: the initial listing, then each event in order', async () => {
    const etcd = await startEtcd();
    const kv = store(etcd.endpoint);
    const p = prefix();
    await kv.put(`${p}a`, '1');
    await kv.put(`cellium/other/${seq}`, 'not under the prefix');
    const r = recorder();
    const w = kv.watch(p, r);
    await w.waitSynced();
    expect(w.synced).toBe(true);
    expect(r.events).toEqual([{ kind: 'upsert', key: `${p}a`, value: '1' }]);
    expect(r.synced).toBe(1);
    await kv.put(`${p}b`, '2');
    await kv.put(`${p}a`, '3');
    await kv.delete(`${p}b`);
    await eventually(() => r.events.length === 4);
    expect(r.events.slice(1)).toEqual([
      { kind: 'upsert', key: `${p}b`, value: '2' },
      { kind: 'upsert', key: `${p}a`, value: '3' },
      { kind: 'delete', key: `${p}b`, value: '2' },
    ]);
    w.stop();
    await kv.put(`${p}c`, '4');
    await expect(w.waitSynced()).resolves.toBeUndefined();
    expect(r.events).toHaveLength(4);
  });

  it('a watch resumes after an etcd restart: every event once, in order', async () => {
    const etcd = await startEtcd();
    const a = store(etcd.endpoint);
    const p = prefix();
    await a.put(`${p}0`, 'before');
    const r = recorder();
    await a.watch(p, r).waitSynced();
    await a.put(`${p}1`, 'one');
    await eventually(() => r.events.length === 2);
    await etcd.restart();
    const b = store(etcd.endpoint);
    for (let i = 2; i < 6; i++) await b.put(`${p}${i}`, `v${i}`);
    await b.delete(`${p}0`);
    await eventually(() => r.events.length === 7, 30_000);
    expect(r.events).toEqual([
      { kind: 'upsert', key: `${p}0`, value: 'before' },
      { kind: 'upsert', key: `${p}1`, value: 'one' },
      { kind: 'upsert', key: `${p}2`, value: 'v2' },
      { kind: 'upsert', key: `${p}3`, value: 'v3' },
      { kind: 'upsert', key: `${p}4`, value: 'v4' },
      { kind: 'upsert', key: `${p}5`, value: 'v5' },
      { kind: 'delete', key: `${p}0`, value: 'before' },
    ]);
    expect(r.synced).toBe(1);
  });

  it('a watch whose revision was compacted while away lists again and delivers the difference', async () => {
    const etcd = await startEtcd();
    const proxy = await tcpProxy(etcd.endpoint);
    const a = store(proxy.endpoint);
    const b = store(etcd.endpoint);
    const p = prefix();
    await b.put(`${p}keep`, 'k');
    await b.put(`${p}gone`, 'g');
    await b.put(`${p}changed`, 'old');
    const r = recorder();
    await a.watch(p, r).waitSynced();
    expect(r.events).toHaveLength(3);
    proxy.cut();
    await b.delete(`${p}gone`);
    await b.put(`${p}changed`, 'new');
    await b.put(`${p}new`, 'n');
    await b.put(`${p}temp`, 't');
    await b.delete(`${p}temp`);
    const head = await b.conn.client.kv.range({ key: Buffer.from(p) });
    await b.conn.client.kv.compact({ revision: head.header.revision, physical: true });
    proxy.heal();
    await eventually(() => r.synced === 2, 30_000);
    const after = r.events.slice(3);
    expect(after).toHaveLength(3);
    expect(after).toEqual(
      expect.arrayContaining([
        { kind: 'delete', key: `${p}gone`, value: 'g' },
        { kind: 'upsert', key: `${p}changed`, value: 'new' },
        { kind: 'upsert', key: `${p}new`, value: 'n' },
      ]),
    );
    // And it follows again from the listing's revision.
    await b.put(`${p}later`, 'l');
    await eventually(() => r.events.length === 7);
    expect(r.events[6]).toEqual({ kind: 'upsert', key: `${p}later`, value: 'l' });
  });

  it('a lock excludes a second store until it is released', async () => {
    const etcd = await startEtcd();
    const a = store(etcd.endpoint);
    const b = store(etcd.endpoint);
    const path = `${prefix()}lock`;
    const la = await a.lock(path);
    let got = false;
    const lb = b.lock(path).then((l) => {
      got = true;
      return l;
    });
    // b is still waiting after a round trip of its own.
    await b.get(path);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toBe(false);
    await la.unlock();
    const held = await lb;
    expect(got).toBe(true);
    const ac = new AbortController();
    const third = a.lock(path, ac.signal);
    ac.abort();
    await expect(third).rejects.toThrow(/aborted/);
    await held.unlock();
    await (await a.lock(path)).unlock();
  });

  it('status: Ok, Failure while etcd is away, Ok again; calls wait for it', async () => {
    const etcd = await startEtcd();
    const a = store(etcd.endpoint, { timeoutMs: 60_000 });
    const seen: KVStoreStatus[] = [];
    a.status$.subscribe((s) => seen.push(s));
    await eventually(() => a.status().state === 'Ok');
    const lease = a.session.hex ?? '';
    expect(a.status().msg).toBe(
      `etcd: 1/1 connected, lease-ID=${lease}, has-quorum=true: ${etcd.endpoint} - 3.4.23`,
    );
    await etcd.stop();
    await eventually(() => a.status().state === 'Failure');
    expect(a.status().msg).toContain(`etcd: 0/1 connected`);
    expect(a.status().msg).toContain(etcd.endpoint);
    const waiting = a.put(`${prefix()}k`, 'v');
    await etcd.restart();
    await waiting;
    await eventually(() => a.status().state === 'Ok');
    expect(seen.map((s) => s.state)).toEqual(expect.arrayContaining(['Ok', 'Failure']));
  });

  it('a call fails after the connectivity timeout, naming the kvstore and its endpoints', async () => {
    const etcd = await startEtcd();
    const a = store(etcd.endpoint, { timeoutMs: 1000 });
    await etcd.stop();
    await expect(a.get('x')).rejects.toThrow(
      new RegExp(`kvstore etcd \\(${etcd.endpoint}\\): get x: etcd unreachable`),
    );
  });
});
