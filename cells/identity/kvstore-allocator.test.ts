// Cluster-wide identities against a real etcd (Debian's etcd, started per test): each "node" is
// a hive of the kvstore and identity cells with its own node name.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { expect, it, onTestFinished } from 'vitest';
import { apiRequest } from '../../core/testing/api.js';
import { HealthTree } from '../../core/hive/index.js';
import { kernelSuite } from '../../core/testing/kernel.js';
import { eventually, testHive, type TestHive } from '../../core/testing/test-hive.js';
import { startEtcd, tcpProxy } from '../../test/support/etcd.js';
import { apiCell, ApiServer } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { KVStore, kvstoreCell } from '../kvstore/index.js';
import { IdentityAllocator, IdentityUnavailableError, type IdentityChange } from './allocator.js';
import { identityCell } from './cell.js';
import { KvstoreIdentityAllocator } from './kvstore-allocator.js';
import { ID_PREFIX, idKey, labelString, valueKey, valuePrefix } from './kvstore-keys.js';

/** A started node: the kvstore and identity cells against `endpoint`, named `name`. */
async function node(
  endpoint: string,
  name: string,
  flags: Record<string, unknown> = {},
): Promise<TestHive> {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-ident-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const h = testHive([apiCell, daemonCell, kvstoreCell, identityCell], {
    flags: {
      'node-name': name,
      'socket-path': join(dir, 'api.sock'),
      'state-dir': join(dir, 'state'),
      kvstore: 'etcd',
      'kvstore-opt': `etcd.address=${endpoint}`,
      'kvstore-lease-ttl': '5s',
      ...flags,
    },
  });
  return h.requireStart();
}

const ids = (h: TestHive) => h.get(IdentityAllocator);
const kv = (h: TestHive) => h.get(KVStore);
const lsOf = (...labels: string[]) => labelString([...labels].sort());

/** The nodes holding a slave key for a label string, with the id each says. */
async function slaves(h: TestHive, ls: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, v] of await kv(h).list(valuePrefix(ls))) out[k.slice(valuePrefix(ls).length)] = v;
  return out;
}

kernelSuite('identities in etcd', { root: false, commands: ['etcd'] }, () => {
  it("gives the same labels the same id on two nodes; each sees the other's identities", async () => {
    const etcd = await startEtcd();
    const a = await node(etcd.endpoint, 'n1');
    const b = await node(etcd.endpoint, 'n2');
    const seen: IdentityChange[] = [];
    const sub = ids(b).changes$.subscribe((c) => seen.push(c));
    onTestFinished(() => sub.unsubscribe());
    const x = await ids(a).allocate(['k8s:app=web']);
    expect(x.id).toBeGreaterThanOrEqual(256);
    expect(x.id).toBeLessThanOrEqual(65535);
    expect((await ids(b).allocate(['k8s:app=web'])).id).toBe(x.id);
    expect(await slaves(a, lsOf('k8s:app=web'))).toEqual({ n1: `${x.id}`, n2: `${x.id}` });
    expect(await kv(a).get(idKey(x.id))).toBe('k8s:app=web;');
    // Reserved identities never touch the kvstore.
    expect((await ids(a).allocate(['reserved:host'])).id).toBe(1);
    // A's identity reaches B's cache, list(), changes$ and API; B holds no reference to it.
    const z = await ids(a).allocate(['k8s:app=db']);
    await eventually(() => ids(b).get(z.id)?.labels.join() === 'k8s:app=db');
    expect(
      ids(b)
        .list()
        .map((i) => i.id),
    ).toContain(z.id);
    expect(seen).toContainEqual({ kind: 'upsert', identity: ids(b).get(z.id) });
    expect(ids(b).refCount(z.id)).toBe(0);
    const api = (path: string) => apiRequest(b.get(ApiServer).app, 'GET', path);
    expect((await api(`/identity/${z.id}`)).body).toMatchObject({ labels: ['k8s:app=db'] });
    const local = (await api('/identity/endpoints')).body as { identity: { id: number } }[];
    expect(local.map((e) => e.identity.id)).toEqual([x.id]);
    expect(ids(a).range).toEqual({ min: 256, max: 65535 });
  });

  it('converges on one id when three nodes allocate the same new labels at once (20 sets)', async () => {
    const etcd = await startEtcd();
    const nodes = await Promise.all(['n1', 'n2', 'n3'].map((n) => node(etcd.endpoint, n)));
    const sets = Array.from({ length: 20 }, (_, i) => [`k8s:app=c${i}`, 'k8s:tier=x']);
    const got = await Promise.all(
      sets.map((labels) => Promise.all(nodes.map((n) => ids(n).allocate(labels)))),
    );
    for (const [i, per] of got.entries()) {
      expect(new Set(per.map((p) => p.id)).size, `set ${i}`).toBe(1);
    }
    expect(new Set(got.map((per) => per[0]?.id)).size).toBe(20);
    expect((await kv(nodes[0]!).list(ID_PREFIX)).size).toBe(20);
    for (const labels of sets) {
      expect(Object.keys(await slaves(nodes[0]!, lsOf(...labels))).sort()).toEqual([
        'n1',
        'n2',
        'n3',
      ]);
    }
  });

  it('drops the references of a node that goes away; GC deletes what nobody uses, only that', async () => {
    const etcd = await startEtcd();
    const a = await node(etcd.endpoint, 'n1', { 'identity-gc-interval': '200ms' });
    const b = await node(etcd.endpoint, 'n2');
    const shared = await ids(a).allocate(['k8s:app=shared']);
    await ids(b).allocate(['k8s:app=shared']);
    const onlyB = await ids(b).allocate(['k8s:app=b']);
    // A dead node's reference: a slave key on a lease nobody keeps alive.
    const raw = new Etcd3({ hosts: etcd.endpoint });
    onTestFinished(() => raw.close());
    const ghost = 60_000;
    await raw.put(idKey(ghost)).value('k8s:app=ghost;');
    await raw
      .lease(2, { autoKeepAlive: false })
      .put(valueKey('k8s:app=ghost;', 'n9'))
      .value(`${ghost}`);
    await eventually(() => ids(a).get(onlyB.id) && ids(a).get(ghost));
    const seen: IdentityChange[] = [];
    const sub = ids(a).changes$.subscribe((c) => seen.push(c));
    onTestFinished(() => sub.unsubscribe());
    await b.requireStop(); // its session revoked: its slave keys go at once
    expect(await slaves(a, lsOf('k8s:app=shared'))).toEqual({ n1: `${shared.id}` });
    expect(await slaves(a, lsOf('k8s:app=b'))).toEqual({});
    await eventually(async () => (await kv(a).get(idKey(onlyB.id))) === undefined);
    await eventually(async () => (await kv(a).get(idKey(ghost))) === undefined);
    expect(await kv(a).get(idKey(shared.id))).toBe('k8s:app=shared;');
    await eventually(() => !ids(a).get(onlyB.id) && !ids(a).get(ghost));
    expect(
      seen
        .filter((c) => c.kind === 'delete')
        .map((c) => c.identity.id)
        .sort(),
    ).toEqual([onlyB.id, ghost].sort());
    // Released here too: nobody uses it, so it goes.
    expect(ids(a).release(shared)).toBe(true);
    await eventually(async () => (await kv(a).get(idKey(shared.id))) === undefined);
  });

  it('restores the saved ids after a kill: no new master keys, the slave keys taken again', async () => {
    const etcd = await startEtcd();
    const proxy = await tcpProxy(etcd.endpoint);
    const before = await node(proxy.endpoint, 'n1');
    const sets = Array.from({ length: 5 }, (_, i) => [`k8s:app=r${i}`]);
    const saved = await Promise.all(sets.map((l) => ids(before).allocate(l)));
    const raw = new Etcd3({ hosts: etcd.endpoint });
    onTestFinished(() => raw.close());
    const leaseOf = async (ls: string) =>
      (await raw.get(valueKey(ls, 'n1')).exec()).kvs[0]?.lease.toString();
    const oldLease = await leaseOf(lsOf('k8s:app=r0'));
    expect(oldLease).toBeDefined();
    const masters = (await raw.getAll().prefix(ID_PREFIX).strings()) as Record<string, string>;
    proxy.cut(); // as kill -9: the old session's keys stay until its lease runs out
    const after = await node(etcd.endpoint, 'n1');
    const restored = sets.map((l, i) => ids(after).restore(l, saved[i]!.id));
    expect(restored.map((r) => r.id)).toEqual(saved.map((s) => s.id));
    for (const labels of sets) {
      await eventually(async () => {
        const lease = await leaseOf(lsOf(...labels));
        return lease !== undefined && lease !== oldLease;
      });
    }
    expect(await raw.getAll().prefix(ID_PREFIX).strings()).toEqual(masters);
    expect(
      ids(after)
        .list()
        .filter((i) => !i.reserved),
    ).toHaveLength(5);
    // A label set restored twice is one identity with two references.
    expect(ids(after).restore(sets[0]!, saved[0]!.id).id).toBe(saved[0]!.id);
    expect(ids(after).refCount(saved[0]!.id)).toBe(2);
  });

  it('keeps a restored id the cluster disagrees with, and says so in health naming the labels', async () => {
    const etcd = await startEtcd();
    const a = await node(etcd.endpoint, 'n1');
    const taken = await ids(a).allocate(['k8s:app=other']);
    const web = await ids(a).allocate(['k8s:app=web']);
    const b = await node(etcd.endpoint, 'n2');
    // Saved while the cluster was another one: web's id is someone else's, db's labels have one.
    expect(ids(b).restore(['k8s:app=web2'], taken.id).id).toBe(taken.id);
    expect(ids(b).restore(['k8s:app=web'], 4000).id).toBe(4000);
    const health = () => JSON.stringify(b.get(HealthTree).all());
    const alloc = ids(b);
    if (!(alloc instanceof KvstoreIdentityAllocator)) throw new Error('not the kvstore allocator');
    const conflicts = alloc.conflicted();
    await eventually(() => conflicts.size === 2);
    expect(health()).toMatch(
      new RegExp(
        `endpoints with labels k8s:app=web2;: identity ${taken.id} holds other labels in the cluster \\(k8s:app=other;\\) \\(and 1 more\\)`,
      ),
    );
    expect(conflicts.get('k8s:app=web;')).toBe(
      `the cluster also has these labels as identity ${web.id}`,
    );
    // Nothing of the cluster's was overwritten.
    expect(await kv(a).get(idKey(taken.id))).toBe('k8s:app=other;');
    expect(await slaves(a, 'k8s:app=web2;')).toEqual({});
  });

  it('while etcd is down: known labels get their id, new ones fail naming the kvstore; back up: nothing duplicated', async () => {
    const etcd = await startEtcd();
    const flags = { 'kvstore-connectivity-timeout': '1s' };
    const a = await node(etcd.endpoint, 'n1', flags);
    const b = await node(etcd.endpoint, 'n2', flags);
    const mine = await ids(a).allocate(['k8s:app=mine']);
    const theirs = await ids(b).allocate(['k8s:app=theirs']);
    await eventually(() => ids(a).get(theirs.id));
    await etcd.stop();
    expect((await ids(a).allocate(['k8s:app=mine'])).id).toBe(mine.id);
    expect((await ids(a).allocate(['k8s:app=theirs'])).id).toBe(theirs.id);
    const fresh = ids(a).allocate(['k8s:app=new']);
    await expect(fresh).rejects.toBeInstanceOf(IdentityUnavailableError);
    await expect(fresh).rejects.toThrow(/^no identity for k8s:app=new;: the kvstore \(etcd\) /);
    await etcd.restart();
    await eventually(
      async () => (await slaves(a, lsOf('k8s:app=theirs')))['n1'] === `${theirs.id}`,
    );
    expect(await slaves(a, lsOf('k8s:app=theirs'))).toEqual({
      n1: `${theirs.id}`,
      n2: `${theirs.id}`,
    });
    expect(await slaves(a, lsOf('k8s:app=mine'))).toEqual({ n1: `${mine.id}` });
    expect([...(await kv(a).list(ID_PREFIX)).values()].sort()).toEqual([
      'k8s:app=mine;',
      'k8s:app=theirs;',
    ]);
    // And new labels allocate again.
    expect((await ids(a).allocate(['k8s:app=new'])).id).toBeGreaterThanOrEqual(256);
  });
  it('takes no reference for a caller whose signal aborted, even for labels the cluster knows', async () => {
    const etcd = await startEtcd();
    const a = await node(etcd.endpoint, 'n1');
    const b = await node(etcd.endpoint, 'n2');
    const theirs = await ids(b).allocate(['k8s:app=theirs']);
    await eventually(() => ids(a).get(theirs.id));
    // etcd hangs (not refused): the kvstore still says Ok while A's call waits on it.
    etcd.pause();
    onTestFinished(() => etcd.resume());
    expect(kv(a).status().state).toBe('Ok');
    const ac = new AbortController();
    const call = ids(a).allocate(['k8s:app=theirs'], ac.signal);
    ac.abort();
    await expect(call).rejects.toThrow(/cancelled by the caller/);
    expect(ids(a).refCount(theirs.id)).toBe(0);
  });
});
