import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import {
  createApiApp,
  dotSegmentProblem,
  loadSpec,
  type ApiRegistry,
} from '../../core/api/index.js';
import { token, type Health, type Lifecycle, type Logger } from '../../core/hive/index.js';
import type { ApiConfig } from './config.js';
import {
  closeServer,
  listenOnSocket,
  prepareSocketPath,
  removeSocket,
  type SocketFile,
} from './socket.js';

/** The running API server: its hono app (for tests) and where it listens. */
export interface ApiServer {
  readonly app: Hono;
  readonly socketPath: string;
}

/** The API server (its hono app lets tests call `app.request()` without a socket). */
export const ApiServer = token<ApiServer>('api/ApiServer');

/** What the API server needs. */
export interface ApiServerParams {
  readonly config: ApiConfig;
  readonly routes: ApiRegistry;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}

/** Serves the API on the configured unix socket while the cell runs; no TCP listener. */
export function newApiServer(p: ApiServerParams): ApiServer {
  const app = createApiApp({
    spec: loadSpec(),
    registry: p.routes,
    logger: p.logger,
    bodyLimit: p.config.apiBodyLimit,
    validateResponses: process.env.CELLIUM_VALIDATE_RESPONSES === '1',
  });
  const path = p.config.socketPath;
  let server: Server | undefined;
  let socket: SocketFile | undefined;
  p.lifecycle.append(
    {
      // A start that fails leaves no socket: listenOnSocket cleans up after itself, and the
      // hive stops this hook (removing the socket) when a later one fails.
      onStart: async () => {
        await prepareSocketPath(path);
        const listener = getRequestListener(app.fetch);
        const s = createServer((req, res) => {
          const why = dotSegmentProblem(req.url ?? '');
          if (why === undefined) {
            void listener(req, res);
            return;
          }
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify(why));
        });
        socket = await listenOnSocket(s, path, p.config.apiSocketGroup);
        server = s;
        p.health.ok(`serving on unix://${path}`);
        p.logger.info({ socket: path }, 'API listening');
      },
      onStop: async () => {
        const s = server;
        const file = socket;
        server = undefined;
        socket = undefined;
        if (s) await closeServer(s);
        if (file) await removeSocket(path, file);
        p.health.stopped('socket closed');
      },
    },
    'api-server',
  );
  return { app: app as unknown as Hono, socketPath: path };
}
