import { describe, expect, it } from 'vitest';
import { invoke, module } from '../hive/cell.js';
import { Jobs } from '../hive/jobs.js';
import { DB } from '../statedb/index.js';
import { eventually, testHive } from '../testing/test-hive.js';
import { statusPending, type Operations, type Status } from './operations.js';
import {
  registerReconciler,
  type ReconcileEvent,
  type Reconciler,
  type ReconcilerMetrics,
} from './reconciler.js';

interface Route {
  readonly prefix: string;
  readonly via: string;
  readonly status: Status;
}

/** A target (think: a BPF map) that can be told to fail. */
class Target implements Operations<Route> {
  readonly entries = new Map<string, string>();
  failing = new Set<string>();
  pruneFails = false;
  updates = 0;

  update(_: unknown, r: Route): void | Promise<void> {
    this.updates++;
    if (this.failing.has(r.prefix)) throw new Error(`E2BIG: map full writing ${r.prefix}`);
    this.entries.set(r.prefix, r.via);
  }
  delete(_: unknown, r: Route): void {
    this.entries.delete(r.prefix);
  }
  prune(_: unknown, desired: Iterable<Route>): void {
    if (this.pruneFails) throw new Error('dump failed');
    const keep = new Set([...desired].map((r) => r.prefix));
    for (const k of [...this.entries.keys()]) if (!keep.has(k)) this.entries.delete(k);
  }
}

function setup(
  target = new Target(),
  observe?: (e: ReconcileEvent<Route>) => void,
  metrics?: ReconcilerMetrics,
) {
  const db = new DB();
  const routes = db.newTable<Route>({ name: 'routes', primaryKey: (r) => r.prefix });
  let rec: Reconciler | undefined;
  const h = testHive([
    module(
      'routes',
      'Routes reconciler under test',
      invoke('reconcile', { jobs: Jobs }, ({ jobs }) => {
        rec = registerReconciler({
          db,
          table: routes,
          ops: target,
          getStatus: (r) => r.status,
          setStatus: (r, status) => ({ ...r, status }),
          jobs,
          config: { retry: { minMs: 5, maxMs: 20 }, pruneIntervalMs: 3_600_000 },
          ...(observe ? { observe } : {}),
          ...(metrics ? { metrics } : {}),
        });
      }),
    ),
  ]);
  const put = (prefix: string, via: string) =>
    db.update([routes], (w) => w.insert(routes, { prefix, via, status: statusPending() }));
  const status = (prefix: string) => routes.get(db.readTxn(), prefix)?.status;
  return { db, routes, h, target, put, status, rec: () => rec! };
}

describe('reconciler', () => {
  it('applies pending objects and records done', async () => {
    const s = setup();
    await s.h.requireStart();
    s.put('10.0.1.0/24', 'eth0');
    s.put('10.0.2.0/24', 'eth1');
    await s.rec().waitUntilReconciled(s.routes.revision(s.db.readTxn()));
    expect(s.status('10.0.1.0/24')?.kind).toBe('done');
    expect(Object.fromEntries(s.target.entries)).toEqual({
      '10.0.1.0/24': 'eth0',
      '10.0.2.0/24': 'eth1',
    });
  });

  it('records the error, retries with backoff and recovers; health follows', async () => {
    const s = setup();
    s.target.failing.add('10.0.9.0/24');
    await s.h.requireStart();
    s.put('10.0.9.0/24', 'eth0');
    await eventually(() => s.status('10.0.9.0/24')?.kind === 'error');
    expect(s.status('10.0.9.0/24')?.error).toBe('E2BIG: map full writing 10.0.9.0/24');
    await eventually(() => s.target.updates >= 3); // retried, not just once
    const health = () => s.h.hive.health.get('routes.job-reconcile-routes');
    expect(health()?.level).toBe('degraded');
    expect(health()?.message).toContain('1 failing (10.0.9.0/24: E2BIG');
    s.target.failing.clear();
    await eventually(() => s.status('10.0.9.0/24')?.kind === 'done');
    await eventually(() => health()?.level === 'ok');
    expect(s.target.entries.get('10.0.9.0/24')).toBe('eth0');
  });

  it('deletes target state when the object is deleted', async () => {
    const s = setup();
    await s.h.requireStart();
    s.put('10.0.1.0/24', 'eth0');
    await eventually(() => s.target.entries.size === 1);
    s.db.update([s.routes], (w) => w.deleteKey(s.routes, '10.0.1.0/24'));
    await eventually(() => s.target.entries.size === 0);
  });

  it('prunes stale target state at start without touching what is right', async () => {
    const target = new Target();
    target.entries.set('10.9.9.0/24', 'stale');
    target.entries.set('10.0.1.0/24', 'eth0');
    const s = setup(target);
    s.put('10.0.1.0/24', 'eth0');
    await s.h.requireStart();
    await eventually(() => !target.entries.has('10.9.9.0/24'));
    expect(target.entries.get('10.0.1.0/24')).toBe('eth0');
  });

  it('reports a failed prune and prunes again on the next full round', async () => {
    const target = new Target();
    target.pruneFails = true;
    target.entries.set('stale', 'x');
    const s = setup(target);
    await s.h.requireStart();
    await eventually(
      () => s.h.hive.health.get('routes.job-reconcile-routes')?.level === 'degraded',
    );
    target.pruneFails = false;
    s.rec().triggerFull();
    await eventually(() => target.entries.size === 0);
    await eventually(() => s.h.hive.health.get('routes.job-reconcile-routes')?.level === 'ok');
  });

  it('reports each round to its metrics: duration, errors met, objects failing', async () => {
    const rounds: { kind: string; table: string; errors: number; failing?: number }[] = [];
    const metrics: ReconcilerMetrics = {
      incremental: (table, seconds, errors, failing) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        rounds.push({ kind: 'incremental', table, errors, failing });
      },
      full: (table, seconds, errors) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        rounds.push({ kind: 'full', table, errors });
      },
    };
    const target = new Target();
    target.pruneFails = true;
    target.failing.add('10.0.9.0/24');
    const s = setup(target, undefined, metrics);
    await s.h.requireStart();
    await eventually(() => rounds.some((r) => r.kind === 'full'));
    // the first full round's prune failed
    expect(rounds.find((r) => r.kind === 'full')).toEqual({
      kind: 'full',
      table: 'routes',
      errors: 1,
    });
    s.put('10.0.9.0/24', 'eth0');
    await eventually(() => rounds.some((r) => r.kind === 'incremental' && r.errors === 1));
    expect(rounds.filter((r) => r.kind === 'incremental' && r.errors > 0)[0]).toEqual({
      kind: 'incremental',
      table: 'routes',
      errors: 1,
      failing: 2, // the update and the prune
    });
    target.failing.clear();
    target.pruneFails = false;
    s.rec().triggerFull();
    await eventually(() => rounds.at(-1)?.kind === 'incremental' && rounds.at(-1)?.failing === 0);
  });

  it('does not mark done an object that changed while it was being applied', async () => {
    const s = setup();
    let release: (() => void) | undefined;
    const orig = s.target.update.bind(s.target);
    s.target.update = (ctx, r) => {
      void orig(ctx, r);
      if (r.via === 'slow') return new Promise<void>((res) => (release = res));
    };
    await s.h.requireStart();
    s.put('10.0.1.0/24', 'slow');
    await eventually(() => release);
    s.put('10.0.1.0/24', 'fast');
    release!();
    await eventually(() => s.target.entries.get('10.0.1.0/24') === 'fast');
    await eventually(() => s.status('10.0.1.0/24')?.kind === 'done');
    expect(s.routes.get(s.db.readTxn(), '10.0.1.0/24')?.via).toBe('fast');
  });

  it('stops with the cell and leaves no job running', async () => {
    const s = setup();
    await s.h.requireStart();
    await s.h.requireStop();
    s.put('10.0.1.0/24', 'eth0');
    await new Promise((r) => setTimeout(r, 30));
    expect(s.target.entries.size).toBe(0);
  });

  it('tells the observer of every update and delete with its outcome; a throwing observer changes nothing', async () => {
    const seen: string[] = [];
    const target = new Target();
    target.failing.add('10.0.9.0/24');
    const s = setup(target, (e) => {
      seen.push(
        e.action === 'prune' ? 'prune' : `${e.action} ${e.object.prefix} ${e.error ?? 'ok'}`,
      );
      throw new Error('observer bug');
    });
    await s.h.requireStart();
    s.put('10.0.1.0/24', 'eth0');
    s.put('10.0.9.0/24', 'eth9');
    await eventually(() => s.status('10.0.1.0/24')?.kind === 'done');
    await eventually(() => seen.filter((x) => x.startsWith('update 10.0.9.0/24')).length >= 2);
    expect(seen).toContain('update 10.0.1.0/24 ok');
    expect(seen).toContain('update 10.0.9.0/24 E2BIG: map full writing 10.0.9.0/24');
    expect(s.status('10.0.9.0/24')?.kind).toBe('error');
    s.db.update([s.routes], (w) => w.deleteKey(s.routes, '10.0.1.0/24'));
    await eventually(() => seen.includes('delete 10.0.1.0/24 ok'));
    expect(target.entries.has('10.0.1.0/24')).toBe(false);
    // The first full round after the table is initialized prunes, and says so.
    await eventually(() => seen.includes('prune'));
    await s.h.requireStop();
  });
});
