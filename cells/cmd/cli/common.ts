import type { Command } from 'commander';
import { socketFromHost } from '../../../core/api/client.js';
import { CelliumClient } from '../../../core/api/typed-client.js';

/** The options every command takes (`-H`, `-o`). */
export interface Globals {
  readonly host?: string;
  readonly output?: 'json' | 'table';
}

/** Whether the user asked for JSON (`-o json`). */
export function wantsJson(cmd: Command): boolean {
  return cmd.optsWithGlobals<Globals>().output === 'json';
}

/**
 * Runs `fn` with a typed client of the agent at `-H` (or the default socket) and closes its
 * connections afterwards, whatever happens.
 */
export async function withClient<T>(
  cmd: Command,
  fn: (api: CelliumClient) => Promise<T>,
): Promise<T> {
  const api = new CelliumClient(socketFromHost(cmd.optsWithGlobals<Globals>().host));
  try {
    return await fn(api);
  } finally {
    api.close();
  }
}

/** Prints `value` as indented JSON with `-o json`, else the text `text()` renders. */
export function print(cmd: Command, value: unknown, text: () => string): void {
  process.stdout.write(wantsJson(cmd) ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/** Splits `KEY=VALUE` arguments; anything else is an error naming the argument. */
export function keyValues(args: readonly string[]): [string, string][] {
  return args.map((a) => {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new Error(`'${a}' is not OPTION=VALUE`);
    return [a.slice(0, eq), a.slice(eq + 1)];
  });
}
