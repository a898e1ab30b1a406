import { pino } from 'pino';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { eventually, testHive } from '../testing/test-hive.js';
import { config, invoke, module, provide, providePrivate, provideValue } from './cell.js';
import { HiveConfig } from './config.js';
import { flag, type ConfigOf } from './flags.js';
import { Health } from './health.js';
import { Hive } from './hive.js';
import { Jobs } from './jobs.js';
import { Lifecycle } from './lifecycle.js';
import { Logger } from './logger.js';
import { optional, token } from './token.js';

interface Store {
  readonly name: string;
}
const Store = token<Store>('store/Store');
const Client = token<{ store: Store }>('client/Client');

function storeCell(log: string[]) {
  return module(
    'store',
    'A store',
    provide(Store, { lc: Lifecycle }, ({ lc }) => {
      lc.append({
        onStart: () => void log.push('start store'),
        onStop: () => void log.push('stop store'),
      });
      return { name: 'real' };
    }),
  );
}

function clientCell(log: string[]) {
  return module(
    'client',
    'A client of the store',
    provide(Client, { store: Store, lc: Lifecycle }, ({ store, lc }) => {
      lc.append({
        onStart: () => void log.push('start client'),
        onStop: () => void log.push('stop client'),
      });
      return { store };
    }),
    invoke('use-client', { c: Client }, () => undefined),
  );
}

describe('Hive', () => {
  it('starts in dependency order whatever the list order, and stops in reverse', async () => {
    const log: string[] = [];
    const h = testHive([clientCell(log), storeCell(log)]);
    await h.requireStart();
    await h.requireStop();
    expect(log).toEqual(['start store', 'start client', 'stop client', 'stop store']);
  });

  it('builds only what an invoke reaches', async () => {
    let built = false;
    const Unused = token<number>('x/Unused');
    const h = testHive([
      module(
        'lazy',
        'Lazy cell',
        provide(Unused, {}, () => ((built = true), 1)),
      ),
    ]);
    await h.requireStart();
    expect(built).toBe(false);
  });

  it('replaces a provider with a test double by token', async () => {
    const log: string[] = [];
    const h = testHive([clientCell(log)], { overrides: [provideValue(Store, { name: 'fake' })] });
    await h.requireStart();
    expect(h.get(Client).store.name).toBe('fake');
  });

  it('names the missing dependency and who needs it', () => {
    expect(() => testHive([clientCell([])])).toThrow(
      'the constructor of client/Client in module client needs store/Store, which no cell in this hive provides',
    );
  });

  it('passes an optional dependency when a cell provides it and undefined when none does', async () => {
    const Watcher = token<{ store: Store | undefined }>('watcher/Watcher');
    const watcher = module(
      'watcher',
      'Uses the store if there is one',
      provide(Watcher, { store: optional(Store) }, ({ store }) => ({ store })),
      invoke('watch', { w: Watcher, store: optional(Store) }, () => undefined),
    );
    const log: string[] = [];
    const without = testHive([watcher]);
    await without.requireStart();
    expect(without.get(Watcher).store).toBeUndefined();
    const withStore = testHive([watcher, storeCell(log)]);
    await withStore.requireStart();
    expect(withStore.get(Watcher).store?.name).toBe('real');
    expect(log).toEqual(['start store']);
  });

  it('rejects a token provided twice', () => {
    expect(() =>
      testHive([
        storeCell([]),
        module('other', 'Another store', provideValue(Store, { name: 'x' })),
      ]),
    ).toThrow('store/Store is provided twice: by store and by other');
  });

  it('rejects circular dependencies', () => {
    const A = token<number>('a/A');
    const B = token<number>('b/B');
    expect(() =>
      testHive([provide(A, { b: B }, ({ b }) => b), provide(B, { a: A }, ({ a }) => a)]),
    ).toThrow(/circular dependency: a\/A → b\/B → a\/A|circular dependency: b\/B → a\/A → b\/B/);
  });

  it('keeps private providers inside their module', () => {
    const Secret = token<number>('store/Secret');
    const cells = [
      module(
        'store',
        'A store',
        providePrivate(Secret, {}, () => 42),
      ),
      module(
        'thief',
        'Wants the secret',
        invoke('steal', { s: Secret }, () => undefined),
      ),
    ];
    expect(() => testHive(cells)).toThrow(
      "invoke 'steal' in module thief needs store/Secret, which is private to store",
    );
  });

  it('gives each module its own health scope and marks silent modules ok', async () => {
    const h = testHive([
      module(
        'agent',
        'The agent',
        module(
          'loud',
          'Reports itself',
          invoke('report', { h: Health }, ({ h }) => h.ok('all good')),
        ),
        module(
          'quiet',
          'Says nothing',
          invoke('noop', {}, () => undefined),
        ),
      ),
    ]);
    await h.requireStart();
    const tree = h.hive.health.tree('agent');
    expect(tree.children.map((c) => [c.id, c.level, c.status?.message])).toEqual([
      ['agent.loud', 'ok', 'all good'],
      ['agent.quiet', 'ok', 'started'],
    ]);
    await h.requireStop();
    expect(h.hive.health.tree('agent').level).toBe('stopped');
  });

  it('provides config values under the cell token, camelCased', () => {
    const flags = {
      'pod-cidr': flag.string('10.0.0.0/24', 'Pod CIDR'),
      'max-pods': flag.int(110, 'Max pods'),
    };
    const Cfg = token<ConfigOf<typeof flags>>('ipam/Config');
    const h = testHive([module('ipam', 'IPAM', config(Cfg, flags))], { flags: { 'max-pods': 5 } });
    expect(h.get(Cfg)).toEqual({ podCidr: '10.0.0.0/24', maxPods: 5 });
  });
});

describe('Jobs', () => {
  function jobsHive(setup: (jobs: Jobs) => void) {
    return testHive([
      module(
        'worker',
        'Runs jobs',
        invoke('add-jobs', { jobs: Jobs }, ({ jobs }) => setup(jobs)),
      ),
    ]);
  }

  it('retries a failing one-shot job and reports the error to health', async () => {
    let calls = 0;
    const h = jobsHive((jobs) =>
      jobs.oneShot(
        'flaky',
        () => {
          calls++;
          return calls < 3 ? Promise.reject(new Error(`boom ${calls}`)) : Promise.resolve();
        },
        { retries: 5, backoff: { minMs: 1, maxMs: 5 } },
      ),
    );
    await h.requireStart();
    await eventually(() => h.hive.health.get('worker.job-flaky')?.message === 'completed');
    expect(calls).toBe(3);
  });

  it('leaves a job that finally fails degraded with its error', async () => {
    const h = jobsHive((jobs) =>
      jobs.oneShot('doomed', () => Promise.reject(new Error('no route to host'))),
    );
    await h.requireStart();
    const s = await eventually(() => h.hive.health.get('worker.job-doomed'));
    expect(s).toMatchObject({ level: 'degraded', message: 'failed', error: 'no route to host' });
    expect(h.hive.health.tree('worker').level).toBe('degraded');
  });

  it('runs timer jobs on their interval and early on a trigger, and cancels them on stop', async () => {
    const trigger = new Subject<void>();
    let runs = 0;
    const h = jobsHive((jobs) => jobs.timer('tick', () => void runs++, 3_600_000, { trigger }));
    await h.requireStart();
    await eventually(() => runs === 1);
    trigger.next();
    await eventually(() => runs === 2);
    await h.requireStop();
    trigger.next();
    await new Promise((r) => setTimeout(r, 20));
    expect(runs).toBe(2);
  });

  it('feeds observer jobs one value at a time', async () => {
    const src = new Subject<number>();
    const seen: number[] = [];
    const h = jobsHive((jobs) =>
      jobs.observer('obs', src, async (v) => {
        await new Promise((r) => setTimeout(r, 5));
        seen.push(v);
      }),
    );
    await h.requireStart();
    src.next(1);
    src.next(2);
    src.complete();
    await eventually(() => h.hive.health.get('worker.job-obs')?.message === 'completed');
    expect(seen).toEqual([1, 2]);
  });

  it('keeps each job’s run statistics, as Cilium’s controllers, for the whole hive', async () => {
    const trigger = new Subject<void>();
    let runs = 0;
    const h = jobsHive((jobs) => {
      jobs.timer(
        'tick',
        () => {
          runs++;
          if (runs === 2 || runs === 3) throw new Error(`run ${runs} failed`);
        },
        60_000,
        { trigger },
      );
      jobs.oneShot('once', () => Promise.reject(new Error('no route')), {
        retries: 1,
        backoff: { minMs: 1, maxMs: 1 },
      });
    });
    await h.requireStart();
    const tick = () => h.hive.jobs.list().find((j) => j.name === 'tick');
    await eventually(() => tick()?.successCount === 1);
    for (const n of [2, 3]) {
      trigger.next();
      await eventually(() => runs === n && tick()?.failureCount === n - 1);
    }
    expect(tick()).toMatchObject({
      module: 'worker',
      kind: 'timer',
      intervalMs: 60_000,
      errorRetry: true,
      successCount: 1,
      failureCount: 2,
      consecutiveFailureCount: 2,
      lastFailureMsg: 'run failed: run 3 failed',
    });
    trigger.next();
    await eventually(() => tick()?.successCount === 2);
    expect(tick()).toMatchObject({ consecutiveFailureCount: 0, failureCount: 2 });
    expect(tick()?.lastFailureMsg).toBeUndefined();
    expect(tick()?.lastFailure).toBeInstanceOf(Date);
    const once = await eventually(() =>
      h.hive.jobs.list().find((j) => j.name === 'once' && j.failureCount === 2),
    );
    expect(once).toMatchObject({
      kind: 'one-shot',
      errorRetry: true,
      errorRetryBaseMs: 1,
      successCount: 0,
      consecutiveFailureCount: 2,
      lastFailureMsg: 'failed: no route',
    });
    expect(once.uuid).not.toBe(tick()?.uuid);
  });
});

describe('the debug flag', () => {
  it("changes every module's logger at runtime, not only the root's", () => {
    let log: Logger | undefined;
    const lines: string[] = [];
    const root = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
    const hive = new Hive(
      [
        module(
          'mod',
          'a module',
          invoke('keep', { l: Logger }, ({ l }) => void (log = l)),
        ),
      ],
      { logger: root },
    );
    hive.populate();
    log?.debug('hidden');
    hive.get(HiveConfig).set({ debug: true });
    log?.debug('shown');
    hive.get(HiveConfig).set({ debug: false });
    log?.debug('hidden again');
    expect(lines.map((s) => (JSON.parse(s) as { msg: string }).msg)).toEqual(['shown']);
  });
});
