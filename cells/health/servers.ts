// The two servers of the health cell: HTTP on the node's IPs at the cluster health port (what
// other nodes' probers reach, as Cilium's cilium-health listens on the node), and the health
// API on its own unix socket (base path /v1beta), validated against api-spec/health.yaml.
import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { ApiRegistry, createApiApp, loadSpecFile } from '../../core/api/index.js';
import type { Logger } from '../../core/hive/index.js';
import {
  closeServer,
  listenOnSocket,
  listenServer,
  prepareSocketPath,
  removeSocket,
  type SocketFile,
} from '../api/index.js';

/** An HTTP server answering 200 on every IP it is given; an IP it cannot bind is reported. */
export class NodeHealthServer {
  private readonly servers: Server[] = [];

  constructor(
    private readonly port: number,
    private readonly logger: Logger,
  ) {}

  /** Listens on each IP; resolves with the errors of those it could not bind. */
  async start(ips: readonly string[]): Promise<string[]> {
    const errors: string[] = [];
    for (const ip of ips) {
      const s = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('cellium-health\n');
      });
      try {
        await listenServer(s, { port: this.port, host: ip });
        this.servers.push(s);
        this.logger.info({ ip, port: this.port }, 'health server listening');
      } catch (e) {
        errors.push(`${ip}:${this.port}: ${(e as Error).message}`);
      }
    }
    return errors;
  }

  /** Closes every listener. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.splice(0).map((s) => closeServer(s)));
  }
}

/** The health API on a unix socket. */
export class HealthApiServer {
  /** Where the health cell registers its handlers. */
  readonly routes = new ApiRegistry();
  private server: Server | undefined;
  private file: SocketFile | undefined;

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** The hono app (tests call `app.request()` on it). */
  app(): ReturnType<typeof createApiApp> {
    return createApiApp({
      spec: loadSpecFile('health.yaml'),
      registry: this.routes,
      logger: this.logger,
      bodyLimit: 1 << 16,
      validateResponses: process.env.CELLIUM_VALIDATE_RESPONSES === '1',
    });
  }

  /** Serves on the socket (mode 0660, as the agent's API). */
  async start(): Promise<void> {
    await prepareSocketPath(this.path);
    const listener = getRequestListener(this.app().fetch);
    const s = createServer((req, res) => void listener(req, res));
    this.file = await listenOnSocket(s, this.path, '');
    this.server = s;
    this.logger.info({ socket: this.path }, 'health API listening');
  }

  /** Closes it and removes its socket (if it is still ours). */
  async stop(): Promise<void> {
    const s = this.server;
    const f = this.file;
    this.server = undefined;
    this.file = undefined;
    if (s) await closeServer(s);
    if (f) await removeSocket(this.path, f);
  }
}
