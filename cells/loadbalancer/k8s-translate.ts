// Kubernetes Services and EndpointSlices in the load balancer's terms, as Cilium's
// pkg/loadbalancer/reflectors convert them: a Service becomes a service row and its frontends
// (ClusterIPs, NodePorts on 0.0.0.0 / ::, LoadBalancer ingress IPs, externalIPs), its slices
// become backends per port name. Pure: everything is checked here, so a hostile object is
// refused whole (the caller keeps what it had) instead of half written.
import { flat } from '../../core/flat.js';
import { canonicalCidr, canonicalIp, DEFAULT_AFFINITY_TIMEOUT } from './spec.js';
import { isV6, type BackendState, type L4Type, type Service, type TrafficPolicy } from './model.js';
import type { BackendParams, FrontendParams } from './writer.js';

/** The source services from Kubernetes are recorded with (Cilium's source.Kubernetes). */
export const K8S_SOURCE = 'k8s';

/** The node label holding a node's zone. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** The label that marks a Service headless whatever its spec says. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

/** The annotations asking for topology aware routing (the deprecated one wins, as in Cilium). */
export const TOPOLOGY_HINTS_ANNOTATION = 'service.kubernetes.io/topology-aware-hints';
export const TOPOLOGY_MODE_ANNOTATION = 'service.kubernetes.io/topology-mode';

/** What translating an object gave: a value, nothing to do (and why), or a refusal (and why). */
export type Translated<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'skip'; readonly why: string }
  | { readonly kind: 'invalid'; readonly problem: string };

/** A Service as the load balancer takes it. */
export interface K8sService {
  readonly service: Service;
  readonly frontends: readonly FrontendParams[];
  /** The names of its TCP/UDP ports ('' for the one unnamed port): the backends' port names. */
  readonly portNames: readonly string[];
  /** Topology aware routing asked for (annotation or trafficDistribution PreferClose). */
  readonly topologyAware: boolean;
}

/** One endpoint of a slice that may take traffic. */
export interface SliceEndpoint {
  readonly ips: readonly string[];
  /** active: ready; terminating: terminating but still serving. */
  readonly state: 'active' | 'terminating';
  readonly nodeName: string;
  readonly zone: string;
  /** hints.forZones: the zones this endpoint should serve. */
  readonly forZones: readonly string[];
}

/** An EndpointSlice as the load balancer takes it. */
export interface K8sSlice {
  /** The service it belongs to: `namespace/name`. */
  readonly serviceKey: string;
  readonly ports: readonly {
    readonly name: string;
    readonly port: number;
    readonly protocol: L4Type;
  }[];
  readonly endpoints: readonly SliceEndpoint[];
}

/** What backend selection needs to know of this node. */
export interface BackendContext {
  /** This node's zone (its topology.kubernetes.io/zone label); '' when unknown. */
  readonly zone: string;
  /** --enable-service-topology. */
  readonly topology: boolean;
}

/** What service translation needs to know of this agent. */
export interface ServiceContext {
  /** NodePort frontends only when this node serves them (--enable-node-port, kube-proxy replacement). */
  readonly nodePort: boolean;
}

class Invalid extends Error {}

const fail = (problem: string): never => {
  throw new Invalid(problem);
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : fail(`${where} is not a list`);
}

function str(v: unknown, where: string): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : fail(`${where} is not a string`);
}

function int(v: unknown, where: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    return fail(`${where} is ${JSON.stringify(v)}, not an integer ${min}-${max}`);
  }
  return v;
}

function ip(v: unknown, where: string): string {
  const s = str(v, where);
  return canonicalIp(s) ?? fail(`${where} ${JSON.stringify(s)} is not an IP address`);
}

/** TCP/UDP as the model's L4 type; undefined for SCTP, which the load balancer does not carry. */
function protocol(v: unknown, where: string): L4Type | undefined {
  const p = str(v, where) || 'TCP';
  if (p === 'TCP') return 'tcp';
  if (p === 'UDP') return 'udp';
  if (p === 'SCTP') return undefined;
  return fail(`${where} ${JSON.stringify(p)} is not TCP, UDP or SCTP`);
}

function meta(o: unknown): { namespace: string; name: string } {
  if (!isObject(o) || !isObject(o.metadata)) return fail('metadata is missing');
  const name = str(o.metadata.name, 'metadata.name');
  const namespace = str(o.metadata.namespace, 'metadata.namespace');
  if (name === '' || namespace === '') fail('metadata.name or metadata.namespace is empty');
  return { namespace, name };
}

function guard<T>(fn: () => Translated<T>): Translated<T> {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Invalid) return { kind: 'invalid', problem: e.message };
    throw e;
  }
}

function trafficPolicy(v: unknown, where: string): TrafficPolicy {
  const s = str(v, where);
  if (s === 'Local') return 'Local';
  // 'Global' is the old name of Cluster.
  if (s === '' || s === 'Cluster' || s === 'Global') return 'Cluster';
  return fail(`${where} ${JSON.stringify(s)} is not Cluster or Local`);
}

function topologyAware(
  annotations: Record<string, unknown>,
  spec: Record<string, unknown>,
): boolean {
  const hint = annotations[TOPOLOGY_HINTS_ANNOTATION] ?? annotations[TOPOLOGY_MODE_ANNOTATION];
  const v = typeof hint === 'string' ? hint : '';
  return (
    (v !== '' && v !== 'disabled' && v !== 'Disabled') || spec.trafficDistribution === 'PreferClose'
  );
}

/** A Service in the load balancer's terms; headless and ExternalName services are skipped. */
export function translateService(obj: unknown, ctx: ServiceContext): Translated<K8sService> {
  return guard(() => {
    const { namespace, name } = meta(obj);
    const o = obj as Record<string, unknown>;
    const md = o.metadata as Record<string, unknown>;
    const labels = isObject(md.labels) ? md.labels : {};
    const annotations = isObject(md.annotations) ? md.annotations : {};
    if (!isObject(o.spec)) return fail('spec is missing');
    const spec = o.spec;
    const type = str(spec.type, 'spec.type') || 'ClusterIP';
    if (type === 'ExternalName') return { kind: 'skip', why: 'type ExternalName' };
    if (type !== 'ClusterIP' && type !== 'NodePort' && type !== 'LoadBalancer') {
      fail(
        `spec.type ${JSON.stringify(type)} is not ClusterIP, NodePort, LoadBalancer or ExternalName`,
      );
    }
    const clusterIP = str(spec.clusterIP, 'spec.clusterIP');
    const rawIPs = list(spec.clusterIPs, 'spec.clusterIPs').map((v, i) =>
      str(v, `spec.clusterIPs[${i}]`),
    );
    if (
      HEADLESS_LABEL in labels ||
      clusterIP.toLowerCase() === 'none' ||
      rawIPs[0]?.toLowerCase() === 'none'
    ) {
      return { kind: 'skip', why: 'headless (clusterIP None)' };
    }
    const key = flat(`${namespace}/${name}`);
    const clusterIPs = [
      ...new Set(
        (rawIPs.length > 0 ? rawIPs : clusterIP !== '' ? [clusterIP] : []).map((v, i) =>
          ip(v, `spec.clusterIPs[${i}]`),
        ),
      ),
    ];
    const ports = list(spec.ports, 'spec.ports').map((p, i) => {
      const w = `spec.ports[${i}]`;
      if (!isObject(p)) return fail(`${w} is not an object`);
      return {
        name: str(p.name, `${w}.name`),
        port: int(p.port, `${w}.port`, 1, 65535) ?? fail(`${w}.port is missing`),
        nodePort: int(p.nodePort, `${w}.nodePort`, 0, 65535) ?? 0,
        protocol: protocol(p.protocol, `${w}.protocol`),
      };
    });
    const externalIPs = [
      ...new Set(
        list(spec.externalIPs, 'spec.externalIPs').map((v, i) => ip(v, `spec.externalIPs[${i}]`)),
      ),
    ];
    const ingress: string[] = [];
    const status = isObject(o.status) ? o.status : {};
    const lb = isObject(status.loadBalancer) ? status.loadBalancer : {};
    for (const [i, ing] of list(lb.ingress, 'status.loadBalancer.ingress').entries()) {
      const w = `status.loadBalancer.ingress[${i}]`;
      if (!isObject(ing)) fail(`${w} is not an object`);
      const ingObj = ing as Record<string, unknown>;
      // A hostname-only ingress has nothing to program; ipMode Proxy (KEP-1860) is not a VIP.
      if (ingObj.ip === undefined || ingObj.ip === '' || ingObj.ipMode === 'Proxy') continue;
      const a = ip(ingObj.ip, `${w}.ip`);
      if (!ingress.includes(a)) ingress.push(a);
    }
    const sourceRanges: string[] = [];
    for (const [i, c] of list(
      spec.loadBalancerSourceRanges,
      'spec.loadBalancerSourceRanges',
    ).entries()) {
      const r = canonicalCidr(str(c, `spec.loadBalancerSourceRanges[${i}]`));
      // Dropping a bad range would open the service to everyone: the whole object is refused.
      if (typeof r !== 'string') fail(`spec.loadBalancerSourceRanges[${i}]: ${r.problem}`);
      else if (!sourceRanges.includes(r)) sourceRanges.push(r);
    }
    const affinity = str(spec.sessionAffinity, 'spec.sessionAffinity') || 'None';
    if (affinity !== 'None' && affinity !== 'ClientIP') {
      fail(`spec.sessionAffinity ${JSON.stringify(affinity)} is not None or ClientIP`);
    }
    const cfg = isObject(spec.sessionAffinityConfig) ? spec.sessionAffinityConfig : {};
    const clientIP = isObject(cfg.clientIP) ? cfg.clientIP : {};
    const timeout = int(
      clientIP.timeoutSeconds,
      'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
      0,
      86400,
    );
    const service: Service = {
      key,
      namespace,
      name,
      cluster: '',
      source: K8S_SOURCE,
      extTrafficPolicy: trafficPolicy(spec.externalTrafficPolicy, 'spec.externalTrafficPolicy'),
      intTrafficPolicy: trafficPolicy(spec.internalTrafficPolicy, 'spec.internalTrafficPolicy'),
      natPolicy: '',
      healthCheckNodePort: int(spec.healthCheckNodePort, 'spec.healthCheckNodePort', 0, 65535) ?? 0,
      sessionAffinity: affinity === 'ClientIP',
      sessionAffinityTimeoutSec:
        timeout === undefined || timeout === 0 ? DEFAULT_AFFINITY_TIMEOUT : timeout,
      sourceRanges,
      algorithm: undefined,
    };

    const frontends = new Map<string, FrontendParams>();
    const add = (fe: FrontendParams): void => {
      const k = `${fe.address.ip}|${fe.address.port}|${fe.address.protocol}`;
      if (!frontends.has(k)) frontends.set(k, fe);
    };
    const l4 = ports.filter((p): p is typeof p & { protocol: L4Type } => p.protocol !== undefined);
    const frontend = (
      feIp: string,
      port: number,
      proto: L4Type,
      feType: FrontendParams['type'],
      portName: string,
    ): FrontendParams => ({
      address: { ip: feIp, port, protocol: proto, scope: 'external' },
      type: feType,
      serviceKey: key,
      portName,
    });
    for (const a of clusterIPs)
      for (const p of l4) add(frontend(a, p.port, p.protocol, 'ClusterIP', p.name));
    if (ctx.nodePort && (type === 'NodePort' || type === 'LoadBalancer')) {
      const families = list(spec.ipFamilies, 'spec.ipFamilies').map((f, i) =>
        str(f, `spec.ipFamilies[${i}]`),
      );
      const v4 = families.length > 0 ? families.includes('IPv4') : clusterIPs.some((a) => !isV6(a));
      const v6 = families.length > 0 ? families.includes('IPv6') : clusterIPs.some(isV6);
      for (const p of l4) {
        if (p.nodePort === 0) continue;
        if (v4) add(frontend('0.0.0.0', p.nodePort, p.protocol, 'NodePort', p.name));
        if (v6) add(frontend('::', p.nodePort, p.protocol, 'NodePort', p.name));
      }
    }
    if (type === 'LoadBalancer') {
      for (const a of ingress)
        for (const p of l4) add(frontend(a, p.port, p.protocol, 'LoadBalancer', p.name));
    }
    for (const a of externalIPs)
      for (const p of l4) add(frontend(a, p.port, p.protocol, 'ExternalIPs', p.name));
    return {
      kind: 'ok',
      value: {
        service,
        frontends: [...frontends.values()],
        portNames: [...new Set(l4.map((p) => p.name))],
        topologyAware: topologyAware(annotations, spec),
      },
    };
  });
}

/**
 * An EndpointSlice in the load balancer's terms. Endpoints that may take no traffic (not ready
 * and not serving-while-terminating) are left out; FQDN slices and slices of no service skipped.
 */
export function translateSlice(obj: unknown): Translated<K8sSlice> {
  return guard(() => {
    const { namespace } = meta(obj);
    const o = obj as Record<string, unknown>;
    const md = o.metadata as Record<string, unknown>;
    const labels = isObject(md.labels) ? md.labels : {};
    const service = str(
      labels['kubernetes.io/service-name'],
      'the kubernetes.io/service-name label',
    );
    if (service === '') return { kind: 'skip', why: 'no kubernetes.io/service-name label' };
    const addressType = str(o.addressType, 'addressType');
    if (addressType === 'FQDN') return { kind: 'skip', why: 'addressType FQDN' };
    if (addressType !== 'IPv4' && addressType !== 'IPv6') {
      fail(`addressType ${JSON.stringify(addressType)} is not IPv4, IPv6 or FQDN`);
    }
    const ports: { name: string; port: number; protocol: L4Type }[] = [];
    for (const [i, p] of list(o.ports, 'ports').entries()) {
      const w = `ports[${i}]`;
      if (!isObject(p)) return fail(`${w} is not an object`);
      const proto = protocol(p.protocol, `${w}.protocol`);
      const port = int(p.port, `${w}.port`, 1, 65535);
      const name = str(p.name, `${w}.name`);
      // No port number means every port: nothing a frontend's port maps to.
      if (proto !== undefined && port !== undefined) ports.push({ name, port, protocol: proto });
    }
    const endpoints: SliceEndpoint[] = [];
    for (const [i, e] of list(o.endpoints, 'endpoints').entries()) {
      const w = `endpoints[${i}]`;
      if (!isObject(e)) return fail(`${w} is not an object`);
      const ips = list(e.addresses, `${w}.addresses`).map((a, j) => ip(a, `${w}.addresses[${j}]`));
      if (ips.length === 0) fail(`${w}.addresses is empty`);
      for (const a of ips) {
        if (isV6(a) !== (addressType === 'IPv6'))
          fail(`${w}: ${a} is not an ${addressType} address`);
      }
      const c = isObject(e.conditions) ? e.conditions : {};
      const cond = (k: string): boolean | undefined => {
        const v = c[k];
        if (v === undefined || v === null) return undefined;
        return typeof v === 'boolean' ? v : fail(`${w}.conditions.${k} is not a boolean`);
      };
      // Unset ready means unknown, which consumers take as ready; serving defaults to ready.
      const ready = cond('ready') ?? true;
      const serving = cond('serving') ?? ready;
      const terminating = cond('terminating') ?? false;
      const hints = isObject(e.hints) ? e.hints : {};
      const forZones = list(hints.forZones, `${w}.hints.forZones`).map((z, j) =>
        isObject(z)
          ? str(z.name, `${w}.hints.forZones[${j}].name`)
          : fail(`${w}.hints.forZones[${j}] is not an object`),
      );
      const nodeName = str(e.nodeName, `${w}.nodeName`);
      const zone = str(e.zone, `${w}.zone`);
      // Ready is active (also ready and terminating, as kube-proxy and Cilium); serving while
      // terminating is a fallback; anything else takes no traffic.
      const state = ready ? 'active' : terminating && serving ? 'terminating' : undefined;
      if (state) endpoints.push({ ips, state, nodeName, zone, forZones });
    }
    return { kind: 'ok', value: { serviceKey: flat(`${namespace}/${service}`), ports, endpoints } };
  });
}

interface Candidate extends BackendParams {
  readonly forZones: readonly string[];
}

const RANK: Readonly<Record<BackendState, number>> = {
  active: 0,
  terminating: 1,
  quarantined: 2,
  maintenance: 3,
};

/** Keeps the endpoints hinted for this node's zone, when every endpoint has hints and some match. */
function byZone(bes: Candidate[], zone: string): Candidate[] {
  if (zone === '' || bes.some((b) => b.forZones.length === 0)) return bes;
  const mine = bes.filter((b) => b.forZones.includes(zone));
  return mine.length > 0 ? mine : bes;
}

/**
 * The backends of a service per port name, from all its slices: an address in two slices once
 * (its best state), only this node's zone's endpoints for a topology aware service (Cilium's
 * --enable-service-topology), and serving-but-terminating endpoints made active when a port has
 * no ready endpoint of that family (KEP-1669, as Cilium).
 */
export function backendsOf(
  svc: K8sService,
  slices: Iterable<K8sSlice>,
  ctx: BackendContext,
): Map<string, BackendParams[]> {
  const wanted = new Set(svc.portNames);
  const byPort = new Map<string, Map<string, Candidate>>();
  for (const s of slices) {
    for (const p of s.ports) {
      if (!wanted.has(p.name)) continue;
      let m = byPort.get(p.name);
      if (!m) byPort.set(p.name, (m = new Map<string, Candidate>()));
      for (const e of s.endpoints) {
        for (const a of e.ips) {
          const k = `${a}|${p.port}|${p.protocol}`;
          const old = m.get(k);
          if (old && RANK[old.state] <= RANK[e.state]) continue;
          m.set(k, {
            ip: a,
            port: p.port,
            protocol: p.protocol,
            state: e.state,
            weight: 100,
            zone: e.zone,
            nodeName: e.nodeName,
            forZones: e.forZones,
          });
        }
      }
    }
  }
  const zoned = ctx.topology && svc.topologyAware && svc.service.intTrafficPolicy !== 'Local';
  const out = new Map<string, BackendParams[]>();
  for (const name of svc.portNames) {
    let bes = [...(byPort.get(name)?.values() ?? [])];
    if (zoned) bes = byZone(bes, ctx.zone);
    const result: BackendParams[] = [];
    for (const v6 of [false, true]) {
      const fam = bes.filter((b) => isV6(b.ip) === v6);
      const fallback = !fam.some((b) => b.state === 'active');
      for (const { forZones: _, ...b } of fam) {
        result.push(fallback && b.state === 'terminating' ? { ...b, state: 'active' } : b);
      }
    }
    out.set(name, result);
  }
  return out;
}
