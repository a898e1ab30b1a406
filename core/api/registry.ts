import type { OperationSpec } from './spec.js';
import type { ApiHandler, OperationId } from './types.js';

/**
 * Told of every request an operation answered (never of paths no operation has): the operation
 * (its path is the spec's template), the reply's status, and the seconds to the reply's head.
 */
export type ServedObserver = (op: OperationSpec, status: number, seconds: number) => void;

/** A handler failure with an HTTP status; the message becomes the JSON-string body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Extra reply headers (e.g. Retry-After on a 503). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A client's value as error messages show it: quoted, with invisible characters escaped. */
export function shown(value: string): string {
  return JSON.stringify(value);
}

/** A validated request to an operation of another spec (e.g. the health API), untyped. */
export interface RawRequest {
  readonly params: Readonly<Record<string, unknown>>;
  readonly query: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly body: unknown;
}

/** A reply to an operation of another spec: a documented status and its body. */
export interface RawReply {
  readonly status: number;
  readonly body?: unknown;
}

/** The routes cells have registered, by operation id. */
export class ApiRegistry {
  private readonly handlers = new Map<string, { handler: ApiHandler<never>; cell: string }>();
  private readonly observers: ServedObserver[] = [];

  /** Calls `fn` after every request an operation answered (e.g. request metrics). */
  observe(fn: ServedObserver): void {
    this.observers.push(fn);
  }

  /** Whether anything observes requests (so the app measures them only then). */
  hasObservers(): boolean {
    return this.observers.length > 0;
  }

  /** Tells the observers of a request an operation answered. */
  report(op: OperationSpec, status: number, seconds: number): void {
    for (const fn of this.observers) fn(op, status, seconds);
  }

  /** Serves `op` with `handler`; `cell` names the registering cell (for `hive`/debugging). */
  handle<K extends OperationId>(op: K, handler: NoInfer<ApiHandler<K>>, cell = 'unknown'): void {
    const prev = this.handlers.get(op);
    if (prev) throw new Error(`API operation ${op} is already served by ${prev.cell}`);
    this.handlers.set(op, { handler: handler as unknown as ApiHandler<never>, cell });
  }

  /**
   * Serves `op` of a spec other than the agent's v1 API (whose operation ids `handle` types):
   * the request is validated against that spec all the same.
   */
  handleRaw(
    op: string,
    handler: (req: RawRequest) => RawReply | Promise<RawReply>,
    cell = 'unknown',
  ): void {
    this.handle(op as OperationId, handler as unknown as never, cell);
  }

  /** The handler of an operation, if a cell registered one. */
  get(op: string): ApiHandler<never> | undefined {
    return this.handlers.get(op)?.handler;
  }

  /** Operation ids that have handlers. */
  served(): string[] {
    return [...this.handlers.keys()].sort();
  }
}
