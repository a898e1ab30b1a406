import { request as httpRequest, Agent } from 'node:http';
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
  request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body) + '\n';
    return new Promise<T>((resolve, reject) => {
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
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = text === '' ? undefined : JSON.parse(text);
            } catch {
              body = text;
            }
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              const msg = typeof body === 'string' ? body : JSON.stringify(body);
              reject(new ApiClientError(status, `${method} /v1${path}: ${status}: ${msg}`));
            } else resolve(body as T);
          });
          res.on('error', reject);
        },
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
