import { hostname } from 'node:os';
import { join } from 'node:path';
import { defaultRunDir } from '../../core/api/index.js';
import { flag, token, type ConfigOf, type ConfigStore } from '../../core/hive/index.js';
import {
  DAEMON_OPTIONS,
  lookupOption,
  OptionError,
  parseMonitorAggregation,
  parseOptions,
  type OptionSetting,
  type RuntimeOption,
} from '../../core/hive/options.js';

/** Agent-wide settings that several cells read. */
export const daemonFlags = {
  'node-name': flag.string(hostname(), 'Name of this node'),
  'cluster-name': flag.string('default', 'Name of the cluster this node belongs to'),
  'state-dir': flag.string(
    join(defaultRunDir(), 'state'),
    'Directory for the agent state kept across restarts',
  ),
  'cgroup-root': flag.string(
    '/sys/fs/cgroup',
    "Where cgroup v2 is mounted (a hybrid host's <root>/unified is used when <root> is not cgroup v2): pods' cgroups are found there, and socket load balancing attaches there",
  ),
  'bpf-map-dynamic-size-ratio': flag.number(
    0.0025,
    "Share of the node's memory for the maps that grow with traffic (connection tracking, NAT, sockets' reverse NAT), as Cilium's: each one's size unless its own flag sets it; 0: their static defaults",
    { min: 0, max: 1 },
  ),
  mtu: flag.int(1500, 'MTU of the devices facing workloads', { min: 576, max: 65535 }),
  'policy-enforcement': flag.oneOf(
    ['default', 'always', 'never'],
    'default',
    'When endpoints enforce policy: default (in a direction a rule selects them for), always, never; changeable at runtime (PATCH /v1/config)',
    { mutable: true },
  ),
} as const;

/** Agent-wide settings. */
export type DaemonConfig = ConfigOf<typeof daemonFlags>;

/** Agent-wide settings. */
export const DaemonConfig = token<DaemonConfig>('daemon/DaemonConfig');

/** Cilium's daemon options that are one of the hive's flags: `Debug` is `--debug`. */
const BOUND_FLAGS: Readonly<Record<string, string>> = { Debug: 'debug' };

/** The hive flags that Cilium's options stand for (not shown again under their own names). */
export const boundFlags: ReadonlySet<string> = new Set(Object.values(BOUND_FLAGS));

/**
 * MonitorAggregationLevel is --monitor-aggregation (the monitor cell's flag, read here from the
 * store: a hive without the monitor shows the default). Its names are Cilium's words.
 */
const AGGREGATION_FLAG = 'monitor-aggregation';

/** The current value of a Cilium daemon option: its flag's, else its fixed default. */
export function daemonOptionValue(flags: ConfigStore, opt: RuntimeOption): OptionSetting {
  if (opt.name === 'MonitorAggregationLevel') {
    const level = flags.get(AGGREGATION_FLAG);
    return typeof level === 'string'
      ? (parseMonitorAggregation(level) ?? opt.default)
      : opt.default;
  }
  const flag = BOUND_FLAGS[opt.name];
  return flag === undefined ? opt.default : flags.get(flag) === true ? 1 : 0;
}

/** The agent's own flag called `name` in any letter case (the store refuses immutable ones). */
function agentFlag(flags: ConfigStore, name: string): string | undefined {
  const lower = name.toLowerCase();
  return flags.list().find((f) => f.info.name.toLowerCase() === lower)?.info.name;
}

/**
 * Turns a PATCH /v1/config options map into flag updates: Cilium's option names (any case,
 * Cilium's values) first, then the agent's own runtime flags by name. Throws OptionError naming
 * an unknown or read-only option or a bad value.
 */
export function daemonOptionUpdates(
  flags: ConfigStore,
  options: Readonly<Record<string, string>>,
): Record<string, unknown> {
  const cilium: Record<string, string> = {};
  const updates: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (lookupOption(DAEMON_OPTIONS, name)) cilium[name] = value;
    else {
      const flag = agentFlag(flags, name);
      if (flag === undefined) {
        const own = flags
          .list()
          .filter((f) => f.info.spec.mutable && !boundFlags.has(f.info.name))
          .map((f) => f.info.name);
        throw new OptionError(
          `unknown option '${name}' (known: ${[...DAEMON_OPTIONS.map((o) => o.name), ...own].join(', ')})`,
        );
      }
      updates[flag] = value;
    }
  }
  const parsed = parseOptions(DAEMON_OPTIONS, cilium, (o) => daemonOptionValue(flags, o));
  for (const [name, v] of parsed) {
    const flag = BOUND_FLAGS[name];
    if (flag !== undefined) updates[flag] = v !== 0;
  }
  return updates;
}
