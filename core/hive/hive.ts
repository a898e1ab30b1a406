import { Container } from 'inversify';
import type { Cell, ConfigCell, InvokeCell, ProvideCell } from './cell.js';
import {
  ConfigStore,
  HiveConfig,
  resolveConfig,
  type ConfigSources,
  type FlagInfo,
} from './config.js';
import { camelCase, flag, type FlagSet } from './flags.js';
import { Health, HealthRegistry, HealthTree } from './health.js';
import { HiveJobs, JobGroup, Jobs, JobStatusTable, Shutdowner } from './jobs.js';
import { HiveLifecycle, Lifecycle, type RegisteredHook } from './lifecycle.js';
import { Logger, newRootLogger } from './logger.js';
import { optionalTarget, token, tokenName, type Token } from './token.js';

/** The hive's own flags. */
export const hiveFlags = {
  debug: flag.bool(false, 'Log at debug level', { mutable: true }),
  'hive-start-timeout': flag.duration('5m', 'Time limit for each start hook', { min: '1ms' }),
  'hive-stop-timeout': flag.duration('1m', 'Time limit for each stop hook', { min: '1ms' }),
} satisfies FlagSet;

/** How a hive is built. */
export interface HiveOptions {
  readonly config?: ConfigSources;
  /** Cells that replace the providers of the same tokens (test doubles). */
  readonly overrides?: readonly ProvideCell[];
  readonly logger?: Logger;
  /** The path of cells given outside any module. */
  readonly rootId?: string;
}

/** A module as the hive sees it: its full dotted id and its own cells. */
export interface ModuleInfo {
  readonly id: string;
  readonly description: string;
  readonly depth: number;
  readonly provides: readonly ProvideCell[];
  readonly invokes: readonly InvokeCell[];
  readonly configs: readonly ConfigCell[];
}

/** Where the hive is in its life. */
export type HivePhase = 'populated' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** What cells may know about the hive itself (for /healthz, /debuginfo). */
export interface HiveInfo {
  phase(): HivePhase;
  readonly modules: readonly ModuleInfo[];
  hooks(): readonly RegisteredHook[];
}

/** The hive's own description and phase. */
export const HiveInfo = token<HiveInfo>('hive/HiveInfo');

/** The wiring is wrong: a missing, duplicate, private or circular dependency. */
export class WiringError extends Error {
  override name = 'WiringError';
}

const SCOPED: readonly symbol[] = [Lifecycle, Health, Jobs, Logger];

interface Placed<C> {
  readonly cell: C;
  readonly module: string;
}

function flagInfos(configs: readonly Placed<ConfigCell>[]): FlagInfo[] {
  const flags: FlagInfo[] = Object.entries(hiveFlags).map(([name, spec]) => ({
    name,
    module: 'hive',
    spec,
  }));
  for (const { cell, module } of configs) {
    for (const [name, spec] of Object.entries(cell.flags)) {
      const dup = flags.find((f) => f.name === name);
      if (dup) throw new WiringError(`flag --${name} is declared by ${dup.module} and ${module}`);
      flags.push({ name, module, spec });
    }
  }
  return flags;
}

/** Every flag of a list of cells (and the hive's own), without building a hive: for `--help`. */
export function listFlags(cells: readonly Cell[], rootId = 'hive'): FlagInfo[] {
  const configs: Placed<ConfigCell>[] = [];
  const walk = (cs: readonly Cell[], id: string, isRoot: boolean): void => {
    for (const c of cs) {
      if (c.kind === 'module') walk(c.cells, isRoot ? c.id : `${id}.${c.id}`, false);
      else if (c.kind === 'config') configs.push({ cell: c, module: id });
    }
  };
  walk(cells, rootId, true);
  return flagInfos(configs);
}

/**
 * A hive: cells resolved through an inversify container, with a lifecycle, jobs, health and
 * config. `populate()` runs the invokes; `start()`/`stop()` run the hooks.
 */
export class Hive {
  readonly modules: ModuleInfo[] = [];
  readonly health = new HealthRegistry();
  /** Every job of every module, with its run statistics. */
  readonly jobs = new JobStatusTable();
  readonly lifecycle: HiveLifecycle;
  readonly config: ConfigStore;
  readonly logger: Logger;
  private readonly container = new Container();
  private readonly providers = new Map<symbol, Placed<ProvideCell>>();
  private readonly invokes: Placed<InvokeCell>[] = [];
  private readonly scoped = new Map<string, Map<symbol, symbol>>();
  /** Each module's logger: a pino child keeps the level it was made with, so changes go to each. */
  private readonly moduleLoggers: Logger[] = [];
  private populated = false;
  private currentPhase: HivePhase = 'populated';
  private shutdownRequest?: (err?: Error) => void;
  private readonly shutdownPromise: Promise<Error | undefined>;

  constructor(cells: readonly Cell[], opts: HiveOptions = {}) {
    const rootId = opts.rootId ?? 'hive';
    const configs: Placed<ConfigCell>[] = [];
    this.walk(cells, rootId, '', 0, configs, true);
    for (const o of opts.overrides ?? []) {
      this.providers.set(o.token, { cell: o, module: rootId });
    }
    this.checkWiring();

    const flags = flagInfos(configs);
    this.logger = opts.logger ?? newRootLogger();
    const values = resolveConfig(flags, opts.config ?? {}, (m) => {
      this.logger.warn(m);
    });
    this.config = new ConfigStore(flags, values);
    this.setLogLevel(values.get('debug') === true);
    this.config.watch('debug').subscribe((v) => {
      this.setLogLevel(v === true);
    });

    this.lifecycle = new HiveLifecycle(
      {
        startMs: values.get('hive-start-timeout') as number,
        stopMs: values.get('hive-stop-timeout') as number,
      },
      (event, h) => {
        this.onHookEvent(event, h);
      },
    );
    this.shutdownPromise = new Promise((resolve) => {
      this.shutdownRequest = resolve;
    });

    const c = this.container;
    c.bind(HiveConfig).toConstantValue(this.config);
    c.bind(HealthTree).toConstantValue(this.health);
    c.bind(HiveJobs).toConstantValue(this.jobs);
    c.bind(HiveInfo).toConstantValue({
      phase: () => this.currentPhase,
      modules: this.modules,
      hooks: () => this.lifecycle.list(),
    });
    c.bind(Shutdowner).toConstantValue({
      shutdown: (err?: Error) => {
        this.shutdownRequest?.(err);
      },
    });
    for (const { cell } of configs) {
      const value: Record<string, unknown> = {};
      for (const name of Object.keys(cell.flags)) value[camelCase(name)] = values.get(name);
      c.bind(cell.token).toConstantValue(Object.freeze(value));
    }
    const configTokens = new Set<symbol>(configs.map((x) => x.cell.token));
    for (const [tok, { cell, module }] of this.providers) {
      if (configTokens.has(tok)) continue;
      // Optional dependencies nobody provides stay undefined and are not asked of the container.
      const keys = Object.keys(cell.deps).filter((k) => !this.isAbsent(cell.deps[k] as symbol));
      const depTokens = keys.map((k) => this.resolveToken(cell.deps[k] as symbol, module));
      c.bind(tok)
        .toResolvedValue((...args: unknown[]) => {
          const p: Record<string, unknown> = {};
          keys.forEach((k, i) => (p[k] = args[i]));
          return cell.factory(p);
        }, depTokens)
        .inSingletonScope();
    }
  }

  /** Runs every invoke in order, constructing what they need. Idempotent. */
  populate(): void {
    if (this.populated) return;
    this.populated = true;
    for (const { cell, module } of this.invokes) {
      const p: Record<string, unknown> = {};
      for (const [k, t] of Object.entries(cell.deps)) {
        p[k] = this.isAbsent(t) ? undefined : this.container.get(this.resolveToken(t, module));
      }
      try {
        cell.fn(p);
      } catch (e) {
        throw new WiringError(`invoke '${cell.name}' of module ${module} failed: ${String(e)}`, {
          cause: e,
        });
      }
    }
  }

  /** Populates if needed, then runs the start hooks; on failure what started is stopped. */
  async start(): Promise<void> {
    this.populate();
    const t0 = performance.now();
    this.currentPhase = 'starting';
    try {
      await this.lifecycle.start();
    } catch (e) {
      this.currentPhase = 'failed';
      throw e;
    }
    this.currentPhase = 'running';
    for (const m of this.modules) {
      if (m.provides.length + m.invokes.length + m.configs.length === 0) continue;
      if (!this.health.all().some((s) => s.id === m.id || s.id.startsWith(`${m.id}.`))) {
        this.health.report(m.id, 'ok', 'started');
      }
    }
    this.logger.info({ ms: Math.round(performance.now() - t0) }, 'hive started');
  }

  /** Runs the stop hooks of what started, in reverse order. */
  async stop(): Promise<void> {
    this.currentPhase = 'stopping';
    try {
      await this.lifecycle.stop();
    } finally {
      for (const m of this.modules) {
        if (m.provides.length + m.invokes.length > 0)
          this.health.report(m.id, 'stopped', 'stopped');
      }
      // Components report under their module; once stopped, none of them is still ok.
      for (const s of this.health.all()) {
        if (s.level !== 'stopped') this.health.report(s.id, 'stopped', 'stopped');
      }
      this.currentPhase = 'stopped';
      this.logger.info('hive stopped');
    }
  }

  /** Starts, waits for SIGINT/SIGTERM or a Shutdowner request, stops; returns an exit code. */
  async run(): Promise<number> {
    await this.start();
    const signals = ['SIGINT', 'SIGTERM'] as const;
    let onSignal: (() => void) | undefined;
    const signalled = new Promise<Error | undefined>((resolve) => {
      onSignal = () => {
        resolve(undefined);
      };
      for (const s of signals) process.once(s, onSignal);
    });
    const err = await Promise.race([signalled, this.shutdownPromise]);
    for (const s of signals) if (onSignal) process.off(s, onSignal);
    if (err) this.logger.error({ err }, 'shutdown requested');
    await this.stop();
    return err ? 1 : 0;
  }

  /** The object provided under `token`, after populating the hive. */
  get<T>(tok: Token<T>): T {
    this.populate();
    return this.container.get<T>(tok);
  }

  /** The provider of a token and its module, for `cellium-agent hive`. */
  providerOf(
    tok: symbol,
  ): { readonly module: string; readonly deps: readonly symbol[] } | undefined {
    const p = this.providers.get(tok);
    return p && { module: p.module, deps: Object.values(p.cell.deps) };
  }

  /** Every start hook in start order. */
  hooks(): readonly RegisteredHook[] {
    return this.lifecycle.list();
  }

  private setLogLevel(debug: boolean): void {
    if (this.logger.level === 'silent') return;
    this.logger.level = debug ? 'debug' : 'info';
    for (const log of this.moduleLoggers) log.level = this.logger.level;
  }

  private hookStarted = 0;

  private onHookEvent(event: string, h: RegisteredHook): void {
    if (event === 'starting' || event === 'stopping') {
      this.hookStarted = performance.now();
      return;
    }
    const ms = Math.round((performance.now() - this.hookStarted) * 10) / 10;
    const what = event === 'started' ? 'start hook executed' : 'stop hook executed';
    this.logger.info({ module: h.module, hook: h.name, ms }, what);
  }

  private walk(
    cells: readonly Cell[],
    id: string,
    description: string,
    depth: number,
    configs: Placed<ConfigCell>[],
    isRoot = false,
  ): void {
    const info: ModuleInfo = { id, description, depth, provides: [], invokes: [], configs: [] };
    if (!isRoot) this.modules.push(info);
    for (const cell of cells) {
      switch (cell.kind) {
        case 'module': {
          const childId = isRoot ? cell.id : `${id}.${cell.id}`;
          this.walk(cell.cells, childId, cell.description, isRoot ? 0 : depth + 1, configs);
          break;
        }
        case 'provide': {
          const prev = this.providers.get(cell.token);
          if (prev) {
            throw new WiringError(
              `${tokenName(cell.token)} is provided twice: by ${prev.module} and by ${id}`,
            );
          }
          this.providers.set(cell.token, { cell, module: id });
          (info.provides as ProvideCell[]).push(cell);
          break;
        }
        case 'invoke':
          this.invokes.push({ cell, module: id });
          (info.invokes as InvokeCell[]).push(cell);
          break;
        case 'config':
          if (this.providers.has(cell.token)) {
            throw new WiringError(`${tokenName(cell.token)} is provided twice (config of ${id})`);
          }
          configs.push({ cell, module: id });
          (info.configs as ConfigCell[]).push(cell);
          this.providers.set(cell.token, {
            cell: {
              kind: 'provide',
              token: cell.token,
              deps: {},
              factory: () => null,
              isPrivate: false,
            },
            module: id,
          });
          break;
      }
    }
  }

  private isProvided(t: symbol): boolean {
    const builtin: readonly symbol[] = [HiveConfig, HealthTree, HiveJobs, Shutdowner, HiveInfo];
    return SCOPED.includes(t) || builtin.includes(t) || this.providers.has(t);
  }

  private checkWiring(): void {
    const users: { deps: Record<string, symbol>; module: string; what: string }[] = [
      ...[...this.providers].map(([t, p]) => ({
        deps: p.cell.deps,
        module: p.module,
        what: `the constructor of ${tokenName(t)}`,
      })),
      ...this.invokes.map((i) => ({
        deps: i.cell.deps,
        module: i.module,
        what: `invoke '${i.cell.name}'`,
      })),
    ];
    for (const u of users) {
      for (const d of Object.values(u.deps)) {
        if (this.isAbsent(d)) continue;
        const dep = optionalTarget(d) ?? d;
        if (!this.isProvided(dep)) {
          throw new WiringError(
            `${u.what} in module ${u.module} needs ${tokenName(dep)}, which no cell in this hive provides`,
          );
        }
        const p = this.providers.get(dep);
        if (p?.cell.isPrivate && p.module !== u.module) {
          throw new WiringError(
            `${u.what} in module ${u.module} needs ${tokenName(dep)}, which is private to ${p.module}`,
          );
        }
      }
    }
    const state = new Map<symbol, 'visiting' | 'done'>();
    const visit = (t: symbol, path: symbol[]): void => {
      if (state.get(t) === 'done') return;
      if (state.get(t) === 'visiting') {
        const cycle = [...path.slice(path.indexOf(t)), t].map(tokenName).join(' → ');
        throw new WiringError(`circular dependency: ${cycle}`);
      }
      state.set(t, 'visiting');
      for (const d of Object.values(this.providers.get(t)?.cell.deps ?? {})) {
        visit(optionalTarget(d) ?? d, [...path, t]);
      }
      state.set(t, 'done');
    };
    for (const t of this.providers.keys()) visit(t, []);
  }

  /** An `optional(...)` dependency that no cell of this hive provides. */
  private isAbsent(t: symbol): boolean {
    const target = optionalTarget(t);
    return target !== undefined && !this.isProvided(target);
  }

  /** Maps a scoped builtin token (Lifecycle, Health, Jobs, Logger) to the module's own. */
  private resolveToken(dep: symbol, module: string): symbol {
    const t = optionalTarget(dep) ?? dep;
    if (!SCOPED.includes(t)) return t;
    let m = this.scoped.get(module);
    if (!m) {
      const lc = this.lifecycle.scoped(module);
      const health = this.health.forPath(module);
      const jobs = new JobGroup({
        lifecycle: lc,
        health,
        shutdowner: this.container.get(Shutdowner),
        module,
        registry: this.jobs,
      });
      const log = this.logger.child({ module });
      this.moduleLoggers.push(log);
      m = new Map();
      for (const [tok, value] of [
        [Lifecycle, lc],
        [Health, health],
        [Jobs, jobs],
        [Logger, log],
      ] as const) {
        const scopedTok = Symbol(`${tokenName(tok)}@${module}`);
        this.container.bind(scopedTok).toConstantValue(value);
        m.set(tok, scopedTok);
      }
      this.scoped.set(module, m);
    }
    return m.get(t) ?? t;
  }
}
