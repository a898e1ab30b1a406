import { hostname } from 'node:os';
import { join } from 'node:path';
import { defaultRunDir } from '../../core/api/index.js';
import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** Agent-wide settings that several cells read. */
export const daemonFlags = {
  'node-name': flag.string(hostname(), 'Name of this node'),
  'cluster-name': flag.string('default', 'Name of the cluster this node belongs to'),
  'state-dir': flag.string(
    join(defaultRunDir(), 'state'),
    'Directory for the agent state kept across restarts',
  ),
  mtu: flag.int(1500, 'MTU of the devices facing workloads', { min: 576, max: 65535 }),
  'policy-enforcement': flag.oneOf(
    ['default', 'always', 'never'],
    'default',
    'When endpoints enforce policy: default (when a rule selects them), always, never',
    { mutable: true },
  ),
} as const;

/** Agent-wide settings. */
export type DaemonConfig = ConfigOf<typeof daemonFlags>;

/** Agent-wide settings. */
export const DaemonConfig = token<DaemonConfig>('daemon/DaemonConfig');
