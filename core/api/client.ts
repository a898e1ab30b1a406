import { request as httpRequest, Agent, type IncomingMessage } from 'node:http';
import { defaultSocketPath } from './socket-path.js';

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
}

/** A small client of the agent's REST API v1 over its unix socket, as the CLI and CNI use it. */
export class ApiClient {
  private readonly agent = new Agent({ keepAlive: true });

  constructor(readonly socketPath: string = defaultSocketPath()) {}

  /** Sends a request to `/v1<path>`; resolves with the parsed JSON body (undefined if none). */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await readAll(res);
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    const status = res.statusCode ?? 0;
    if (status >= 400) throw replyError(method, path, status, body);
    return body as T;
  }

  /**
   * Sends a request whose reply is a stream (e.g. map events with follow=true); resolves with
   * the open response once its status is known. Destroy it to end the stream.
   */
  async stream(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const res = await this.send(method, path, opts);
    const status = res.statusCode ?? 0;
    if (status < 400) return res;
    const text = await readAll(res);
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: shown as it came
    }
    throw replyError(method, path, status, body);
  }

  private send(method: string, path: string, opts: RequestOptions): Promise<IncomingMessage> {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body) + '\n';
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          socketPath: this.socketPath,
          agent: this.agent,
          method,
          path: `/v1${path}`,
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
      req.on('error', (e: NodeJS.ErrnoException) => {
        reject(
          new AgentUnreachableError(
            `cannot reach cellium-agent at unix://${this.socketPath}: ${e.code ?? e.message}` +
              ' (is the agent running? set -H unix:///path or CELLIUM_SOCKET_PATH)',
          ),
        );
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agent.destroy();
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
  return new ApiClientError(status, `${method} /v1${path}: ${status}: ${msg}`);
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  404: 'not found',
  409: 'already exists',
  501: 'not implemented',
};
