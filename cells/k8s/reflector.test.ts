import { describe, expect, it } from 'vitest';
import { HealthRegistry, newRootLogger } from '../../core/hive/index.js';
import { DB, type Table } from '../../core/statedb/index.js';
import { BACKOFF_MIN_MS, jittered } from './backoff.js';
import { invalidReason, Reflector, type ListPage, type ListWatcher } from './reflector.js';
import { slimPod } from './slim.js';
import { K8sHttpError, type WatchEvent } from './transport.js';
import { objectKey, type K8sObject } from './types.js';

type Obj = K8sObject & Record<string, unknown>;

const pod = (name: string, rv: string, extra: Record<string, unknown> = {}): Obj => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv, labels: { app: name } },
  ...extra,
});

type ListStep = ListPage | Error | ((cont: string | undefined) => ListPage);
/** A watch: the events it delivers, then how it ends (undefined: the stream closes). */
interface WatchStep {
  events: WatchEvent[];
  end?: Error | 'hang';
}

/** A scripted API server: lists and watches answer in order; records what they were asked. */
function scripted(lists: ListStep[], watches: WatchStep[]) {
  const asked = { lists: [] as (string | undefined)[], watches: [] as string[] };
  const source: ListWatcher = {
    list({ continue: cont }) {
      asked.lists.push(cont);
      const step = lists.shift();
      if (step === undefined) return Promise.reject(new Error('no more lists scripted'));
      if (step instanceof Error) return Promise.reject(step);
      return Promise.resolve(typeof step === 'function' ? step(cont) : step);
    },
    async watch({ resourceVersion, signal }, onEvent) {
      asked.watches.push(resourceVersion);
      const step = watches.shift() ?? { events: [], end: 'hang' };
      for (const e of step.events) onEvent(e);
      await Promise.resolve();
      if (step.end === 'hang') {
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        return;
      }
      if (step.end) throw step.end;
    },
  };
  return { source, asked };
}

function setup(source: ListWatcher, opts: { maxMs?: number; now?: () => number } = {}) {
  const db = new DB();
  const table: Table<Obj> = db.newTable<Obj>({ name: 'pods', primaryKey: objectKey });
  let init!: (txn: import('../../core/statedb/index.js').WriteTxn) => void;
  db.update([table], (txn) => {
    init = txn.registerInitializer(table, 'test');
  });
  const health = new HealthRegistry();
  const delays: number[] = [];
  const ctl = new AbortController();
  const r = new Reflector<Obj>({
    name: 'pods',
    db,
    table,
    source,
    namespaced: true,
    initialized: init,
    transform: (o) => slimPod(o) as unknown as Obj,
    health: health.forPath('k8s.pods'),
    logger: newRootLogger({ silent: true }),
    backoffMaxMs: opts.maxMs ?? 30_000,
    random: () => 1,
    ...(opts.now ? { now: opts.now } : {}),
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  });
  const running = r.run(ctl.signal);
  const names = (): string[] => [...table.all(db.readTxn())].map(objectKey);
  const get = (key: string): Obj | undefined => table.get(db.readTxn(), key);
  const stop = async (): Promise<void> => {
    ctl.abort();
    await running;
  };
  return { db, table, health, delays, r, names, get, stop, running };
}

/** Waits until the reflector reached a state (driven by promises only, no clock). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  if (!cond()) throw new Error('condition never met');
}

describe('reflector', () => {
  it('lists, marks the table initialized, and replaces it on a re-list (deleting what is gone)', async () => {
    const { source, asked } = scripted(
      [
        { items: [pod('a', '1'), pod('b', '2'), pod('c', '3')], resourceVersion: '10' },
        { items: [pod('a', '11'), pod('c', '3'), pod('d', '12')], resourceVersion: '20' },
      ],
      [{ events: [], end: new K8sHttpError(410, 'Expired', 'too old') }],
    );
    const s = setup(source);
    await until(() => asked.watches.length === 2);
    expect(s.table.initialized(s.db.readTxn())).toBe(true);
    expect(s.names()).toEqual(['ns/a', 'ns/c', 'ns/d']);
    expect(s.get('ns/a')?.metadata.resourceVersion).toBe('11');
    expect(asked.watches).toEqual(['10', '20']);
    expect(s.r.listCount).toBe(2);
    expect(s.delays).toEqual([]); // 410 lists again at once
    expect(s.health.get('k8s.pods')).toMatchObject({ level: 'ok', message: 'synced, 3 objects' });
    await s.stop();
  });

  it('keeps an unchanged object as it was on a re-list (same resourceVersion: no new revision)', async () => {
    const { source, asked } = scripted(
      [
        { items: [pod('a', '1')], resourceVersion: '10' },
        { items: [pod('a', '1')], resourceVersion: '30' },
      ],
      [{ events: [{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }] }],
    );
    const s = setup(source);
    const inserts: number[] = [];
    const sub = s.table.observe().subscribe((batch) => inserts.push(batch.length));
    await until(() => asked.watches.length === 2);
    sub.unsubscribe();
    // Only the first list wrote `a`; the re-list found it unchanged.
    expect(inserts).toEqual([1]);
    expect(asked.watches).toEqual(['10', '30']);
    await s.stop();
  });

  it('resumes a watch that ends from the last event version: nothing missed or applied twice', async () => {
    const { source, asked } = scripted(
      [{ items: [pod('a', '1')], resourceVersion: '10' }],
      [
        {
          events: [
            { type: 'ADDED', object: pod('b', '11') },
            { type: 'MODIFIED', object: pod('a', '12') },
          ],
        },
        {
          events: [{ type: 'DELETED', object: pod('b', '13') }],
          end: new Error('connection reset'),
        },
        { events: [{ type: 'ADDED', object: pod('c', '14') }] },
      ],
    );
    const s = setup(source);
    await until(() => asked.watches.length === 4);
    expect(asked.watches).toEqual(['10', '12', '13', '14']);
    expect(asked.lists).toHaveLength(1); // resumed, never listed again
    expect(s.names()).toEqual(['ns/a', 'ns/c']);
    expect(s.get('ns/a')?.metadata.resourceVersion).toBe('12');
    expect(s.delays).toHaveLength(1); // only the broken stream waited
    await s.stop();
  });

  it('resumes from a bookmark version', async () => {
    const { source, asked } = scripted(
      [{ items: [], resourceVersion: '5' }],
      [
        {
          events: [
            { type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: '99' } } },
          ],
        },
      ],
    );
    const s = setup(source);
    await until(() => asked.watches.length === 2);
    expect(asked.watches).toEqual(['5', '99']);
    expect(s.names()).toEqual([]);
    await s.stop();
  });

  it('lists again after an ERROR event with 410 Gone (and after a 410 answer to a watch)', async () => {
    const { source, asked } = scripted(
      [
        { items: [pod('a', '1')], resourceVersion: '10' },
        { items: [pod('b', '2')], resourceVersion: '20' },
        { items: [pod('c', '3')], resourceVersion: '30' },
      ],
      [
        {
          events: [
            {
              type: 'ERROR',
              object: {
                kind: 'Status',
                code: 410,
                reason: 'Expired',
                message: 'too old resource version',
              },
            },
            // Nothing after an ERROR is applied.
            { type: 'ADDED', object: pod('z', '15') },
          ],
        },
        { events: [], end: new K8sHttpError(410, 'Gone', 'gone') },
      ],
    );
    const s = setup(source);
    await until(() => asked.watches.length === 3);
    expect(asked.watches).toEqual(['10', '20', '30']);
    expect(s.names()).toEqual(['ns/c']);
    await s.stop();
  });

  it('backs off when every watch from a fresh list is "too old" (no hot list loop), at once again after an event', async () => {
    const gone = new K8sHttpError(410, 'Gone', 'too old resource version');
    const list = (rv: string): ListPage => ({ items: [pod('a', '1')], resourceVersion: rv });
    const { source, asked } = scripted(
      [list('10'), list('20'), list('30'), list('40'), list('50'), list('60')],
      [
        { events: [], end: gone },
        { events: [], end: gone },
        { events: [], end: gone },
        // A working watch (an event) resets the streak: its 410 lists again at once.
        { events: [{ type: 'ADDED', object: pod('b', '41') }], end: gone },
        { events: [], end: gone },
      ],
    );
    const s = setup(source, { maxMs: 3000 });
    await until(() => asked.watches.length === 6);
    expect(asked.watches).toEqual(['10', '20', '30', '40', '50', '60']);
    // The first 410 lists at once, the next ones wait (doubling); the one ending the watch that
    // had an event lists at once again, and the streak starts over.
    expect(s.delays).toEqual([500, 1000, 500]);
    expect(s.health.get('k8s.pods')).toMatchObject({ level: 'ok' });
    await s.stop();
  });

  it('backs off with jitter, doubling up to --k8s-watch-backoff-max, and says so in health', async () => {
    const fail = new K8sHttpError(500, 'InternalError', 'list pods: 500 InternalError: etcd down');
    const { source, asked } = scripted(
      [fail, fail, fail, fail, fail, { items: [pod('a', '1')], resourceVersion: '7' }],
      [],
    );
    const s = setup(source, { maxMs: 3000 });
    await until(() => asked.watches.length === 1);
    // random() = 1: the full delay; min·2^n capped at the maximum.
    expect(s.delays).toEqual([500, 1000, 2000, 3000, 3000]);
    expect(s.health.get('k8s.pods')).toMatchObject({ level: 'ok', message: 'synced, 1 objects' });
    await s.stop();
    // The jitter: between half and all of the step.
    expect(jittered(2, 30_000, () => 0)).toBe(BACKOFF_MIN_MS * 2);
    expect(jittered(2, 30_000, () => 0.5)).toBe(BACKOFF_MIN_MS * 3);
    expect(jittered(40, 30_000, () => 1)).toBe(30_000);
  });

  it('reports a failing list as degraded with the error and the retry delay', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const source: ListWatcher = {
      list: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443')),
      watch: () => gate,
    };
    const db = new DB();
    const table = db.newTable<Obj>({ name: 'pods', primaryKey: objectKey });
    const health = new HealthRegistry();
    const ctl = new AbortController();
    let sleeps = 0;
    const r = new Reflector<Obj>({
      name: 'pods',
      db,
      table,
      source,
      namespaced: true,
      initialized: () => undefined,
      health: health.forPath('k8s.pods'),
      logger: newRootLogger({ silent: true }),
      backoffMaxMs: 30_000,
      random: () => 1,
      sleep: async (_ms, signal) => {
        if (++sleeps === 2) ctl.abort();
        await Promise.resolve(signal);
      },
    });
    await r.run(ctl.signal);
    release();
    expect(health.get('k8s.pods')).toMatchObject({
      level: 'degraded',
      message: 'list failed, retrying in 1.0s: connect ECONNREFUSED 127.0.0.1:6443',
    });
  });

  it('follows continue tokens page by page and applies the list as one', async () => {
    const pages: Record<string, ListPage> = {
      first: { items: [pod('a', '1'), pod('b', '2')], resourceVersion: '50', continue: 'p2' },
      p2: { items: [pod('c', '3')], resourceVersion: '50', continue: 'p3' },
      p3: { items: [pod('d', '4')], resourceVersion: '50' },
    };
    const { source, asked } = scripted(
      [(c) => pages[c ?? 'first']!, (c) => pages[c ?? 'first']!, (c) => pages[c ?? 'first']!],
      [],
    );
    const s = setup(source);
    await until(() => asked.watches.length === 1);
    expect(asked.lists).toEqual([undefined, 'p2', 'p3']);
    expect(s.names()).toEqual(['ns/a', 'ns/b', 'ns/c', 'ns/d']);
    expect(asked.watches).toEqual(['50']);
    await s.stop();
  });

  it('skips invalid objects with a health note naming them, and keeps what was stored', async () => {
    const { source, asked } = scripted(
      [
        {
          items: [
            pod('a', '1'),
            { metadata: { namespace: 'ns' } },
            { metadata: { name: 'nolabels', namespace: 'ns', labels: { x: 5 } } },
            'garbage',
          ],
          resourceVersion: '10',
        },
      ],
      [
        {
          events: [
            // a turns invalid: the stored a stays as it was.
            {
              type: 'MODIFIED',
              object: {
                metadata: { name: 'a', namespace: 'ns', resourceVersion: '11', labels: [] },
              },
            },
            { type: 'ADDED', object: { metadata: { name: 'b' } } },
            { type: 'ADDED', object: pod('c', '12') },
          ],
        },
      ],
    );
    const s = setup(source);
    await until(() => asked.watches.length === 2);
    expect(s.names()).toEqual(['ns/a', 'ns/c']);
    expect(s.get('ns/a')?.metadata.labels).toEqual({ app: 'a' });
    const h = s.health.get('k8s.pods');
    expect(h?.level).toBe('degraded');
    expect(h?.message).toMatch(/^synced, 2 objects; skipped \d+ invalid: /);
    expect(h?.message).toContain('ns/nolabels: metadata.labels is not a map of strings');
    // A valid version of the object clears its note.
    await s.stop();
    expect(invalidReason({ metadata: { name: 'x' } }, true)).toBe('no metadata.namespace');
    expect(invalidReason({ metadata: { name: 'x', namespace: 'n' } }, false)).toMatch(
      /cluster-scoped/,
    );
    expect(invalidReason({ metadata: { name: 'x', resourceVersion: 5 } }, false)).toMatch(
      /resourceVersion/,
    );
    expect(invalidReason({ metadata: { name: 'x' } }, false)).toBeUndefined();
    expect(invalidReason({ metadata: { name: 'a/b' } }, false)).toMatch(/not a valid name/);
    for (const name of ['s\u0000x', 'a\u202eb', 'caf\u00e9', 'a\u007f']) {
      expect(invalidReason({ metadata: { name } }, false)).toMatch(/not a valid name/);
      expect(invalidReason({ metadata: { name: 'a', namespace: name } }, true)).toMatch(
        /namespace is not a valid name/,
      );
    }
    expect(invalidReason({ metadata: { name: 'a', namespace: 'x/y' } }, true)).toMatch(
      /namespace is not a valid name/,
    );
  });

  it('strips managed fields, the last-applied annotation and the pod fields nobody reads', async () => {
    const full = pod('a', '1', {
      spec: {
        nodeName: 'n1',
        serviceAccountName: 'sa',
        volumes: [{ name: 'v' }],
        containers: [
          {
            name: 'c',
            image: 'i',
            ports: [{ name: 'http', containerPort: 80 }],
            env: [{ name: 'E' }],
          },
        ],
      },
      status: {
        phase: 'Running',
        podIPs: [{ ip: '10.0.0.1' }],
        containerStatuses: [{ name: 'c' }],
      },
    });
    (full.metadata as Record<string, unknown>).managedFields = [{ manager: 'kubectl' }];
    full.metadata.annotations = {
      'kubectl.kubernetes.io/last-applied-configuration': '{"big":1}',
      keep: 'me',
    };
    const { source, asked } = scripted([{ items: [full], resourceVersion: '10' }], []);
    const s = setup(source);
    await until(() => asked.watches.length === 1);
    const a = s.get('ns/a')!;
    expect(a.metadata).toEqual({
      name: 'a',
      namespace: 'ns',
      resourceVersion: '1',
      labels: { app: 'a' },
      annotations: { keep: 'me' },
    });
    expect(a.spec).toEqual({
      nodeName: 'n1',
      serviceAccountName: 'sa',
      containers: [{ name: 'c', image: 'i', ports: [{ name: 'http', containerPort: 80 }] }],
    });
    expect(a.status).toEqual({ phase: 'Running', podIPs: [{ ip: '10.0.0.1' }] });
    await s.stop();
  });

  it('applies a burst of watch events in one transaction', async () => {
    const events: WatchEvent[] = Array.from({ length: 50 }, (_, i) => ({
      type: 'ADDED',
      object: pod(`p${i}`, String(100 + i)),
    }));
    const { source, asked } = scripted(
      [{ items: [], resourceVersion: '1' }],
      [{ events, end: 'hang' }],
    );
    const s = setup(source);
    let commits = 0;
    const sub = s.db.commits$.subscribe((n) => {
      if (n.has('pods')) commits++;
    });
    await until(() => s.names().length === 50);
    sub.unsubscribe();
    expect(commits).toBe(2); // the list's, then the 50 events'
    expect(asked.watches).toEqual(['1']);
    expect(s.r.resourceVersion).toBe('149');
    await s.stop();
  });

  it('watches again at once after a quiet stream the server ended, waits after streams ending at once', async () => {
    let t = 0;
    const quiet = { events: [] as WatchEvent[] };
    const { source, asked } = scripted(
      [{ items: [], resourceVersion: '3' }],
      [quiet, quiet, quiet, quiet],
    );
    // Each watch "lasts" 5 minutes on the test's clock until the third; then they end at once.
    const watch = source.watch.bind(source);
    source.watch = (o, on) => {
      if (asked.watches.length < 2) t += 300_000;
      return watch(o, on);
    };
    const s = setup(source, { now: () => t });
    await until(() => asked.watches.length === 5);
    expect(asked.watches).toEqual(['3', '3', '3', '3', '3']);
    // The two long ones and the first quick one: no wait; the second quick one in a row waits.
    expect(s.delays).toEqual([500]);
    await s.stop();
  });
});
