import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import { defaultSocketPath } from './socket-path.js';
import { WireError, WirePool } from './wire.js';

/** The agent answered with an error status; `message` is its JSON-string body. */
export class ApiClientError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiClientError';
  }
}

/** The agent could not be reached at all. */
export class AgentUnreachableError extends Error {
  override name = 'AgentUnreachableError';
}

/** Turns `-H unix:///path` (or a bare path) into a socket path. */
export function socketFromHost(host: string | undefined): string {
  if (host === undefined || host === '') return defaultSocketPath();
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw new Error(`unsupported host '${host}': use unix:///path/to/cellium.sock`);
}

/** Options of one request. */
export interface RequestOptions {
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** request() only: called once the request is sent, while the agent handles it. */
  readonly onSent?: () => void;
}

/** A small client of the agent's REST API v1 over its unix socket, as the CLI and CNI use it. */
export class ApiClient {
  private readonly pool: WirePool;
  private httpAgent?: HttpAgent;

  constructor(
    readonly socketPath: string = defaultSocketPath(),
    /** The API's base path: `/v1`, or `/v1beta` for the health API. */
    readonly basePath = '/v1',
  ) {
    this.pool = new WirePool(socketPath);
  }

  /** Sends a request to `<base><path>`; resolves with the parsed JSON body (undefined if none). */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body) + '\n';
    let reply;
    try {
      reply = await this.pool.send({
        method,
        path: `${this.basePath}${path}`,
        headers: {
          accept: 'application/json',
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        ...(payload !== undefined ? { body: payload } : {}),
        ...(opts.onSent ? { onSent: opts.onSent } : {}),
      });
    } catch (e) {
      throw this.unreachable(e);
    }
    const text = reply.body.toString('utf8');
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    if (reply.status >= 400)
      throw replyError(method, `${this.basePath}${path}`, reply.status, body);
    return body as T;
  }

  /**
   * Sends a request whose reply is a stream (e.g. map events with follow=true); resolves with
   * the open response once its status is known. Destroy it to end the stream.
   */
  async stream(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    // node:http only here: loading it costs a short-lived process more than the request.
    const http = await import('node:http');
    this.httpAgent ??= new http.Agent({ keepAlive: true });
    const agent = this.httpAgent;
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body) + '\n';
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          agent,
          method,
          path: `${this.basePath}${path}`,
          headers: {
            host: 'localhost',
            accept: 'application/json',
            ...(payload !== undefined
              ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
              : {}),
            ...opts.headers,
          },
        },
        resolve,
      );
      req.on('error', (e) => reject(this.unreachable(e)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status < 400) return res;
    const text = await readAll(res);
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: shown as it came
    }
    throw replyError(method, `${this.basePath}${path}`, status, body);
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.pool.close();
    this.httpAgent?.destroy();
  }

  private unreachable(e: unknown): Error {
    if (e instanceof TypeError) return e; // a header with a line break: the caller's mistake
    const err = e as NodeJS.ErrnoException;
    const code = e instanceof WireError ? e.code : (err.code ?? err.message);
    if (code === 'EPROTO') return e as Error;
    return new AgentUnreachableError(
      `cannot reach cellium-agent at unix://${this.socketPath}: ${code}` +
        ' (is the agent running? set -H unix:///path or CELLIUM_SOCKET_PATH)',
    );
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** An error reply as the CLI shows it: the request, the status and the agent's message. */
function replyError(method: string, path: string, status: number, body: unknown): ApiClientError {
  const msg =
    body === undefined
      ? (STATUS_TEXT[status] ?? 'no message')
      : typeof body === 'string'
        ? body
        : JSON.stringify(body);
  return new ApiClientError(status, `${method} ${path}: ${status}: ${msg}`);
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  404: 'not found',
  409: 'already exists',
  501: 'not implemented',
};
