import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { ApiError, type Model } from '../../core/api/index.js';
import {
  ConfigError,
  type ConfigStore,
  type HealthRegistry,
  type HealthStatus,
  type HiveInfo,
  type JobRegistry,
} from '../../core/hive/index.js';
import { celliumVersion } from '../../core/version.js';
import { DAEMON_OPTIONS, OptionError, optionsModel } from '../../core/hive/options.js';
import { boundFlags, daemonOptionUpdates, daemonOptionValue, type DaemonConfig } from './config.js';
import { controllerStatuses } from './controllers.js';
import type { StatusCollector } from './probes.js';
import type { StatusRegistry } from './status.js';

type StatusResponse = Model<'StatusResponse'>;

/** What the daemon's handlers read. */
export interface DaemonParams {
  readonly config: DaemonConfig;
  readonly flags: ConfigStore;
  readonly health: HealthRegistry;
  readonly hive: HiveInfo;
  readonly contributions: StatusRegistry;
  readonly collector: StatusCollector;
  readonly jobs: JobRegistry;
}

function moduleHealth(s: HealthStatus): Model<'ModuleHealth'> {
  return {
    'module-id': s.id,
    level: s.level,
    message: s.message,
    ...(s.error !== undefined ? { error: s.error } : {}),
    ...(s.lastOk ? { 'last-ok': s.lastOk.toISOString() } : {}),
    'last-updated': s.updated.toISOString(),
    count: s.count,
  };
}

/**
 * The overall state: Ok when running and every cell is ok; Warning when starting, when a probe
 * is stale (first, as Cilium's), not ready or degraded; Failure when stopping or failed.
 */
export function overallStatus(
  p: Pick<DaemonParams, 'hive' | 'contributions' | 'health'>,
  stale: Readonly<Record<string, string>>,
): Model<'Status'> {
  const phase = p.hive.phase();
  if (phase === 'starting' || phase === 'populated') return { state: 'Warning', msg: 'starting' };
  if (phase !== 'running') return { state: 'Failure', msg: phase };
  const late = Object.keys(stale).sort();
  if (late.length > 0) {
    return { state: 'Warning', msg: `Stale status data for probes: ${late.join(', ')}` };
  }
  const waiting = p.contributions.notReady();
  if (waiting.length > 0) return { state: 'Warning', msg: `not ready: ${waiting.join('; ')}` };
  const degraded = p.health.all().filter((s) => s.level === 'degraded');
  if (degraded.length > 0) {
    const names = degraded.map((s) => `${s.id}: ${s.message}`).join('; ');
    return { state: 'Warning', msg: `${degraded.length} degraded: ${names}` };
  }
  return { state: 'Ok', msg: `Cellium ${celliumVersion()}` };
}

let pageSize: number | undefined;

/** The kernel's page size, from the first mapping of this process (4096 if unreadable). */
function kernelPageSize(): number {
  if (pageSize === undefined) {
    pageSize = 4096;
    try {
      const m = /KernelPageSize:\s+(\d+) kB/.exec(readFileSync('/proc/self/smaps', 'utf8'));
      if (m?.[1]) pageSize = Number(m[1]) * 1024;
    } catch {
      // not Linux, or /proc not mounted: keep the common size
    }
  }
  return pageSize;
}

/**
 * The node monitor as Cilium reports it, for an agent without the monitor cell: no ring (0
 * pages), nothing lost. The monitor cell replaces npages, lost and unknown with its own.
 */
export function monitorStatus(): Model<'MonitorStatus'> {
  // Read once: os.cpus() parses /proc/cpuinfo, a third of a /healthz answer's cost.
  cpuCount ??= cpus().length;
  return { cpus: cpuCount, npages: 0, pagesize: kernelPageSize(), lost: 0, unknown: 0 };
}

let cpuCount: number | undefined;

const off = { enabled: false } as const;

/**
 * Kube-proxy replacement is off (services are not load-balanced by this agent yet): every
 * feature object is present and disabled, with the settings Cilium reports by default.
 */
function kubeProxyReplacement(): Model<'KubeProxyReplacement'> {
  return {
    mode: 'False',
    devices: [],
    deviceList: [],
    directRoutingDevice: '',
    features: {
      nodePort: {
        enabled: false,
        mode: 'SNAT',
        dsrMode: 'IP Option/Extension',
        algorithm: 'Random',
        acceleration: 'None',
        portMin: 30000,
        portMax: 32767,
        lutSize: 16381,
      },
      hostPort: { ...off },
      externalIPs: { ...off },
      hostReachableServices: { enabled: false, protocols: [] },
      socketLB: { ...off },
      sessionAffinity: { ...off },
      gracefulTermination: { ...off },
      nat46X64: { enabled: false, service: { ...off }, gateway: { enabled: false, prefixes: [] } },
      socketLBTracing: { ...off },
      bpfSocketLBHostnsOnly: false,
    },
  };
}

/** GSO/GRO limits of workload devices: BIG TCP is off, so the kernel's 64 KiB default. */
const GSO_GRO_MAX = 65536;

/** GET /v1/healthz: Cilium's StatusResponse, every part present, plus the cell health tree. */
export function statusResponse(p: DaemonParams, brief: boolean): StatusResponse {
  const stale = p.collector.stale();
  const cilium = overallStatus(p, stale);
  if (brief) return { cilium };
  const disabled = { state: 'Disabled', msg: 'Disabled' } as const;
  const s: StatusResponse = {
    cilium,
    kvstore: { state: 'Disabled', msg: 'Disabled (embedded mode: no kvstore configured)' },
    bgp: { state: 'Disabled', msg: 'Disabled' },
    'container-runtime': { ...disabled },
    'cni-file': { ...disabled },
    'host-firewall': { mode: 'Disabled', devices: [] },
    hubble: {
      ...disabled,
      observer: { 'max-flows': 0, 'current-flows': 0, 'seen-flows': 0, uptime: '0s' },
      metrics: { state: 'Disabled' },
    },
    kubernetes: { state: 'Disabled', msg: 'Disabled (embedded mode)', 'k8s-api-versions': [] },
    // bpf_lxc sits on each endpoint's host-side veth, attached with tc (clsact).
    'datapath-mode': 'veth',
    'attach-mode': 'tc',
    'kube-proxy-replacement': kubeProxyReplacement(),
    // Replaced by the ipam cell; this is the answer of an agent without one.
    ipam: { allocations: {}, ipv4: [], ipv6: [], status: 'Disabled' },
    nodeMonitor: monitorStatus(),
    cluster: {
      ciliumHealth: { ...disabled },
      self: `${p.config.clusterName}/${p.config.nodeName}`,
      nodes: [],
    },
    controllers: controllerStatuses(p.jobs.list()),
    proxy: { 'port-range': '0-0', ip: '', 'total-redirects': 0, 'total-ports': 0, redirects: [] },
    // Replaced by the identity cell with its allocator's range.
    'identity-range': { 'min-identity': 0, 'max-identity': 0 },
    'ipv6-big-tcp': { enabled: false, maxGRO: GSO_GRO_MAX, maxGSO: GSO_GRO_MAX },
    'ipv4-big-tcp': { enabled: false, maxGRO: GSO_GRO_MAX, maxGSO: GSO_GRO_MAX },
    'bandwidth-manager': { enabled: false, devices: [] },
    masquerading: {
      enabled: false,
      enabledProtocols: { ipv4: false, ipv6: false },
      'ip-masq-agent': false,
    },
    // bpf_lxc redirects between endpoints' veths itself; without the routing cell other nodes
    // are reached by the host's routes (no tunnel device). Replaced by the routing cell.
    routing: {
      'intra-host-routing-mode': 'BPF',
      'inter-host-routing-mode': 'Native',
      'tunnel-protocol': '',
    },
    // The helpers' monotonic clock: what bpf_ktime_get_ns() and conntrack timestamps use.
    'clock-source': { mode: 'ktime' },
    srv6: { enabled: false },
    stale,
    'client-id': 0,
    'cluster-mesh': { clusters: [], 'num-global-services': 0 },
    // Replaced by the maps cell.
    'bpf-maps': { 'dynamic-size-ratio': 0, maps: [] },
    encryption: {
      mode: 'Disabled',
      msg: '',
      ipsec: {
        'decrypt-interfaces': [],
        'max-seq-number': '',
        'keys-in-use': 0,
        'error-count': 0,
        'xfrm-errors': {},
      },
      wireguard: { 'node-encryption': 'Disabled', interfaces: [] },
    },
    'cni-chaining': { mode: 'none' },
    'auth-certificate-provider': { ...disabled },
    'modules-health': { modules: p.health.all().map(moduleHealth) },
  };
  p.contributions.apply('status', s);
  p.collector.apply(s);
  return s;
}

function optionText(v: unknown, formatted: string): string {
  if (typeof v === 'boolean') return v ? 'Enabled' : 'Disabled';
  return formatted;
}

/**
 * GET /v1/config: Cilium's daemon options under their names and values (changeable ones in
 * spec/realized, read-only ones in immutable), then the agent's own flags.
 */
export function daemonConfiguration(p: DaemonParams): Model<'DaemonConfiguration'> {
  const { options, immutable } = optionsModel(DAEMON_OPTIONS, (o) => daemonOptionValue(p.flags, o));
  const all: Record<string, unknown> = {};
  for (const { info, value } of p.flags.list()) {
    all[info.name] = value;
    if (info.name === 'policy-enforcement' || boundFlags.has(info.name)) continue;
    const text = optionText(value, p.flags.format(info.name));
    if (info.spec.mutable) options[info.name] = text;
    else immutable[info.name] = text;
  }
  const enforcement = p.flags.get('policy-enforcement') as 'default' | 'always' | 'never';
  const spec = { options, 'policy-enforcement': enforcement };
  const status: Model<'DaemonConfigurationStatus'> = {
    realized: spec,
    immutable,
    // Replaced by the ipam cell with the pod CIDRs and the gateway it hands out.
    addressing: { ipv4: { enabled: false }, ipv6: { enabled: false } },
    'k8s-endpoint': '',
    'k8s-configuration': '',
    nodeMonitor: monitorStatus(),
    kvstoreConfiguration: { type: '', options: {} },
    deviceMTU: p.config.mtu,
    routeMTU: p.config.mtu,
    enableRouteMTUForCNIChaining: false,
    datapathMode: 'veth',
    'ipam-mode': '',
    masquerade: false,
    masqueradeProtocols: { ipv4: false, ipv6: false },
    'egress-multi-home-ip-rule-compat': false,
    daemonConfigurationMap: all,
    GROMaxSize: GSO_GRO_MAX,
    GSOMaxSize: GSO_GRO_MAX,
    GROIPv4MaxSize: GSO_GRO_MAX,
    GSOIPv4MaxSize: GSO_GRO_MAX,
    ipLocalReservedPorts: '',
  };
  p.contributions.apply('config', status);
  return { spec, status };
}

/** PATCH /v1/config: changes runtime-changeable options; anything else is a 400 naming it. */
export function patchConfig(p: DaemonParams, body: Model<'DaemonConfigurationSpec'>): void {
  try {
    const updates = daemonOptionUpdates(p.flags, body.options ?? {});
    const enforcement = body['policy-enforcement'];
    p.flags.set(
      enforcement === undefined ? updates : { ...updates, 'policy-enforcement': enforcement },
    );
  } catch (e) {
    if (e instanceof OptionError) throw new ApiError(400, e.message);
    if (e instanceof ConfigError) {
      throw new ApiError(400, e.issues.map((i) => `option ${i.flag}: ${i.message}`).join('; '));
    }
    throw e;
  }
}

/** Names whose values never leave the agent: tokens, passwords, keys. */
const SECRET_NAME = /token|secret|passw|credential|private|(^|[-_])key($|[-_])|apikey/i;

/** Variables besides CELLIUM_* that change how the agent runs, shown in /debuginfo. */
const RELEVANT_ENV = ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'NODE_OPTIONS'];

/** The agent's CELLIUM_* and relevant variables, sorted, secret values replaced. */
export function debugEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.entries(env)
    .filter(([k]) => k.startsWith('CELLIUM_') || RELEVANT_ENV.includes(k))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${SECRET_NAME.test(k) ? '<redacted>' : (v ?? '')}`);
}

/** The agent's memory map (/proc/self/maps), as Cilium's debuginfo carries it; capped. */
function memoryMap(): string {
  try {
    const text = readFileSync('/proc/self/maps', 'utf8');
    return text.length > 1 << 20 ? `${text.slice(0, 1 << 20)}\n[truncated]` : text;
  } catch (e) {
    return `unavailable: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** Every flag of the agent with its value, one per line (secret values replaced). */
function configText(flags: ConfigStore): string {
  return flags
    .list()
    .map(({ info }) => info.name)
    .sort()
    .map((n) => `${n}: ${SECRET_NAME.test(n) ? '<redacted>' : flags.format(n)}`)
    .join('\n');
}

/**
 * GET /v1/debuginfo: the full status, the agent's flags, memory map and environment; other
 * cells add theirs through 'debug' contributions (endpoints, cgroups, ...). Services and policy
 * are empty until their cells exist, in the shapes Cilium uses for none.
 */
export function debugInfo(p: DaemonParams): Model<'DebugInfo'> {
  const d: Model<'DebugInfo'> = {
    'cilium-version': `${celliumVersion()} node ${process.version}`,
    'kernel-version': release(),
    'cilium-status': statusResponse(p, false),
    'endpoint-list': [],
    'service-list': [],
    // No rules: an empty rule list at the repository's first revision.
    policy: { revision: 1, policy: '[]' },
    'cilium-memory-map': memoryMap(),
    'cilium-nodemonitor-memory-map': '',
    'environment-variables': debugEnvironment(),
    subsystem: { config: configText(p.flags) },
    encryption: { wireguard: { 'node-encryption': 'Disabled', interfaces: [] } },
  };
  p.contributions.apply('debug', d);
  return d;
}
