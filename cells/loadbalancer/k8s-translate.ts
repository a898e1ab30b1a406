// Kubernetes Services in the load balancer's terms, as Cilium's pkg/loadbalancer/reflectors
// convert them: a service row and its frontends (ClusterIPs, NodePorts on 0.0.0.0 / ::,
// LoadBalancer ingress IPs, externalIPs). Pure: every field is checked (k8s-validate.ts), so a
// hostile object is refused whole (the caller keeps what it had) instead of half written.
import { flat } from '../../core/flat.js';
import { canonicalCidr, DEFAULT_AFFINITY_TIMEOUT } from './spec.js';
import { isV6, type L4Type, type Service, type TrafficPolicy } from './model.js';
import {
  fail,
  guard,
  int,
  ip,
  isObject,
  list,
  meta,
  protocol,
  str,
  type Translated,
} from './k8s-validate.js';
import type { FrontendParams } from './writer.js';

/** The source services from Kubernetes are recorded with (Cilium's source.Kubernetes). */
export const K8S_SOURCE = 'k8s';

/** The label that marks a Service headless whatever its spec says. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
/** The annotations asking for topology aware routing (the deprecated one wins, as in Cilium). */
export const TOPOLOGY_HINTS_ANNOTATION = 'service.kubernetes.io/topology-aware-hints';
export const TOPOLOGY_MODE_ANNOTATION = 'service.kubernetes.io/topology-mode';

/** The string-valued labels (the API server only sends strings; anything else is dropped). */
function stringLabels(labels: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** A Service as the load balancer takes it. */
export interface K8sService {
  readonly service: Service;
  readonly frontends: readonly FrontendParams[];
  /** The names of its TCP/UDP ports ('' for the one unnamed port): the backends' port names. */
  readonly portNames: readonly string[];
  /** Topology aware routing asked for (annotation or trafficDistribution PreferClose). */
  readonly topologyAware: boolean;
}
/** What service translation needs to know of this agent. */
export interface ServiceContext {
  /** NodePort frontends only when this node serves them (--enable-node-port, kube-proxy replacement). */
  readonly nodePort: boolean;
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
      labels: stringLabels(labels),
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
