import { isIP } from 'node:net';
import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** Where the Prometheus listener binds: a host (undefined: every address) and a port. */
export interface ServeAddr {
  readonly host: string | undefined;
  readonly port: number;
}

const ADDR = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/;
const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62}))*$/;

/**
 * Parses `--prometheus-serve-addr` as Cilium reads it (`:9962`, `127.0.0.1:9962`,
 * `[::1]:9962`, `localhost:9962`); throws saying what is wrong.
 */
export function parseServeAddr(v: string): ServeAddr {
  const m = ADDR.exec(v);
  if (!m) throw new Error(`'${v}' is not [host]:port (like :9962 or 127.0.0.1:9962)`);
  const [, bracketed, plain, portText = ''] = m;
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new Error(`'${v}': port must be 1 to 65535`);
  if (bracketed !== undefined) {
    if (isIP(bracketed) !== 6) throw new Error(`'${v}': [${bracketed}] is not an IPv6 address`);
    return { host: bracketed, port };
  }
  const host = plain ?? '';
  if (host === '') return { host: undefined, port };
  if (isIP(host) === 0 && (/^[\d.]+$/.test(host) || !HOSTNAME.test(host))) {
    throw new Error(`'${v}': '${host}' is not an IP address or host name`);
  }
  return { host, port };
}

/** The metrics cell's flags. */
export const metricsFlags = {
  'prometheus-serve-addr': {
    ...flag.string(
      '',
      'Serve Prometheus metrics (GET /metrics) on this TCP address, e.g. :9962 or 127.0.0.1:9962; empty: off',
    ),
    check: (v: string): string | undefined => {
      if (v === '') return undefined;
      try {
        parseServeAddr(v);
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    },
  },
} as const;

/** The metrics cell's configuration. */
export type MetricsConfig = ConfigOf<typeof metricsFlags>;

/** The metrics cell's configuration. */
export const MetricsConfig = token<MetricsConfig>('metrics/MetricsConfig');
