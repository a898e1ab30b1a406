import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { token, type Health, type Lifecycle, type Logger } from '../../core/hive/index.js';
import { closeServer, listenServer } from '../api/index.js';
import { parseServeAddr, type MetricsConfig } from './config.js';
import type { Metrics } from './metrics.js';

/** What the Prometheus listener needs. */
export interface PrometheusServerParams {
  readonly config: MetricsConfig;
  readonly metrics: Metrics;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}

/** The Prometheus listener: where it listens while the cell runs (undefined when off). */
export interface PrometheusServer {
  address(): AddressInfo | undefined;
}

/** The Prometheus listener (its address lets tests find a port they did not choose). */
export const PrometheusServer = token<PrometheusServer>('metrics/PrometheusServer');

/** Serves GET /metrics in Prometheus' text format, on --prometheus-serve-addr only. */
export function newPrometheusServer(p: PrometheusServerParams): PrometheusServer {
  const flag = p.config.prometheusServeAddr;
  let server: Server | undefined;
  if (flag === '') {
    p.health.ok('Prometheus endpoint off (--prometheus-serve-addr is empty)');
    return { address: () => undefined };
  }
  const { host, port } = parseServeAddr(flag);
  const { registry } = p.metrics;
  p.lifecycle.append(
    {
      onStart: async () => {
        const s = createServer((req, res) => {
          const path = (req.url ?? '/').split('?')[0];
          if (path !== '/metrics') {
            res.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics is served\n');
            return;
          }
          if (req.method !== 'GET' && req.method !== 'HEAD') {
            res.writeHead(405, { allow: 'GET, HEAD' }).end();
            return;
          }
          registry.metrics().then(
            (text) => {
              res.writeHead(200, { 'content-type': registry.contentType });
              res.end(req.method === 'HEAD' ? undefined : text);
            },
            (e: unknown) => {
              p.logger.error({ err: e }, 'collecting metrics failed');
              res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(e)}\n`);
            },
          );
        });
        s.keepAliveTimeout = 65_000;
        await listenServer(s, { host, port }).catch((e: unknown) => {
          const err = e as NodeJS.ErrnoException;
          const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.message;
          throw new Error(`--prometheus-serve-addr=${flag}: cannot listen: ${why}`, { cause: e });
        });
        s.on('error', (e) => p.logger.error({ err: e }, 'Prometheus listener failed'));
        server = s;
        p.health.ok(`serving /metrics on ${flag}`);
        p.logger.info({ addr: flag }, 'Prometheus metrics listening');
      },
      onStop: async () => {
        const s = server;
        server = undefined;
        if (!s) return;
        await closeServer(s);
        p.health.stopped('listener closed');
      },
    },
    'prometheus',
  );
  return {
    address: () => {
      const a = server?.address();
      return a !== null && typeof a === 'object' ? a : undefined;
    },
  };
}
