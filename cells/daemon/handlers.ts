import { release } from 'node:os';
import { ApiError, type Model } from '../../core/api/index.js';
import {
  ConfigError,
  type ConfigStore,
  type HealthRegistry,
  type HealthStatus,
  type HiveInfo,
} from '../../core/hive/index.js';
import { celliumVersion } from '../../core/version.js';
import type { DaemonConfig } from './config.js';
import type { StatusRegistry } from './status.js';

type StatusResponse = Model<'StatusResponse'>;
type ConfigMap = Record<string, string>;

/** What the daemon's handlers read. */
export interface DaemonParams {
  readonly config: DaemonConfig;
  readonly flags: ConfigStore;
  readonly health: HealthRegistry;
  readonly hive: HiveInfo;
  readonly contributions: StatusRegistry;
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

/** The overall state: Ok when running and every cell is ok, Warning when starting or degraded. */
export function overallStatus(p: DaemonParams): Model<'Status'> {
  const phase = p.hive.phase();
  if (phase === 'starting' || phase === 'populated') return { state: 'Warning', msg: 'starting' };
  if (phase !== 'running') return { state: 'Failure', msg: phase };
  const waiting = p.contributions.notReady();
  if (waiting.length > 0) return { state: 'Warning', msg: `not ready: ${waiting.join('; ')}` };
  const degraded = p.health.all().filter((s) => s.level === 'degraded');
  if (degraded.length > 0) {
    const names = degraded.map((s) => `${s.id}: ${s.message}`).join('; ');
    return { state: 'Warning', msg: `${degraded.length} degraded: ${names}` };
  }
  return { state: 'Ok', msg: `Cellium ${celliumVersion()}` };
}

/** GET /v1/healthz: Cilium's StatusResponse, every part present, plus the cell health tree. */
export function statusResponse(p: DaemonParams, brief: boolean): StatusResponse {
  const cilium = overallStatus(p);
  if (brief) return { cilium };
  const s: StatusResponse = {
    cilium,
    kvstore: { state: 'Disabled', msg: 'Disabled (embedded mode: no kvstore configured)' },
    'container-runtime': { state: 'Disabled', msg: 'Disabled' },
    'cni-file': { state: 'Disabled', msg: 'Disabled' },
    kubernetes: { state: 'Disabled', msg: 'Disabled (embedded mode)', 'k8s-api-versions': [] },
    'kube-proxy-replacement': { mode: 'False', devices: [] },
    ipam: { allocations: {}, ipv4: [], ipv6: [], status: '' },
    cluster: {
      ciliumHealth: { state: 'Disabled', msg: 'Disabled' },
      self: `${p.config.clusterName}/${p.config.nodeName}`,
      nodes: [],
    },
    controllers: [],
    proxy: { 'port-range': '0-0', 'total-redirects': 0, 'total-ports': 0 },
    'identity-range': { 'min-identity': 256, 'max-identity': 65535 },
    masquerading: { enabled: false, enabledProtocols: { ipv4: false, ipv6: false }, mode: 'BPF' },
    'host-routing': { mode: 'Legacy' },
    encryption: { mode: 'Disabled', msg: '' },
    'bpf-maps': { 'dynamic-size-ratio': 0, maps: [] },
    stale: {},
    'client-id': 0,
    'modules-health': { modules: p.health.all().map(moduleHealth) },
  };
  p.contributions.apply('status', s);
  return s;
}

function optionText(v: unknown, formatted: string): string {
  if (typeof v === 'boolean') return v ? 'Enabled' : 'Disabled';
  return formatted;
}

/** GET /v1/config: changeable options in spec/realized, the others as immutable. */
export function daemonConfiguration(p: DaemonParams): Model<'DaemonConfiguration'> {
  const options: ConfigMap = {};
  const immutable: ConfigMap = {};
  const all: Record<string, unknown> = {};
  for (const { info, value } of p.flags.list()) {
    const text = optionText(value, p.flags.format(info.name));
    if (info.name === 'policy-enforcement') continue;
    if (info.spec.mutable) options[info.name] = text;
    else immutable[info.name] = text;
    all[info.name] = value;
  }
  const enforcement = p.flags.get('policy-enforcement') as 'default' | 'always' | 'never';
  const spec = { options, 'policy-enforcement': enforcement };
  const status: Model<'DaemonConfigurationStatus'> = {
    realized: spec,
    immutable,
    addressing: { ipv4: { enabled: false }, ipv6: { enabled: false } },
    kvstoreConfiguration: { type: '', options: {} },
    deviceMTU: p.config.mtu,
    routeMTU: p.config.mtu,
    datapathMode: 'veth',
    'ipam-mode': '',
    masquerade: false,
    masqueradeProtocols: { ipv4: false, ipv6: false },
    enableRouteMTUForCNIChaining: false,
    GROMaxSize: 65536,
    GSOMaxSize: 65536,
    GROIPv4MaxSize: 65536,
    GSOIPv4MaxSize: 65536,
    daemonConfigurationMap: all,
  };
  p.contributions.apply('config', status);
  return { spec, status };
}

/** PATCH /v1/config: changes runtime-changeable options; anything else is a 400 naming it. */
export function patchConfig(p: DaemonParams, body: Model<'DaemonConfigurationSpec'>): void {
  const updates: Record<string, unknown> = { ...(body.options ?? {}) };
  if (body['policy-enforcement'] !== undefined) {
    updates['policy-enforcement'] = body['policy-enforcement'];
  }
  try {
    p.flags.set(updates);
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new ApiError(400, e.issues.map((i) => `option ${i.flag}: ${i.message}`).join('; '));
    }
    throw e;
  }
}

/** GET /v1/debuginfo. */
export function debugInfo(p: DaemonParams): Model<'DebugInfo'> {
  const d: Model<'DebugInfo'> = {
    'cilium-version': `${celliumVersion()} node ${process.version}`,
    'kernel-version': release(),
    'cilium-status': statusResponse(p, false),
    'endpoint-list': [],
    'service-list': [],
    policy: { revision: 0, policy: '' },
    'cilium-memory-map': '',
    'cilium-nodemonitor-memory-map': '',
    'environment-variables': Object.entries(process.env)
      .filter(([k]) => k.startsWith('CELLIUM_'))
      .map(([k, v]) => `${k}=${v ?? ''}`),
    subsystem: {},
    encryption: {},
  };
  p.contributions.apply('debug', d);
  return d;
}
