// Kubernetes EndpointSlices in the load balancer's terms, as Cilium's reflectors read them: the
// endpoints that may take traffic with their state, node, zone and zone hints, and a service's
// backends per port name from all its slices.
import { flat } from '../../core/flat.js';
import { isV6, type BackendState, type L4Type } from './model.js';
import type { K8sService } from './k8s-translate.js';
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
import type { BackendParams } from './writer.js';

/** The node label holding a node's zone. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

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

/**
 * The API server's limits on a slice (discovery validation: 1000 endpoints, 100 addresses each,
 * 20000 ports, port names unique): a slice past them comes from a broken or hostile source, and
 * taking it whole (100,000 backends) costs the agent far more than refusing it by name.
 */
export const SLICE_LIMITS = { endpoints: 1000, addresses: 100, ports: 20000 } as const;

/** What backend selection needs to know of this node. */
export interface BackendContext {
  /** This node's zone (its topology.kubernetes.io/zone label); '' when unknown. */
  readonly zone: string;
  /** --enable-service-topology. */
  readonly topology: boolean;
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
    const rawPorts = list(o.ports, 'ports');
    const rawEndpoints = list(o.endpoints, 'endpoints');
    if (rawPorts.length > SLICE_LIMITS.ports) {
      fail(`ports has ${rawPorts.length} entries, more than ${SLICE_LIMITS.ports}`);
    }
    if (rawEndpoints.length > SLICE_LIMITS.endpoints) {
      fail(`endpoints has ${rawEndpoints.length} entries, more than ${SLICE_LIMITS.endpoints}`);
    }
    const names = new Set<string>();
    for (const [i, p] of rawPorts.entries()) {
      const w = `ports[${i}]`;
      if (!isObject(p)) return fail(`${w} is not an object`);
      const proto = protocol(p.protocol, `${w}.protocol`);
      const port = int(p.port, `${w}.port`, 1, 65535);
      const name = str(p.name, `${w}.name`);
      if (names.has(name)) fail(`${w}.name ${JSON.stringify(name)} is used by another port`);
      names.add(name);
      // No port number means every port: nothing a frontend's port maps to.
      if (proto !== undefined && port !== undefined) ports.push({ name, port, protocol: proto });
    }
    const endpoints: SliceEndpoint[] = [];
    for (const [i, e] of rawEndpoints.entries()) {
      const w = `endpoints[${i}]`;
      if (!isObject(e)) return fail(`${w} is not an object`);
      const addresses = list(e.addresses, `${w}.addresses`);
      if (addresses.length > SLICE_LIMITS.addresses) {
        fail(`${w}.addresses has ${addresses.length} entries, more than ${SLICE_LIMITS.addresses}`);
      }
      const ips = addresses.map((a, j) => ip(a, `${w}.addresses[${j}]`));
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
