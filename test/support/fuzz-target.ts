import { request as httpRequest } from 'node:http';
import { createConnection } from 'node:net';

/** One request as the fuzzer sends it: the path already encoded, the body as raw text. */
export interface FuzzRequest {
  /** The operation id (or a label for requests outside the spec). */
  readonly op: string;
  readonly method: string;
  /** Under /v1, with the query string: `/endpoint/cilium-local%3A0?x=1`. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** What was generated or mutated, for the report. */
  readonly note: string;
}

/** A reply: status, a header lookup, the raw text and the parsed JSON (undefined if none). */
export interface FuzzReply {
  readonly status: number;
  readonly header: (name: string) => string | undefined;
  readonly text: string;
  readonly json: unknown;
}

/** Something the fuzzer sends requests to: the in-process app or a unix socket. */
export interface FuzzTarget {
  send(req: FuzzRequest): Promise<FuzzReply>;
}

/**
 * The server closed the connection while the request body was still being written (as it may
 * for a body it does not read), before any reply arrived.
 */
export class ClosedEarlyError extends Error {
  override name = 'ClosedEarlyError';
}

/** The request took longer than the hang limit: the agent never answered. */
export class HangError extends Error {
  override name = 'HangError';
}

function parse(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

/** Races `p` against a generous limit that only detects a hang (never asserts speed). */
export function withHangLimit<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HangError(`no answer within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

/**
 * How long a streamed reply (map events with follow=true never ends) is read after its last
 * chunk before the fuzzer hangs up, as a client that has seen enough.
 */
export const STREAM_IDLE_MS = 300;

/** Whether a reply is a stream of JSON objects (the API marks those `cache-control: no-cache`). */
export function isStreamReply(header: (name: string) => string | undefined): boolean {
  return header('cache-control') === 'no-cache';
}

/** A target that calls a hono app's `request()` (no socket). */
export function appTarget(app: {
  request(path: string, init?: RequestInit): Response | Promise<Response>;
}): FuzzTarget {
  return {
    async send(req) {
      // fetch's Request cannot carry a GET body (and the app reads those only from a socket).
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body;
      const res = await app.request(`/v1${req.path}`, {
        method: req.method,
        headers: req.headers,
        ...(body === undefined ? {} : { body }),
      });
      const header = (n: string): string | undefined => res.headers.get(n) ?? undefined;
      const text = isStreamReply(header) ? await readStream(res) : await res.text();
      return {
        status: res.status,
        header,
        text,
        json: parse(text),
      };
    },
  };
}

/** Reads a streamed fetch reply until it ends or goes quiet, then cancels it. */
async function readStream(res: Response): Promise<string> {
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = res.body?.getReader();
  if (!reader) return '';
  const dec = new TextDecoder();
  let text = '';
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const quiet = new Promise<'quiet'>(
      (r) => (timer = setTimeout(() => r('quiet'), STREAM_IDLE_MS)),
    );
    const next = await Promise.race([reader.read(), quiet]).finally(() => clearTimeout(timer));
    if (next === 'quiet') {
      await reader.cancel();
      return text;
    }
    if (next.done) return text;
    text += dec.decode(next.value, { stream: true });
  }
}

/** A target that speaks HTTP/1.1 over a unix socket, one connection per request. */
export function socketTarget(socketPath: string): FuzzTarget {
  return {
    send: (req) =>
      new Promise<FuzzReply>((resolve, reject) => {
        const payload = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
        const r = httpRequest(
          {
            socketPath,
            method: req.method,
            path: `/v1${req.path}`,
            headers: {
              host: 'localhost',
              connection: 'close',
              ...(payload ? { 'content-length': payload.length } : {}),
              ...req.headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            const header = (n: string): string | undefined => {
              const v = res.headers[n.toLowerCase()];
              return Array.isArray(v) ? v.join(', ') : v;
            };
            const done = (): void => {
              clearTimeout(idle);
              const text = Buffer.concat(chunks).toString('utf8');
              resolve({ status: res.statusCode ?? 0, header, text, json: parse(text) });
            };
            // A stream that goes quiet is read as far as it got, then the fuzzer hangs up.
            const stream = isStreamReply(header);
            let idle: NodeJS.Timeout | undefined;
            const quiet = (): void => {
              if (!stream) return;
              clearTimeout(idle);
              idle = setTimeout(() => {
                res.destroy();
                done();
              }, STREAM_IDLE_MS);
            };
            quiet();
            res.on('data', (c: Buffer) => {
              chunks.push(c);
              quiet();
            });
            res.on('error', reject);
            res.on('end', done);
          },
        );
        r.on('error', (e: NodeJS.ErrnoException) => {
          const early = payload && (e.code === 'EPIPE' || e.code === 'ECONNRESET');
          reject(early ? new ClosedEarlyError(`${e.code ?? ''} while sending the body`) : e);
        });
        if (payload) r.write(payload);
        r.end();
      }),
  };
}

/**
 * Writes raw bytes to the socket (broken HTTP, lying content-length, early close) and resolves
 * with whatever came back once the server closes or `waitMs` passes.
 */
export function rawExchange(socketPath: string, bytes: Buffer, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = createConnection(socketPath);
    let got = '';
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, waitMs);
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', done);
    s.on('close', done);
    s.write(bytes);
  });
}
