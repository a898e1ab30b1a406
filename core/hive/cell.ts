import type { Deps, Resolved, Token } from './token.js';
import type { FlagSet } from './flags.js';

/** Registers a constructor under a token; it runs lazily, once, when something needs it. */
export interface ProvideCell {
  readonly kind: 'provide';
  readonly token: Token<unknown>;
  readonly deps: Deps;
  readonly factory: (p: Record<string, unknown>) => unknown;
  /** Only cells of the same module may depend on a private provider. */
  readonly isPrivate: boolean;
}

/** Code that runs when the hive is populated: forces construction and wires things. */
export interface InvokeCell {
  readonly kind: 'invoke';
  readonly name: string;
  readonly deps: Deps;
  readonly fn: (p: Record<string, unknown>) => void;
}

/** A cell's flags: their schema and defaults, provided as a typed value under a token. */
export interface ConfigCell {
  readonly kind: 'config';
  readonly token: Token<unknown>;
  readonly flags: FlagSet;
}

/** A named group of cells with its own logger, lifecycle and health scope. */
export interface ModuleCell {
  readonly kind: 'module';
  readonly id: string;
  readonly description: string;
  readonly cells: readonly Cell[];
}

/** Anything a hive is built from. */
export type Cell = ProvideCell | InvokeCell | ConfigCell | ModuleCell;

const MODULE_ID = /^[a-z][a-z0-9_-]{1,30}$/;
const MODULE_DESC = /^[a-zA-Z0-9_\- ,.:()/']{1,80}$/;

/** Groups cells under a short lowercase id and a one-line description. */
export function module(id: string, description: string, ...cells: Cell[]): ModuleCell {
  if (!MODULE_ID.test(id)) throw new Error(`module id '${id}' must match ${MODULE_ID.source}`);
  if (!MODULE_DESC.test(description)) {
    throw new Error(`module '${id}': description must be one line of at most 80 characters`);
  }
  return { kind: 'module', id, description, cells };
}

/** Provides `token` from a factory that takes one params object built from `deps`. */
export function provide<T, D extends Deps>(
  token: Token<T>,
  deps: D,
  factory: (p: Resolved<D>) => T,
): ProvideCell {
  return {
    kind: 'provide',
    token,
    deps,
    factory: factory as (p: Record<string, unknown>) => unknown,
    isPrivate: false,
  };
}

/** Like `provide`, but visible only inside the enclosing module. */
export function providePrivate<T, D extends Deps>(
  token: Token<T>,
  deps: D,
  factory: (p: Resolved<D>) => T,
): ProvideCell {
  return { ...provide(token, deps, factory), isPrivate: true };
}

/** Provides a ready-made value (test doubles, constants). */
export function provideValue<T>(token: Token<T>, value: T): ProvideCell {
  return provide(token, {}, () => value);
}

/** Runs `fn` with its dependencies when the hive is populated. */
export function invoke<D extends Deps>(
  name: string,
  deps: D,
  fn: (p: Resolved<D>) => void,
): InvokeCell {
  return { kind: 'invoke', name, deps, fn: fn as (p: Record<string, unknown>) => void };
}

/** Declares a cell's flags; the parsed, validated values are provided under `token`. */
export function config<F extends FlagSet>(token: Token<unknown>, flags: F): ConfigCell {
  return { kind: 'config', token, flags };
}
