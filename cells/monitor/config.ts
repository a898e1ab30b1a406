import { dirname, join } from 'node:path';
import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** The monitor socket's file name (Cilium's), beside the API socket unless a flag says otherwise. */
export const MONITOR_SOCKET_NAME = 'monitor1_2.sock';

/**
 * The monitor socket of the agent whose API socket is `apiSocket`: --monitor-socket-path if set,
 * else monitor1_2.sock beside it (/var/run/cellium/monitor1_2.sock for root's default).
 */
export function monitorSocketPath(flagValue: string, apiSocket: string): string {
  return flagValue !== '' ? flagValue : join(dirname(apiSocket), MONITOR_SOCKET_NAME);
}

/** The monitor cell's flags. */
export const monitorFlags = {
  'monitor-socket-path': flag.string(
    '',
    `Unix socket monitor clients (cellium monitor) read events from, mode 0660 (empty: ${MONITOR_SOCKET_NAME} beside --socket-path)`,
  ),
  'monitor-aggregation': flag.oneOf(
    ['none', 'low', 'medium', 'maximum'],
    'medium',
    'How much the datapath traces while a monitor listens: none (every packet, every point), low (every packet, once), medium (new flows and TCP SYN/FIN/RST), maximum (new flows only)',
  ),
  'monitor-queue-size': flag.int(
    4096,
    'Events a monitor client may have waiting before events for it are dropped (and counted as lost)',
    { min: 1, max: 1 << 20 },
  ),
} as const;

/** The monitor cell's configuration. */
export type MonitorConfig = ConfigOf<typeof monitorFlags>;

/** The monitor cell's configuration. */
export const MonitorConfig = token<MonitorConfig>('monitor/MonitorConfig');
