// `cellium service update`'s flags to the ServiceSpec it PUTs, checked as Cilium's CLI checks
// them; pure, so every rule is tested without an agent (test/cli-service.test.ts).
import type { Model } from '../../../core/api/types.js';
import { formatIp, parseIp } from '../../../core/ip.js';

type ServiceSpec = Model<'ServiceSpec'>;
type Flags = NonNullable<ServiceSpec['flags']>;
type Frontend = Model<'FrontendAddress'>;
type Backend = Model<'BackendAddress'>;
type BackendState = NonNullable<Backend['state']>;
type Policy = NonNullable<Flags['trafficPolicy']>;

/** The service type flags of `service update`, at most one of them (the last is Cellium's). */
export const TYPE_FLAGS = [
  ['k8sExternal', '--k8s-external', 'ExternalIPs', 'a k8s ExternalIPs'],
  ['k8sNodePort', '--k8s-node-port', 'NodePort', 'a k8s NodePort'],
  ['k8sLoadBalancer', '--k8s-load-balancer', 'LoadBalancer', 'a k8s LoadBalancer'],
  ['k8sHostPort', '--k8s-host-port', 'HostPort', 'a k8s HostPort'],
  ['localRedirect', '--local-redirect', 'LocalRedirect', 'Local Redirect'],
  ['k8sClusterIp', '--k8s-cluster-ip', 'ClusterIP', 'a k8s ClusterIP (the default)'],
] as const;

/** `service update`'s options as commander gives them (values unchecked). */
export type UpdateOptions = { readonly [K in (typeof TYPE_FLAGS)[number][0]]?: boolean } & {
  readonly id: string;
  readonly frontend: string;
  readonly backends?: readonly string[];
  readonly states?: readonly string[];
  readonly backendWeights?: readonly string[];
  readonly k8sClusterInternal?: boolean;
  readonly k8sTrafficPolicy?: string;
  readonly k8sExtTrafficPolicy?: string;
  readonly k8sIntTrafficPolicy?: string;
  readonly protocol?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly backendNodes?: readonly string[];
  readonly sessionAffinityTimeout?: string;
  readonly sourceRanges?: readonly string[];
  readonly lbAlgorithm?: string;
};

/** What `service update`'s flags say, checked, before the backends are known. */
export interface UpdatePlan {
  readonly id: number;
  readonly frontend: Frontend;
  readonly flags: Flags;
  readonly states: readonly BackendState[];
  readonly weights: readonly number[];
  readonly nodes: readonly string[];
}

const STATES: readonly string[] = ['active', 'terminating', 'quarantined', 'maintenance'];

/** A backend's weight when none is given (Cilium's DefaultBackendWeight). */
export const DEFAULT_WEIGHT = 100;

/** A service id argument: a non-negative integer. */
export function parseServiceId(s: string): number {
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) {
    throw new Error(`Unable to parse service ID: '${s}'`);
  }
  return Number(s);
}

/**
 * `IP:PORT` (`[IPv6]:PORT`) as Go's net.ResolveTCPAddr takes a literal address, IPv4-mapped
 * IPv6 as IPv4; the IP in its canonical text. Throws with why it is not one.
 */
export function parseHostPort(arg: string): { ip: string; port: number; v6: boolean } {
  let host: string;
  let port: string;
  if (arg.startsWith('[')) {
    const end = arg.indexOf(']');
    if (end < 0) throw new Error("missing ']' in address");
    if (arg[end + 1] !== ':') throw new Error('missing port in address');
    [host, port] = [arg.slice(1, end), arg.slice(end + 2)];
  } else {
    const colon = arg.lastIndexOf(':');
    if (colon < 0) throw new Error('missing port in address');
    [host, port] = [arg.slice(0, colon), arg.slice(colon + 1)];
    if (host.includes(':')) throw new Error('too many colons in address');
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new Error(`invalid port '${port}'`);
  const ip = parseIp(host);
  if (!ip) throw new Error(`'${host}' is not an IP address`);
  if (ip.family === 'ipv6' && ip.value >> 32n === 0xffffn) {
    return { ip: formatIp('ipv4', ip.value & 0xffffffffn), port: Number(port), v6: false };
  }
  return { ip: formatIp(ip.family, ip.value), port: Number(port), v6: ip.family === 'ipv6' };
}

function policy(flag: string, value: string | undefined): Policy | undefined {
  if (value === undefined) return undefined;
  const p = value.toLowerCase();
  if (p === 'local') return 'Local';
  if (p === 'cluster') return 'Cluster';
  throw new Error(`${flag} must be Local or Cluster, not '${value}'`);
}

/** Checks `service update`'s flags (all but the backends) and turns them into the spec's parts. */
export function updatePlan(o: UpdateOptions): UpdatePlan {
  const id = parseServiceId(o.id);
  if (id > 65535) throw new Error(`Service ID ${id} exceeds the maximum limit of 65535`);
  const protocol = (o.protocol ?? 'tcp').toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'any') {
    throw new Error(`unrecognized protocol '${o.protocol ?? ''}' (tcp, udp or any)`);
  }
  let fe;
  try {
    fe = parseHostPort(o.frontend);
  } catch (e) {
    throw new Error(`Unable to parse frontend address ${JSON.stringify(o.frontend)}: ${msg(e)}`);
  }
  const types = TYPE_FLAGS.filter(([key]) => o[key] === true);
  if (types.length > 1) {
    throw new Error(`Can only set one of ${TYPE_FLAGS.map(([, f]) => f).join(', ')} for a service`);
  }
  const legacy = policy('--k8s-traffic-policy', o.k8sTrafficPolicy);
  const ext = policy('--k8s-ext-traffic-policy', o.k8sExtTrafficPolicy);
  if (legacy !== undefined && ext !== undefined && legacy !== ext) {
    throw new Error(`--k8s-traffic-policy ${legacy} and --k8s-ext-traffic-policy ${ext} disagree`);
  }
  const extPolicy = ext ?? legacy ?? 'Cluster';
  const flags: Flags = {
    type: types[0]?.[2] ?? 'ClusterIP',
    trafficPolicy: extPolicy,
    extTrafficPolicy: extPolicy,
    intTrafficPolicy: policy('--k8s-int-traffic-policy', o.k8sIntTrafficPolicy) ?? 'Cluster',
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
    ...extensionFlags(o),
  };
  const states = (o.states ?? []).map((s) => {
    if (!STATES.includes(s.toLowerCase())) {
      throw new Error(`Invalid backend state (${s}): want one of ${STATES.join(', ')}`);
    }
    return s.toLowerCase() as BackendState;
  });
  const weights = (o.backendWeights ?? []).map((w) => {
    if (!/^\d{1,5}$/.test(w) || Number(w) > 65535) {
      throw new Error(`Invalid backend weight (${w}): want an integer from 0 to 65535`);
    }
    return Number(w);
  });
  return {
    id,
    frontend: {
      ip: fe.ip,
      ...(fe.port !== 0 ? { port: fe.port } : {}),
      protocol,
      scope: o.k8sClusterInternal === true ? 'internal' : 'external',
    },
    flags,
    states,
    weights,
    nodes: o.backendNodes ?? [],
  };
}

/** Cellium's own flags (session affinity, source ranges, algorithm) as the spec's extensions. */
function extensionFlags(o: UpdateOptions): Partial<Flags> {
  const out: Partial<Flags> = {};
  if (o.sessionAffinityTimeout !== undefined) {
    const t = o.sessionAffinityTimeout;
    if (!/^\d{1,5}$/.test(t) || Number(t) > 86400) {
      throw new Error(`Invalid --session-affinity-timeout (${t}): want seconds from 0 to 86400`);
    }
    if (Number(t) > 0) {
      out.sessionAffinity = true;
      out.sessionAffinityTimeout = Number(t);
    }
  }
  if (o.sourceRanges !== undefined) {
    for (const c of o.sourceRanges) {
      const [ip = '', len, extra] = c.split('/');
      const addr = parseIp(ip);
      const max = addr?.family === 'ipv6' ? 128 : 32;
      if (!addr || extra !== undefined || !/^\d{1,3}$/.test(len ?? '') || Number(len) > max) {
        throw new Error(`Invalid --source-ranges entry '${c}': want a CIDR such as 10.0.0.0/8`);
      }
    }
    out.loadBalancerSourceRanges = [...o.sourceRanges];
  }
  if (o.lbAlgorithm !== undefined) {
    const a = o.lbAlgorithm.toLowerCase();
    if (a !== 'random' && a !== 'maglev') {
      throw new Error(`Invalid --lb-algorithm '${o.lbAlgorithm}': want random or maglev`);
    }
    out.algorithm = a === 'random' ? 'Random' : 'Maglev';
  }
  return out;
}

/** One value per backend from a list of none (the default), one (for all) or one each. */
function perBackend<T>(what: string, values: readonly T[], backends: readonly string[], dflt: T) {
  if (values.length > 1 && values.length !== backends.length) {
    throw new Error(
      `Invalid number of ${what} (${values.length}: ${values.join(',')}) for backends (${backends.length}: ${backends.join(',')})`,
    );
  }
  return (i: number): T => (values.length === 1 ? values[0] : values[i]) ?? dflt;
}

/** The backends of `service update` (`IP:PORT` each) as the spec's models, checked. */
export function backendAddresses(plan: UpdatePlan, backends: readonly string[]): Backend[] {
  const state = perBackend('backend states', plan.states, backends, 'active');
  const weight = perBackend('backend weights', plan.weights, backends, DEFAULT_WEIGHT);
  const node = perBackend('backend nodes', plan.nodes, backends, '');
  const feV6 = plan.frontend.ip?.includes(':') ?? false;
  return backends.map((arg, i) => {
    let be;
    try {
      be = parseHostPort(arg);
    } catch (e) {
      throw new Error(`Cannot parse backend address ${JSON.stringify(arg)}: ${msg(e)}`);
    }
    if (be.v6 && !feV6) throw new Error(`Address mismatch between frontend and backend ${arg}`);
    if ((plan.frontend.port ?? 0) === 0 && be.port !== 0) {
      throw new Error(`L4 backend found (${hostPort(be.ip, be.port)}) with L3 frontend`);
    }
    return {
      ip: be.ip,
      ...(be.port !== 0 ? { port: be.port } : {}),
      state: state(i),
      weight: weight(i),
      ...(node(i) !== '' ? { nodeName: node(i) } : {}),
    };
  });
}

/**
 * The spec `service update` PUTs, in Cilium's shape: the agent's realized spec (if the service
 * exists) with the id, frontend, backends and flags of this update.
 */
export function serviceSpec(
  plan: UpdatePlan,
  backends: readonly string[],
  realized?: ServiceSpec,
): ServiceSpec {
  const addrs = backendAddresses(plan, backends);
  const base: Partial<ServiceSpec> = { ...realized };
  delete base['backend-addresses'];
  // The type and traffic policies are the flags' (Cilium's CLI); what only flags this CLI adds
  // set (name, affinity, source ranges, algorithm) stays unless given again.
  const kept: Partial<Flags> = {};
  const old = realized?.flags ?? {};
  for (const k of KEPT_FLAGS) if (old[k] !== undefined) Object.assign(kept, { [k]: old[k] });
  return {
    ...base,
    id: plan.id,
    'frontend-address': plan.frontend,
    ...(addrs.length > 0 ? { 'backend-addresses': addrs } : {}),
    flags: { ...kept, ...plan.flags },
  };
}

/** The flags an update keeps from the service when it does not set them. */
const KEPT_FLAGS = [
  'name',
  'namespace',
  'sessionAffinity',
  'sessionAffinityTimeout',
  'loadBalancerSourceRanges',
  'algorithm',
] as const;

/** `IP:PORT`, or `[IP]:PORT` for IPv6. */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** An error's message (any thrown value). */
export function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
