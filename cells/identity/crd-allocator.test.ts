// The CRD allocator's logic against in-memory reflected tables and a small in-process stand-in
// for the CiliumIdentity API (a map of objects whose watch events the test delivers when it
// wants, so races are reproduced exactly). The same scenarios against the API server double
// and the real client are in test/k8s-identity.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { HealthRegistry, newRootLogger } from '../../core/hive/index.js';
import { DB } from '../../core/statedb/index.js';
import { K8sDisabledError, type CiliumIdentityObject } from '../k8s/index.js';
import { newMemoryK8sResources, type MemoryK8sResources } from '../k8s/resources.memory.js';
import { IdentityUnavailableError, type IdentityChange } from './allocator.js';
import { CrdIdentityAllocator, type CiliumIdentityStore } from './crd-allocator.js';
import { identityObject } from './crd-labels.js';

/** CiliumIdentity objects by name; each agent's table sees changes when they are delivered. */
class FakeServer {
  readonly objects = new Map<string, CiliumIdentityObject>();
  readonly calls: string[] = [];
  private readonly agents: MemoryK8sResources[] = [];
  private pending: (() => void)[] = [];
  /** false: events wait for deliver() (a slow watch). */
  autoDeliver = true;

  attach(r: MemoryK8sResources): void {
    this.agents.push(r);
    for (const o of this.objects.values()) r.upsert('ciliumIdentities', o);
    r.setSynced('ciliumIdentities');
  }

  /** Writes an object as another agent (or a user) would. */
  put(o: CiliumIdentityObject): void {
    this.objects.set(o.metadata.name, o);
    this.event(() => {
      for (const a of this.agents) a.upsert('ciliumIdentities', o);
    });
  }

  delete(name: string): void {
    const o = this.objects.get(name);
    if (!o) return;
    this.objects.delete(name);
    this.event(() => {
      for (const a of this.agents) a.remove('ciliumIdentities', o);
    });
  }

  deliver(): void {
    const p = this.pending;
    this.pending = [];
    for (const f of p) f();
  }

  store(): CiliumIdentityStore {
    return {
      create: (obj) => {
        this.calls.push(`create ${obj.metadata.name}`);
        if (this.objects.has(obj.metadata.name)) return Promise.resolve(false);
        this.put(obj);
        return Promise.resolve(true);
      },
      get: (name) => {
        this.calls.push(`get ${name}`);
        return Promise.resolve(this.objects.get(name));
      },
    };
  }

  private event(f: () => void): void {
    if (this.autoDeliver) f();
    else this.pending.push(f);
  }
}

const stops: (() => void)[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

interface Agent {
  readonly a: CrdIdentityAllocator;
  readonly r: MemoryK8sResources;
  readonly health: HealthRegistry;
}

function agent(
  server: FakeServer | undefined,
  opts: { startOf?: (k: string) => number; timeoutMs?: number; store?: CiliumIdentityStore } = {},
): Agent {
  const r = newMemoryK8sResources(new DB());
  const health = new HealthRegistry();
  const store = opts.store ?? server?.store();
  if (!store) throw new Error('a store is needed');
  const a = new CrdIdentityAllocator({
    resource: r.ciliumIdentities,
    store,
    logger: newRootLogger({ silent: true }),
    health: health.forPath('identity.crd'),
    timeoutMs: opts.timeoutMs ?? 60_000,
    ...(opts.startOf ? { startOf: opts.startOf } : {}),
  });
  a.start();
  stops.push(() => a.stop());
  server?.attach(r);
  return { a, r, health };
}

const WEB = ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=default'];
const DB_LABELS = ['k8s:app=db', 'k8s:io.kubernetes.pod.namespace=default'];
const status = (x: Agent) => x.health.get('identity.crd');

describe('CrdIdentityAllocator', () => {
  it('creates a CiliumIdentity for new labels and reuses it for the same labels', async () => {
    const server = new FakeServer();
    const { a } = agent(server);
    const x = await a.allocate([...WEB].reverse());
    expect(x.id).toBeGreaterThanOrEqual(256);
    expect(x.id).toBeLessThanOrEqual(65535);
    expect(server.objects.get(String(x.id))).toEqual(identityObject(x.id, WEB));
    expect(server.objects.get(String(x.id))?.metadata.labels).toEqual({
      app: 'web',
      'io.kubernetes.pod.namespace': 'default',
    });
    const y = await a.allocate(WEB);
    expect(y).toBe(x);
    expect(a.refCount(x.id)).toBe(2);
    expect(server.calls).toEqual([`create ${x.id}`]);
    // Releasing deletes nothing: the operator collects identities no endpoint uses.
    expect(a.release(y)).toBe(false);
    expect(a.release(x)).toBe(true);
    expect(server.objects.has(String(x.id))).toBe(true);
    expect(a.get(x.id)?.labels).toEqual(WEB);
    expect((await a.allocate(['reserved:host'])).id).toBe(1);
  });

  it('takes the id of labels the table knows without calling the API server', async () => {
    const server = new FakeServer();
    server.put(identityObject(4000, WEB));
    const { a } = agent(server);
    expect((await a.allocate(WEB)).id).toBe(4000);
    expect(server.calls).toEqual([]);
  });

  it('waits for the table to be listed before picking a new id', async () => {
    const server = new FakeServer();
    const r = newMemoryK8sResources(new DB());
    const a = new CrdIdentityAllocator({
      resource: r.ciliumIdentities,
      store: server.store(),
      logger: newRootLogger({ silent: true }),
      health: new HealthRegistry().forPath('x'),
      timeoutMs: 60_000,
      startOf: () => 0,
    });
    a.start();
    stops.push(() => a.stop());
    const pending = a.allocate(DB_LABELS);
    await new Promise((res) => setImmediate(res));
    expect(server.calls).toEqual([]);
    // The listing brings 256 (other labels): the new one must not take it.
    r.upsert('ciliumIdentities', identityObject(256, WEB));
    r.setSynced('ciliumIdentities');
    expect((await pending).id).toBe(257);
    expect(server.calls).toEqual(['create 257']);
  });

  it('two agents allocating the same new labels at once end with one id and one object', async () => {
    const server = new FakeServer();
    server.autoDeliver = false; // neither sees the other's object before it decides
    const n1 = agent(server);
    const n2 = agent(server);
    const [x, y] = await Promise.all([n1.a.allocate(WEB), n2.a.allocate(WEB)]);
    expect(x.id).toBe(y.id);
    expect(server.objects.size).toBe(1);
    expect(server.calls.sort()).toEqual([`create ${x.id}`, `create ${x.id}`, `get ${x.id}`]);
  });

  it('moves to the next id when the start is taken by other labels, seen or not', async () => {
    const server = new FakeServer();
    const n = agent(server, { startOf: () => 300 - 256 });
    server.put(identityObject(300, WEB));
    server.autoDeliver = false;
    server.put(identityObject(301, ['k8s:app=other']));
    // 300 is in the table (skipped); 301 is not yet: its create fails and the read says other labels.
    expect((await n.a.allocate(DB_LABELS)).id).toBe(302);
    expect(server.calls).toEqual(['create 301', 'get 301', 'create 302']);
  });

  it('twenty label sets from three agents at once, with colliding starts: twenty objects', async () => {
    const server = new FakeServer();
    server.autoDeliver = false;
    const nodes = [1, 2, 3].map(() => agent(server, { startOf: (k) => k.length % 7 }));
    const sets = Array.from({ length: 20 }, (_, i) => [`k8s:app=a${i}`, 'k8s:tier=x']);
    const got = await Promise.all(
      nodes.flatMap((n) => sets.map(async (s) => [s[0], (await n.a.allocate(s)).id] as const)),
    );
    const byLabels = new Map<string | undefined, Set<number>>();
    for (const [l, id] of got) byLabels.set(l, new Set([...(byLabels.get(l) ?? []), id]));
    expect([...byLabels.values()].every((ids) => ids.size === 1)).toBe(true);
    expect(new Set(got.map(([, id]) => id)).size).toBe(20);
    expect(server.objects.size).toBe(20);
  });

  it('uses the lowest id when several objects hold the same labels', async () => {
    const server = new FakeServer();
    server.put(identityObject(5000, WEB));
    server.put(identityObject(4000, WEB));
    const { a } = agent(server);
    expect((await a.allocate(WEB)).id).toBe(4000);
  });

  it("lists other agents' identities and streams their changes", () => {
    const server = new FakeServer();
    const { a } = agent(server);
    const seen: IdentityChange[] = [];
    const sub = a.changes$.subscribe((c) => seen.push(c));
    server.put(identityObject(7000, DB_LABELS));
    expect(a.get(7000)?.labels).toEqual(DB_LABELS);
    expect(a.list().map((i) => i.id)).toContain(7000);
    expect(a.refCount(7000)).toBe(0);
    server.delete('7000');
    expect(a.get(7000)).toBeUndefined();
    sub.unsubscribe();
    expect(seen.map((c) => [c.kind, c.identity.id])).toEqual([
      ['upsert', 7000],
      ['delete', 7000],
    ]);
  });

  it('skips invalid objects with a health note naming them, keeping what it has', () => {
    const server = new FakeServer();
    server.put(identityObject(7000, DB_LABELS));
    const n = agent(server);
    const bad = { metadata: { name: '7000' }, 'security-labels': { app: 'x' } };
    server.put(bad);
    server.put({ metadata: { name: 'nope' }, 'security-labels': {} });
    expect(status(n)?.level).toBe('degraded');
    expect(status(n)?.message).toMatch(/skipped 2 invalid CiliumIdentity objects: 7000: .*nope/);
    expect(n.a.get(7000)).toBeUndefined(); // the object no longer says anything valid
    server.put(identityObject(7000, DB_LABELS));
    server.delete('nope');
    expect(n.a.get(7000)?.labels).toEqual(DB_LABELS);
    expect(status(n)?.level).toBe('ok');
    expect(status(n)?.message).toBe('1 cluster identities (CiliumIdentity)');
  });

  it('restore keeps the saved id and re-creates its object when it is gone', async () => {
    const server = new FakeServer();
    const n = agent(server);
    const x = n.a.restore(WEB, 9000);
    expect(x.id).toBe(9000);
    await expect.poll(() => server.objects.get('9000')).toEqual(identityObject(9000, WEB));
    // Deleted behind its back (the operator's GC) while still used: created again.
    server.delete('9000');
    await expect.poll(() => server.objects.has('9000')).toBe(true);
    expect((await n.a.allocate(WEB)).id).toBe(9000);
    expect(n.a.refCount(9000)).toBe(2);
  });

  it('reports a restored id that holds other labels in the cluster', async () => {
    const server = new FakeServer();
    server.put(identityObject(9000, DB_LABELS));
    const n = agent(server);
    expect(n.a.restore(WEB, 9000).id).toBe(9000);
    await expect.poll(() => status(n)?.level).toBe('degraded');
    expect(status(n)?.message).toMatch(/identity 9000 holds other labels in the cluster/);
    expect(n.a.release(n.a.get(9000) ?? n.a.restore(WEB, 1))).toBe(true);
    expect(status(n)?.level).toBe('ok');
  });

  it('known labels work while the API server is away; new ones fail clearly after the timeout', async () => {
    const server = new FakeServer();
    server.put(identityObject(4000, WEB));
    const hung: CiliumIdentityStore = {
      create: () => new Promise(() => undefined),
      get: () => new Promise(() => undefined),
    };
    const n = agent(server, { store: hung, timeoutMs: 50 });
    expect((await n.a.allocate(WEB)).id).toBe(4000);
    await expect(n.a.allocate(DB_LABELS)).rejects.toThrow(IdentityUnavailableError);
    await expect(n.a.allocate(DB_LABELS)).rejects.toThrow(
      /no identity for k8s:app=db;.*: the Kubernetes API server did not answer within/,
    );
    expect(n.a.refCount(4000)).toBe(1);
  });

  it('retries while the API server is unreachable: succeeds when it is back, else says why', async () => {
    const server = new FakeServer();
    const real = server.store();
    let down = true;
    let refusals = 0;
    const refused = () => {
      refusals++;
      return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443'));
    };
    const flaky: CiliumIdentityStore = {
      create: (o, s) => (down ? refused() : real.create(o, s)),
      get: (n, s) => (down ? refused() : real.get(n, s)),
    };
    const n = agent(server, { store: flaky, timeoutMs: 60_000 });
    const pending = n.a.allocate(WEB);
    await expect.poll(() => refusals).toBeGreaterThanOrEqual(2);
    down = false;
    const x = await pending;
    expect(server.objects.get(String(x.id))).toEqual(identityObject(x.id, WEB));
    down = true;
    const m = agent(server, { store: flaky, timeoutMs: 300 });
    await expect(m.a.allocate(DB_LABELS)).rejects.toThrow(
      /did not answer within .*: connect ECONNREFUSED/,
    );
    // A refusal is not retried: it would not go away.
    const forbidden: CiliumIdentityStore = {
      create: () => Promise.reject(Object.assign(new Error('forbidden'), { code: 403 })),
      get: refused,
    };
    const f = agent(server, { store: forbidden });
    await expect(f.a.allocate(DB_LABELS)).rejects.toThrow(
      /creating a CiliumIdentity failed: forbidden/,
    );
    // Nor a client with Kubernetes mode off (a wiring mistake): it fails now, not after the timeout.
    const off: CiliumIdentityStore = {
      create: () => Promise.reject(new K8sDisabledError()),
      get: () => Promise.reject(new K8sDisabledError()),
    };
    const o = agent(server, { store: off });
    await expect(o.a.allocate(DB_LABELS)).rejects.toThrow(
      /creating a CiliumIdentity failed: Kubernetes mode is off/,
    );
  });

  it('says when the objects were never listed, and a caller who gives up takes nothing', async () => {
    const r = newMemoryK8sResources(new DB());
    const a = new CrdIdentityAllocator({
      resource: r.ciliumIdentities,
      store: new FakeServer().store(),
      logger: newRootLogger({ silent: true }),
      health: new HealthRegistry().forPath('x'),
      timeoutMs: 30,
    });
    a.start();
    stops.push(() => a.stop());
    await expect(a.allocate(WEB)).rejects.toThrow(/not listed yet/);
    const ac = new AbortController();
    const p = a.allocate(WEB, ac.signal);
    ac.abort();
    await expect(p).rejects.toThrow(/cancelled by the caller/);
    expect(a.list().filter((i) => !i.reserved)).toEqual([]);
  });
});
