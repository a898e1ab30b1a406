// Cilium's runtime options (`PATCH /v1/config`, `PATCH /v1/endpoint/{id}/config`): their names,
// how their values are parsed and shown. Shared by the daemon and endpoint cells, so it sits
// beside the hive's flags rather than inside either cell. Facts from cilium/cilium
// pkg/option/{option.go,daemon.go,endpoint.go,runtime_options.go,monitor.go}.

/** A parsed option value: 0 is disabled; MonitorAggregationLevel uses 0-4. */
export type OptionSetting = number;

/** One runtime option under Cilium's name. */
export interface RuntimeOption {
  readonly name: string;
  readonly description: string;
  /** How the value is written: a boolean, or a monitor aggregation level. */
  readonly kind: 'bool' | 'monitor-aggregation';
  /** The value while nothing set it (or the only value, when read-only). */
  readonly default: OptionSetting;
  /** Why this agent cannot change it yet and what will; undefined when it can. */
  readonly readOnly?: string;
}

/** A set of options by name; names are matched case-insensitively. */
export type OptionLibrary = readonly RuntimeOption[];

/** A value or name Cilium's parser refuses; the message names the option and what it accepts. */
export class OptionError extends Error {
  override name = 'OptionError';
}

const TRUE = ['true', 'on', 'enable', 'enabled', '1'];
const FALSE = ['false', 'off', 'disable', 'disabled', '0'];

/** Cilium's NormalizeBool: 1 or 0, or undefined when `value` is none of its words. */
export function parseBool(value: string): OptionSetting | undefined {
  const v = value.toLowerCase();
  if (TRUE.includes(v)) return 1;
  if (FALSE.includes(v)) return 0;
  return undefined;
}

/** The monitor aggregation levels, by the words Cilium accepts for them. */
const AGGREGATION: Readonly<Record<string, OptionSetting>> = {
  '': 0,
  none: 0,
  disabled: 0,
  lowest: 1,
  low: 2,
  medium: 3,
  max: 4,
  maximum: 4,
};
const AGGREGATION_NAMES = ['None', 'Lowest', 'Low', 'Medium', 'Max'];

/** A monitor aggregation level from its word or number 0-4, or undefined. */
export function parseMonitorAggregation(value: string): OptionSetting | undefined {
  const word = AGGREGATION[value.toLowerCase()];
  if (word !== undefined) return word;
  if (!/^[+-]?\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= 0 && n <= 4 ? n : undefined;
}

/** What an option's value may be, for error messages. */
export function acceptedValues(opt: RuntimeOption): string {
  return opt.kind === 'bool'
    ? `${TRUE.join(', ')}, ${FALSE.join(', ')}`
    : 'none, disabled, lowest, low, medium, max, maximum or 0-4';
}

/** The value as Cilium shows it: Enabled/Disabled, or the aggregation level's name. */
export function formatOption(opt: RuntimeOption, v: OptionSetting): string {
  if (opt.kind === 'monitor-aggregation') return AGGREGATION_NAMES[v] ?? String(v);
  return v === 0 ? 'Disabled' : 'Enabled';
}

/** The option called `name` in any letter case, or undefined. */
export function lookupOption(lib: OptionLibrary, name: string): RuntimeOption | undefined {
  const lower = name.toLowerCase();
  return lib.find((o) => o.name.toLowerCase() === lower);
}

/** Parses one value of `opt`, throwing an OptionError naming it and what it accepts. */
export function parseOptionValue(opt: RuntimeOption, value: string): OptionSetting {
  const v = opt.kind === 'bool' ? parseBool(value) : parseMonitorAggregation(value);
  if (v === undefined) {
    throw new OptionError(
      `option ${opt.name}: invalid value '${value}' (accepted: ${acceptedValues(opt)})`,
    );
  }
  return v;
}

/**
 * Parses a client's option map against `lib`: names in any case, values as Cilium's parser
 * takes them. A read-only option may only be "set" to the value it has. Returns the changes by
 * canonical name; throws an OptionError on the first name or value that is refused.
 */
export function parseOptions(
  lib: OptionLibrary,
  options: Readonly<Record<string, string>>,
  current: (opt: RuntimeOption) => OptionSetting = (o) => o.default,
): Map<string, OptionSetting> {
  const out = new Map<string, OptionSetting>();
  for (const [name, raw] of Object.entries(options)) {
    const opt = lookupOption(lib, name);
    if (!opt) {
      throw new OptionError(
        `unknown option '${name}' (known: ${lib.map((o) => o.name).join(', ')})`,
      );
    }
    if (out.has(opt.name)) {
      throw new OptionError(
        `option ${opt.name} is given twice (as '${name}' and another spelling)`,
      );
    }
    const v = parseOptionValue(opt, raw);
    if (opt.readOnly !== undefined && v !== current(opt)) {
      throw new OptionError(
        `option ${opt.name} is read-only in this agent (${formatOption(opt, current(opt))}): ${opt.readOnly}`,
      );
    }
    out.set(opt.name, v);
  }
  return out;
}

const DROPS_ALWAYS =
  'on, not switchable: every program reports its drops to the monitor (cellium monitor --type drop; bpf_xdp only while a monitor listens), and /v1/debuginfo keeps the last ones';
const WHILE_LISTENING =
  'on, not switchable: bpf_lxc writes them while a monitor client listens (cellium monitor), at the level of --monitor-aggregation, and costs one map lookup per packet otherwise';
const AGGREGATION_AT_START =
  'set at start with --monitor-aggregation (none, low, medium, maximum), not changeable at runtime';
const NO_AUDIT =
  'bpf_lxc enforces every policy verdict: an audit mode (drops let through and reported) is not implemented';
const CT_ALWAYS =
  'bpf_lxc always counts packets and bytes in both directions of every tracked flow (cellium_ct*)';
const NO_CT_LOCAL = 'every endpoint shares the global conntrack maps (cellium_ct*_global)';

/** The options Cilium's daemon and endpoints both change at runtime, as this agent has them. */
const MUTABLE: OptionLibrary = [
  {
    name: 'ConntrackAccounting',
    description: 'Per-flow (conntrack) statistics',
    kind: 'bool',
    default: 1,
    readOnly: CT_ALWAYS,
  },
  {
    name: 'ConntrackLocal',
    description: 'An endpoint-dedicated conntrack table instead of the global one',
    kind: 'bool',
    default: 0,
    readOnly: NO_CT_LOCAL,
  },
  { name: 'Debug', description: 'Debug detail', kind: 'bool', default: 0 },
  {
    name: 'DebugLB',
    description: 'Debug detail of the load balancer',
    kind: 'bool',
    default: 0,
    readOnly:
      'the load balancer has no per-packet debug output; `cellium service list` and `cellium map get` show what it does',
  },
  {
    name: 'DebugPolicy',
    description: 'Debug detail of policy enforcement',
    kind: 'bool',
    default: 0,
    readOnly:
      'bpf_lxc has no per-packet policy debug output; `cellium policy trace` explains a verdict and drops are reported as events',
  },
  {
    name: 'DropNotification',
    description: 'Drop notifications',
    kind: 'bool',
    default: 1,
    readOnly: DROPS_ALWAYS,
  },
  {
    name: 'TraceNotification',
    description: 'Trace notifications',
    kind: 'bool',
    default: 1,
    readOnly: WHILE_LISTENING,
  },
  {
    name: 'PolicyVerdictNotification',
    description: 'Policy verdict notifications',
    kind: 'bool',
    default: 1,
    readOnly: WHILE_LISTENING,
  },
  {
    name: 'PolicyAuditMode',
    description: 'Policy drops are let through and reported',
    kind: 'bool',
    default: 0,
    readOnly: NO_AUDIT,
  },
  {
    name: 'PolicyAccounting',
    description: 'Per-rule policy statistics',
    kind: 'bool',
    default: 1,
    readOnly:
      'always on: each entry of an endpoint policy map counts the packets and bytes it decided',
  },
  {
    name: 'MonitorAggregationLevel',
    description: 'How much monitor events are aggregated in the datapath',
    kind: 'monitor-aggregation',
    // --monitor-aggregation's default (medium); the daemon shows the flag's value.
    default: 3,
    readOnly: AGGREGATION_AT_START,
  },
  {
    name: 'SourceIPVerification',
    description: 'Packets leaving an endpoint must carry its source IP',
    kind: 'bool',
    default: 1,
    readOnly:
      'always on: bpf_lxc drops what an endpoint sends from an address not its own (IPv6 link-local excepted)',
  },
];

/** Cilium's daemon option library (DaemonOptionLibrary: the mutable ones plus PolicyTracing). */
export const DAEMON_OPTIONS: OptionLibrary = [
  ...MUTABLE,
  {
    name: 'PolicyTracing',
    description: 'Tracing when policy is resolved',
    kind: 'bool',
    default: 0,
    readOnly:
      'it is read-only in Cilium as well (set at start); `cellium policy trace` (GET /v1/policy/resolve) traces a verdict',
  },
];

/** Cilium's endpoint option library (EndpointMutableOptionLibrary). */
export const ENDPOINT_OPTIONS: OptionLibrary = MUTABLE;

/** Options split as Cilium's configuration models show them: changeable and read-only. */
export function optionsModel(
  lib: OptionLibrary,
  value: (opt: RuntimeOption) => OptionSetting,
): { options: Record<string, string>; immutable: Record<string, string> } {
  const options: Record<string, string> = {};
  const immutable: Record<string, string> = {};
  for (const opt of lib) {
    const target = opt.readOnly === undefined ? options : immutable;
    target[opt.name] = formatOption(opt, value(opt));
  }
  return { options, immutable };
}
