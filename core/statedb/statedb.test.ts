import { describe, expect, it } from 'vitest';
import { DB, RevisionMismatchError } from './index.js';

interface Pod {
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
}

function setup() {
  const db = new DB();
  const pods = db.newTable<Pod>({
    name: 'pods',
    primaryKey: (p) => `${p.ns}/${p.name}`,
    indexes: [
      { name: 'ip', key: (p) => p.ip, unique: true },
      { name: 'ns', key: (p) => p.ns, unique: false },
    ],
  });
  const nodes = db.newTable<{ name: string }>({ name: 'nodes', primaryKey: (n) => n.name });
  return { db, pods, nodes };
}

describe('statedb', () => {
  it('queries by primary, unique and non-unique indexes and prefix', () => {
    const { db, pods } = setup();
    db.update([pods], (w) => {
      w.insert(pods, { name: 'a', ns: 'default', ip: '10.0.0.1' });
      w.insert(pods, { name: 'b', ns: 'default', ip: '10.0.0.2' });
      w.insert(pods, { name: 'c', ns: 'kube-system', ip: '10.0.0.3' });
    });
    const r = db.readTxn();
    expect(pods.get(r, 'default/a')?.ip).toBe('10.0.0.1');
    expect(pods.getBy(r, 'ip', '10.0.0.3')?.name).toBe('c');
    expect(pods.listBy(r, 'ns', 'default').map((p) => p.name)).toEqual(['a', 'b']);
    expect(pods.prefix(r, 'kube').map((p) => p.name)).toEqual(['c']);
    expect(pods.count(r)).toBe(3);
  });

  it('keeps indexes right when an object changes', () => {
    const { db, pods } = setup();
    db.update([pods], (w) => w.insert(pods, { name: 'a', ns: 'x', ip: '10.0.0.1' }));
    db.update([pods], (w) => w.insert(pods, { name: 'a', ns: 'x', ip: '10.0.0.9' }));
    const r = db.readTxn();
    expect(pods.getBy(r, 'ip', '10.0.0.1')).toBeUndefined();
    expect(pods.getBy(r, 'ip', '10.0.0.9')?.name).toBe('a');
    expect(pods.listBy(r, 'ns', 'x')).toHaveLength(1);
  });

  it('commits across tables atomically, and a failed write changes nothing', () => {
    const { db, pods, nodes } = setup();
    db.update([pods, nodes], (w) => {
      w.insert(pods, { name: 'a', ns: 'x', ip: '10.0.0.1' });
      w.insert(nodes, { name: 'n1' });
    });
    const before = db.readTxn();
    expect(() =>
      db.update([pods, nodes], (w) => {
        w.insert(nodes, { name: 'n2' });
        w.insert(pods, { name: 'b', ns: 'x', ip: '10.0.0.2' });
        w.insert(pods, { name: 'c', ns: 'x', ip: '10.0.0.1' }); // unique index clash
      }),
    ).toThrow("unique index 'ip' already has key '10.0.0.1' (object 'x/a')");
    const after = db.readTxn();
    expect(nodes.count(after)).toBe(1);
    expect(pods.count(after)).toBe(1);
    expect(pods.revision(after)).toBe(pods.revision(before));
    // The tables were unlocked by the abort.
    db.update([pods], (w) => w.insert(pods, { name: 'b', ns: 'x', ip: '10.0.0.2' }));
  });

  it('gives readers a snapshot that later writes do not change', () => {
    const { db, pods } = setup();
    db.update([pods], (w) => w.insert(pods, { name: 'a', ns: 'x', ip: '1' }));
    const snap = db.readTxn();
    const w = db.writeTxn(pods);
    w.insert(pods, { name: 'b', ns: 'x', ip: '2' });
    w.deleteKey(pods, 'x/a');
    expect(pods.count(w)).toBe(1); // the writer sees its own writes
    expect(pods.get(db.readTxn(), 'x/a')).toBeDefined(); // others do not until commit
    w.commit();
    expect([...pods.all(snap)].map((p) => p.name)).toEqual(['a']);
    expect([...pods.all(db.readTxn())].map((p) => p.name)).toEqual(['b']);
  });

  it('freezes stored objects and rejects a second writer', () => {
    const { db, pods } = setup();
    const w = db.writeTxn(pods);
    const p = { name: 'a', ns: 'x', ip: '1' };
    w.insert(pods, p);
    expect(() => db.writeTxn(pods)).toThrow('table pods is locked by another write transaction');
    w.commit();
    expect(Object.isFrozen(p)).toBe(true);
  });

  it('compare-and-swap fails when the object moved on', () => {
    const { db, pods } = setup();
    db.update([pods], (w) => w.insert(pods, { name: 'a', ns: 'x', ip: '1' }));
    const rev = pods.getEntry(db.readTxn(), 'x/a')!.rev;
    db.update([pods], (w) => w.insert(pods, { name: 'a', ns: 'x', ip: '2' }));
    expect(() =>
      db.update([pods], (w) => w.compareAndSwap(pods, { name: 'a', ns: 'x', ip: '3' }, rev)),
    ).toThrow(RevisionMismatchError);
  });

  it('change iterators see each object once at its latest revision, deletions included, after many revisions', () => {
    const { db, pods } = setup();
    const it = pods.changes();
    expect(it.next(db.readTxn())).toEqual([]);
    for (let i = 0; i < 2000; i++) {
      db.update([pods], (w) => {
        w.insert(pods, { name: `p${i % 50}`, ns: 'x', ip: `ip-${i}` });
        if (i % 7 === 0) w.deleteKey(pods, `x/p${(i + 1) % 50}`);
      });
    }
    const changes = it.next(db.readTxn());
    const r = db.readTxn();
    const live = changes.filter((c) => !c.deleted).map((c) => c.object.name);
    const dead = changes.filter((c) => c.deleted).map((c) => c.object.name);
    expect(new Set(live)).toEqual(new Set([...pods.all(r)].map((p) => p.name)));
    expect(new Set([...live, ...dead]).size).toBe(live.length + dead.length); // once each
    for (const d of dead) expect(pods.get(r, `x/${d}`)).toBeUndefined();
    const revs = changes.map((c) => c.revision);
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
    expect(it.next(db.readTxn())).toEqual([]);
  });

  it('forgets deletions once every iterator has seen them', () => {
    const { db, pods } = setup();
    db.update([pods], (w) => w.insert(pods, { name: 'a', ns: 'x', ip: '1' }));
    const it = pods.changes();
    it.next(db.readTxn());
    db.update([pods], (w) => w.deleteKey(pods, 'x/a'));
    expect(pods.state.graveyard.size).toBe(1);
    expect(it.next(db.readTxn()).map((c) => c.deleted)).toEqual([true]);
    db.update([pods], (w) => w.insert(pods, { name: 'b', ns: 'x', ip: '2' }));
    expect(pods.state.graveyard.size).toBe(0);
    it.close();
    db.update([pods], (w) => w.deleteKey(pods, 'x/b'));
    expect(pods.state.graveyard.size).toBe(0);
  });

  it('streams changes as an observable, first everything then per commit', () => {
    const { db, pods } = setup();
    db.update([pods], (w) => w.insert(pods, { name: 'a', ns: 'x', ip: '1' }));
    const batches: string[][] = [];
    const sub = pods
      .observe()
      .subscribe((b) => batches.push(b.map((c) => `${c.deleted ? '-' : '+'}${c.object.name}`)));
    db.update([pods], (w) => w.insert(pods, { name: 'b', ns: 'x', ip: '2' }));
    db.update([pods], (w) => w.deleteKey(pods, 'x/a'));
    sub.unsubscribe();
    db.update([pods], (w) => w.insert(pods, { name: 'c', ns: 'x', ip: '3' }));
    expect(batches).toEqual([['+a'], ['+b'], ['-a']]);
  });

  it('is initialized once every registered initializer is done', () => {
    const { db, pods } = setup();
    const done = db.update([pods], (w) => w.registerInitializer(pods, 'k8s-sync'));
    expect(pods.initialized(db.readTxn())).toBe(false);
    db.update([pods], (w) => done(w));
    expect(pods.initialized(db.readTxn())).toBe(true);
  });
});
