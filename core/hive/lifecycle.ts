import { token } from './token.js';
/** What a start or stop hook receives: aborted when the hook's timeout expires. */
export interface HookContext {
  readonly signal: AbortSignal;
}

/** A pair of start/stop functions; either may be absent. */
export interface Hook {
  onStart?(ctx: HookContext): void | Promise<void>;
  onStop?(ctx: HookContext): void | Promise<void>;
}

/** Where cells append hooks; the hive gives each module its own view, tagged with its id. */
export interface Lifecycle {
  append(hook: Hook, name?: string): void;
}

/** A hook as the hive keeps it: with the module that appended it. */
export interface RegisteredHook {
  readonly module: string;
  readonly name: string;
  readonly hook: Hook;
}

/** A start or stop hook that failed or timed out, naming the module and the cause. */
export class HookError extends Error {
  constructor(
    readonly phase: 'start' | 'stop',
    readonly hook: RegisteredHook,
    override readonly cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`${phase} hook '${hook.name}' of module ${hook.module} failed: ${why}`);
    this.name = 'HookError';
  }
}

/** A hook that did not finish in time. */
export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

async function runWithTimeout(
  fn: (ctx: HookContext) => void | Promise<void>,
  ms: number,
): Promise<void> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctl.abort(new TimeoutError(ms));
      reject(new TimeoutError(ms));
    }, ms);
  });
  try {
    await Promise.race([Promise.resolve().then(() => fn({ signal: ctl.signal })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Per-hook time limits, in milliseconds. */
export interface LifecycleTimeouts {
  readonly startMs: number;
  readonly stopMs: number;
}

/**
 * The hive's lifecycle: hooks start in the order they were appended (construction order, so
 * dependencies first) and stop in reverse; only started hooks are stopped.
 */
export class HiveLifecycle {
  private readonly hooks: RegisteredHook[] = [];
  private started: RegisteredHook[] = [];

  constructor(
    private readonly timeouts: LifecycleTimeouts,
    private readonly onEvent: (
      event: 'starting' | 'started' | 'stopping' | 'stopped',
      h: RegisteredHook,
    ) => void = () => undefined,
  ) {}

  /** A Lifecycle that tags the hooks it appends with `module`. */
  scoped(module: string): Lifecycle {
    return {
      append: (hook, name) => {
        this.hooks.push({ module, name: name ?? module.split('.').at(-1) ?? module, hook });
      },
    };
  }

  /** Every hook appended so far, in start order. */
  list(): readonly RegisteredHook[] {
    return this.hooks;
  }

  /** Whether any hook has started and not yet stopped. */
  get running(): boolean {
    return this.started.length > 0;
  }

  /**
   * Runs start hooks in order. Hooks appended while starting (jobs added by a start hook)
   * run too. On the first failure, stops what already started, in reverse, and throws.
   */
  async start(): Promise<void> {
    for (let i = this.started.length; i < this.hooks.length; i++) {
      const h = this.hooks[i];
      if (!h) break;
      this.onEvent('starting', h);
      try {
        if (h.hook.onStart)
          await runWithTimeout(h.hook.onStart.bind(h.hook), this.timeouts.startMs);
      } catch (e) {
        const err = new HookError('start', h, e);
        await this.stop().catch(() => undefined);
        throw err;
      }
      this.started.push(h);
      this.onEvent('started', h);
    }
  }

  /** Runs the stop hooks of started hooks in reverse; collects every failure. */
  async stop(): Promise<void> {
    const errors: HookError[] = [];
    while (this.started.length > 0) {
      const h = this.started.pop();
      if (!h) break;
      this.onEvent('stopping', h);
      try {
        if (h.hook.onStop) await runWithTimeout(h.hook.onStop.bind(h.hook), this.timeouts.stopMs);
      } catch (e) {
        errors.push(new HookError('stop', h, e));
      }
      this.onEvent('stopped', h);
    }
    this.started = [];
    const [first] = errors;
    if (errors.length === 1 && first) throw first;
    if (errors.length > 1)
      throw new AggregateError(errors, errors.map((e) => e.message).join('; '));
  }
}

/** The module-scoped lifecycle. */
export const Lifecycle = token<Lifecycle>('hive/Lifecycle');
