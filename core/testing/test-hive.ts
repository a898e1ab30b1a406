import { onTestFinished } from 'vitest';
import type { Cell, ProvideCell } from '../hive/cell.js';
import { errorMessage } from '../hive/health.js';
import { Hive } from '../hive/hive.js';
import { newRootLogger } from '../hive/logger.js';
import type { Token } from '../hive/token.js';

/** How a test hive is built: the cells under test, doubles that replace providers, flag values. */
export interface TestHiveOptions {
  readonly overrides?: readonly ProvideCell[];
  readonly flags?: Readonly<Record<string, unknown>>;
  /** Log to stderr instead of staying silent. */
  readonly verbose?: boolean;
}

/** A hive for tests: silent, with `requireStart`/`requireStop` and typed access to objects. */
export class TestHive {
  readonly hive: Hive;
  private running = false;

  constructor(cells: readonly Cell[], opts: TestHiveOptions = {}) {
    this.hive = new Hive(cells, {
      config: { values: opts.flags ?? {} },
      overrides: opts.overrides ?? [],
      logger: newRootLogger({ silent: !opts.verbose, level: 'debug' }),
      rootId: 'test',
    });
  }

  /** The object provided under a token. */
  get<T>(tok: Token<T>): T {
    return this.hive.get(tok);
  }

  /** Starts the hive and stops it when the current test finishes, whatever happens. */
  async requireStart(): Promise<this> {
    onTestFinished(async () => {
      if (this.running) await this.requireStop();
    });
    await this.hive.start();
    this.running = true;
    return this;
  }

  /** Stops the hive; throws if a stop hook failed. */
  async requireStop(): Promise<void> {
    this.running = false;
    await this.hive.stop();
  }
}

/** Builds a test hive (not started): `const h = testHive([ipamCell], { overrides: [...] })`. */
export function testHive(cells: readonly Cell[], opts?: TestHiveOptions): TestHive {
  return new TestHive(cells, opts);
}

/** Polls `fn` until it returns a truthy value, or fails after `timeoutMs` (event waits only). */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<Exclude<T, undefined | null | false | 0 | ''>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as Exclude<T, undefined | null | false | 0 | ''>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(
        `condition not met within ${timeoutMs} ms${last ? `: ${errorMessage(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
