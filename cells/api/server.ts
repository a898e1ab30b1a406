import { unlink } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import { createApiApp, loadSpec, type ApiRegistry } from '../../core/api/index.js';
import { token, type Health, type Lifecycle, type Logger } from '../../core/hive/index.js';
import type { ApiConfig } from './config.js';
import { prepareSocketPath, secureSocket } from './socket.js';

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

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
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
  p.lifecycle.append(
    {
      onStart: async () => {
        await prepareSocketPath(path);
        const s = createAdaptorServer({ fetch: app.fetch }) as Server;
        server = s;
        await listen(s, path);
        await secureSocket(path, p.config.apiSocketGroup);
        p.health.ok(`serving on unix://${path}`);
        p.logger.info({ socket: path }, 'API listening');
      },
      onStop: async () => {
        const s = server;
        server = undefined;
        if (s) {
          const closed = new Promise<void>((resolve) => s.close(() => resolve()));
          s.closeAllConnections();
          await closed;
        }
        await unlink(path).catch(() => undefined);
        p.health.stopped('socket closed');
      },
    },
    'api-server',
  );
  return { app: app as unknown as Hono, socketPath: path };
}
