import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenServer } from '../api/index.js';
import type { Model } from '../../core/api/index.js';
import { flag, token, type ConfigOf, type Lifecycle, type Logger } from '../../core/hive/index.js';

/** The kubelet's health port, as Cilium's `--agent-health-port`. */
export const agentHealthFlags = {
  'agent-health-port': flag.int(
    9879,
    'TCP port on localhost (127.0.0.1 and ::1) where plain HTTP GET /healthz answers 200 while the agent is Ok and 503 otherwise, for the kubelet; 0: none',
    { min: 0, max: 65535 },
  ),
} as const;

/** The kubelet health port's settings. */
export type AgentHealthConfig = ConfigOf<typeof agentHealthFlags>;

/** The kubelet health port's settings. */
export const AgentHealthConfig = token<AgentHealthConfig>('agenthealth/AgentHealthConfig');

/** What the health port needs. */
export interface AgentHealthParams {
  readonly config: AgentHealthConfig;
  /** The overall state, as /v1/healthz computes it (it never waits on a probe). */
  readonly status: () => Model<'Status'>;
  readonly lifecycle: Lifecycle;
  readonly logger: Logger;
}

/** The reply of GET /healthz: 200 when Ok or Disabled, 503 otherwise; the state and message. */
export function agentHealthReply(s: Model<'Status'>): { code: number; body: string } {
  const state = s.state ?? 'Failure';
  const healthy = state === 'Ok' || state === 'Disabled';
  return { code: healthy ? 200 : 503, body: `${state}${s.msg ? `: ${s.msg}` : ''}\n` };
}

/**
 * Serves Cilium's agent health endpoint: plain HTTP on 127.0.0.1 and ::1 (when the node has
 * IPv6 loopback) at `--agent-health-port`. A port already taken fails the start naming the flag.
 */
export function newAgentHealthServer(p: AgentHealthParams): void {
  const port = p.config.agentHealthPort;
  if (port === 0) return;
  const servers: Server[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('only GET /healthz is served here\n');
      return;
    }
    const { code, body } = agentHealthReply(p.status());
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
  };
  p.lifecycle.append(
    {
      onStart: async () => {
        for (const host of ['127.0.0.1', '::1']) {
          const server = createServer(handler);
          try {
            await listenServer(server, { port, host, exclusive: true });
            servers.push(server);
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            // No IPv6 loopback here (a namespace or node without it): IPv4 serves the kubelet.
            if (host === '::1' && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) {
              p.logger.info({ port }, 'no IPv6 loopback: agent health on 127.0.0.1 only');
              continue;
            }
            await Promise.all(servers.splice(0).map(closeServer));
            const why = code === 'EADDRINUSE' ? 'is already in use' : `cannot be opened (${code})`;
            throw new Error(
              `--agent-health-port=${port}: ${host === '::1' ? `[${host}]` : host}:${port} ${why}; choose another port, or 0 for none`,
              { cause: e },
            );
          }
        }
        p.logger.info({ port }, 'agent health served on localhost');
      },
      onStop: async () => {
        await Promise.all(servers.splice(0).map(closeServer));
      },
    },
    'agent-health',
  );
}
