import type { components as HealthComponents } from './health.gen.js';
import type { components, operations } from './spec.gen.js';

/** Every operation id of the API (`GetHealthz`, `PutEndpointID`, ...). */
export type OperationId = keyof operations;

/** A model of the API by name: `Model<'StatusResponse'>`. */
export type Model<K extends keyof components['schemas']> = components['schemas'][K];

/** A model of the health API (api-spec/health.yaml) by name: `HealthModel<'NodeStatus'>`. */
export type HealthModel<K extends keyof HealthComponents['schemas']> =
  HealthComponents['schemas'][K];

type Op<K extends OperationId> = operations[K];
type Part<K extends OperationId, P extends 'path' | 'query' | 'header'> = [
  NonNullable<Op<K>['parameters'][P]>,
] extends [never]
  ? Record<string, never>
  : NonNullable<Op<K>['parameters'][P]>;

type BodyOf<R> = R extends { content: { 'application/json': infer B } } ? B : undefined;

/** A validated request for one operation: params, query and headers coerced to their types. */
export interface ApiRequest<K extends OperationId> {
  readonly params: Part<K, 'path'>;
  readonly query: Part<K, 'query'>;
  /** Header names are lower-case. */
  readonly headers: Part<K, 'header'>;
  /** Absent when the body is optional and was not sent. */
  readonly body: undefined extends Op<K>['requestBody']
    ? BodyOf<NonNullable<Op<K>['requestBody']>> | undefined
    : BodyOf<NonNullable<Op<K>['requestBody']>>;
}

const STREAM = Symbol('api-stream');

/**
 * A reply body written over time, for a 200 whose spec says `type: string, format: binary`:
 * `run` sends JSON objects (written one per line) until it returns or `signal` aborts (the
 * client went away, or the server is closing). `send` answers false once the client has more
 * than STREAM_HIGH_WATER bytes unread, so a producer can give up on a client that stopped
 * reading.
 */
export interface ApiStream {
  readonly [STREAM]: true;
  run(send: (obj: unknown) => boolean, signal: AbortSignal): Promise<void>;
}

/** Unread bytes a streamed reply holds for its client before `send` answers false. */
export const STREAM_HIGH_WATER = 1 << 20;

/** A streamed reply body (see ApiStream). */
export function apiStream(run: ApiStream['run']): ApiStream {
  return { [STREAM]: true, run };
}

/** Whether a handler's reply body is a stream. */
export function isApiStream(body: unknown): body is ApiStream {
  return typeof body === 'object' && body !== null && STREAM in body;
}

type ReplyBody<S, B> = S extends 200 ? ([B] extends [string] ? B | ApiStream : B) : B;

/** A reply: one of the operation's documented statuses and its body. */
export type ApiReply<K extends OperationId> = {
  [S in keyof Op<K>['responses']]: BodyOf<Op<K>['responses'][S]> extends undefined
    ? { readonly status: S; readonly body?: undefined }
    : { readonly status: S; readonly body: ReplyBody<S, BodyOf<Op<K>['responses'][S]>> };
}[keyof Op<K>['responses']];

/** A handler of one operation. */
export type ApiHandler<K extends OperationId> = (
  req: ApiRequest<K>,
) => ApiReply<K> | Promise<ApiReply<K>>;

type Optional<T> = Record<string, never> extends T ? { readonly [P in keyof T]?: T[P] } : T;
type OptionalWhenEmpty<K extends string, T> =
  Record<string, never> extends T ? { readonly [P in K]?: T } : { readonly [P in K]: T };

/** What a client sends for one operation: path params, query, headers, body. */
export type CallArgs<K extends OperationId> = OptionalWhenEmpty<'params', Part<K, 'path'>> & {
  readonly query?: Optional<Part<K, 'query'>>;
  readonly headers?: Optional<Part<K, 'header'>>;
} & (undefined extends Op<K>['requestBody']
    ? { readonly body?: BodyOf<NonNullable<Op<K>['requestBody']>> }
    : { readonly body: BodyOf<NonNullable<Op<K>['requestBody']>> });

type SuccessStatus = 200 | 201 | 202 | 206;

/** The body of an operation's success reply (undefined when it has none). */
export type Success<K extends OperationId> = {
  [S in keyof Op<K>['responses']]: S extends SuccessStatus ? BodyOf<Op<K>['responses'][S]> : never;
}[keyof Op<K>['responses']];
