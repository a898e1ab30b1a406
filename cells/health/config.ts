import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** The health cell's flags (Cilium's names where Cilium has them). */
export const healthFlags = {
  'enable-health-checking': flag.bool(
    true,
    'Probe every known node (ICMP and HTTP to its IP and health endpoint) and serve the health API',
  ),
  'enable-endpoint-health-checking': flag.bool(
    true,
    'Run a health endpoint (reserved:health identity) in its own network namespace on this node',
  ),
  'health-probe-interval': flag.duration('60s', 'Interval between two probes of every node', {
    min: '100ms',
  }),
  'cluster-health-port': flag.int(4240, 'TCP port of the health HTTP servers (node and endpoint)', {
    min: 1,
    max: 65535,
  }),
  'health-netns': flag.string(
    'cellium-health',
    'Name (under /run/netns) of the health endpoint network namespace, unique per agent on a host; its veth is lxc_health for the default, else lxc_h<hash of the name>',
    { pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$' },
  ),
  'health-socket-path': flag.string(
    '',
    "The health API's unix socket ('' for health.sock beside the agent's --socket-path: /var/run/cellium/health.sock as root)",
  ),
} as const;

/** The health cell's configuration. */
export type HealthConfig = ConfigOf<typeof healthFlags>;

/** The health cell's configuration. */
export const HealthConfig = token<HealthConfig>('health/HealthConfig');
