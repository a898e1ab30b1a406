// Cilium's ServiceSpec (the REST API's model) to and from the load balancer's model. A spec is
// checked whole before anything is written: a bad frontend is a 460, a bad backend a 461, as
// Cilium answers, each naming what is wrong.
import { flat } from '../../core/flat.js';
import { ApiError, shown, type Model } from '../../core/api/index.js';
import { formatIp, parseIp } from '../../core/ip.js';
import type { BackendParams, FrontendParams } from './writer.js';
import {
  addrKey,
  isV6,
  type BackendState,
  type Frontend,
  type FrontendBackend,
  type L4Type,
  type RealizedFrontend,
  type Service,
  type ServiceType,
} from './model.js';

type ServiceSpec = Model<'ServiceSpec'>;

/** Cilium's Invalid frontend / Invalid backend codes. */
export const INVALID_FRONTEND = 460;
export const INVALID_BACKEND = 461;

/** Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds. */
export const DEFAULT_AFFINITY_TIMEOUT = 10800;

/** A spec as the Writer takes it. */
export interface ServiceRequest {
  readonly id: number;
  readonly service: Service;
  readonly frontend: FrontendParams;
  readonly backends: readonly BackendParams[];
}

/** The canonical text of an IP, or undefined when it is not one. */
export function canonicalIp(ip: string): string | undefined {
  const p = parseIp(ip);
  if (!p) return undefined;
  // An IPv4-mapped IPv6 address is the IPv4 address (as the CLI and Cilium read it).
  if (p.family === 'ipv6' && p.value >> 32n === 0xffffn)
    return formatIp('ipv4', p.value & 0xffffffffn);
  return formatIp(p.family, p.value);
}

/** A canonical CIDR (host bits cleared), or why it is not one. */
export function canonicalCidr(text: string): string | { problem: string } {
  const [ip = '', len, extra] = text.split('/');
  const p = parseIp(ip);
  if (!p || extra !== undefined) return { problem: `${shown(text)} is not a CIDR` };
  const bits = p.family === 'ipv4' ? 32 : 128;
  if (len === undefined) return { problem: `${shown(text)} has no prefix length (/n)` };
  const n = Number(len);
  if (!/^(0|[1-9]\d{0,2})$/.test(len) || n > bits) {
    return { problem: `${shown(text)} has a prefix length that is not 0-${bits}` };
  }
  const host = BigInt(bits - n);
  return `${formatIp(p.family, (p.value >> host) << host)}/${n}`;
}

/**
 * The service key of an API service: its id's own. Each id is a service of its own, as in
 * Cilium's API (its name and namespace are labels): two ids sharing a name must not share the
 * settings (affinity, source ranges, algorithm) a service holds.
 */
export function serviceKeyOf(id: number): string {
  return flat(`:api:${id}`);
}

/**
 * Checks a PUT /service/{id} body and turns it into the Writer's terms. The id is the body's
 * (as Cilium's API), which must agree with the path's when both are given.
 */
export function serviceRequest(pathId: number, spec: ServiceSpec): ServiceRequest {
  const id = spec.id ?? pathId;
  if (spec.id !== undefined && spec.id !== 0 && pathId !== 0 && spec.id !== pathId) {
    throw new ApiError(400, `id: the body's id ${spec.id} differs from the path's ${pathId}`);
  }
  const sid = id === 0 ? pathId : id;
  if (!Number.isInteger(sid) || sid < 1 || sid > 0xffff) {
    throw new ApiError(400, `id: a service id is 1-65535, not ${sid}`);
  }
  const fa = spec['frontend-address'];
  const feIp = canonicalIp(fa.ip ?? '');
  if (feIp === undefined) {
    throw new ApiError(
      INVALID_FRONTEND,
      `frontend-address.ip: ${shown(fa.ip ?? '')} is not an IP address`,
    );
  }
  const protocol: L4Type = fa.protocol ?? 'any';
  const port = fa.port ?? 0;
  const flags = spec.flags ?? {};
  const type: ServiceType = flags.type ?? 'ClusterIP';
  if ((type === 'NodePort' || type === 'HostPort') && port === 0) {
    throw new ApiError(INVALID_FRONTEND, `frontend-address.port: a ${type} frontend needs a port`);
  }
  if ((feIp === '0.0.0.0' || feIp === '::') && type !== 'NodePort' && type !== 'HostPort') {
    throw new ApiError(
      INVALID_FRONTEND,
      `frontend-address.ip: ${feIp} stands for the node's addresses, which only NodePort and HostPort frontends take`,
    );
  }
  if (flags.natPolicy === 'Nat46' || flags.natPolicy === 'Nat64') {
    throw new ApiError(
      INVALID_FRONTEND,
      `flags.natPolicy: ${flags.natPolicy} needs NAT46/64, which this agent's datapath does not do`,
    );
  }
  const ext = flags.extTrafficPolicy ?? flags.trafficPolicy ?? 'Cluster';
  const sourceRanges: string[] = [];
  for (const [i, c] of (flags.loadBalancerSourceRanges ?? []).entries()) {
    const r = canonicalCidr(c);
    if (typeof r !== 'string') {
      throw new ApiError(INVALID_FRONTEND, `flags.loadBalancerSourceRanges[${i}]: ${r.problem}`);
    }
    if (r.includes(':') !== feIp.includes(':')) {
      // Ranges of the other family would match no client: the frontend would refuse everyone.
      throw new ApiError(
        INVALID_FRONTEND,
        `flags.loadBalancerSourceRanges[${i}]: ${r} is IPv${r.includes(':') ? 6 : 4} but the frontend ${feIp} is IPv${feIp.includes(':') ? 6 : 4}`,
      );
    }
    if (!sourceRanges.includes(r)) sourceRanges.push(r);
  }
  const algorithm =
    flags.algorithm === undefined ? undefined : flags.algorithm === 'Maglev' ? 'maglev' : 'random';
  const service: Service = {
    key: serviceKeyOf(sid),
    namespace: flags.namespace ?? '',
    name: flags.name ?? '',
    cluster: flags.cluster ?? '',
    source: 'api',
    extTrafficPolicy: ext,
    intTrafficPolicy: flags.intTrafficPolicy ?? 'Cluster',
    natPolicy: '',
    healthCheckNodePort: flags.healthCheckNodePort ?? 0,
    sessionAffinity: flags.sessionAffinity ?? false,
    sessionAffinityTimeoutSec: flags.sessionAffinityTimeout ?? DEFAULT_AFFINITY_TIMEOUT,
    sourceRanges,
    algorithm,
  };
  const backends: BackendParams[] = [];
  const seen = new Set<string>();
  for (const [i, b] of (spec['backend-addresses'] ?? []).entries()) {
    const where = `backend-addresses[${i}]`;
    const ip = canonicalIp(b.ip);
    if (ip === undefined) {
      throw new ApiError(INVALID_BACKEND, `${where}.ip: ${shown(b.ip)} is not an IP address`);
    }
    if (isV6(ip) !== isV6(feIp)) {
      throw new ApiError(
        INVALID_BACKEND,
        `${where}.ip: ${ip} is IPv${isV6(ip) ? 6 : 4} but the frontend ${feIp} is IPv${isV6(feIp) ? 6 : 4}`,
      );
    }
    if (ip === '0.0.0.0' || ip === '::') {
      throw new ApiError(INVALID_BACKEND, `${where}.ip: ${ip} cannot be a backend`);
    }
    const bport = b.port ?? 0;
    if (port === 0 && bport !== 0) {
      throw new ApiError(
        INVALID_BACKEND,
        `${where}.port: an L4 backend (port ${bport}) with an L3 frontend (port 0)`,
      );
    }
    const dup = `${ip}|${bport}`;
    if (seen.has(dup)) {
      throw new ApiError(INVALID_BACKEND, `${where}: ${ip} port ${bport} is listed twice`);
    }
    seen.add(dup);
    const weight = b.weight ?? 100;
    // Weight 0 takes the backend out of rotation, as Cilium's maintenance state.
    const state: BackendState = weight === 0 ? 'maintenance' : (b.state ?? 'active');
    backends.push({
      ip,
      port: bport,
      protocol,
      state,
      weight,
      zone: b.zone ?? '',
      nodeName: b.nodeName ?? '',
    });
  }
  return {
    id: sid,
    service,
    frontend: {
      address: { ip: feIp, port, protocol, scope: fa.scope ?? 'external' },
      type,
      serviceKey: service.key,
      portName: `id:${sid}`,
      id: sid,
    },
    backends,
  };
}

function backendModel(b: FrontendBackend): Model<'BackendAddress'> {
  return {
    ip: b.ip,
    port: b.port,
    state: b.state,
    preferred: true,
    weight: b.weight,
    ...(b.nodeName !== '' ? { nodeName: b.nodeName } : {}),
    ...(b.zone !== '' ? { zone: b.zone } : {}),
  };
}

function specOf(fe: Frontend, r: RealizedFrontend): ServiceSpec {
  const s = r.service;
  const flags: NonNullable<ServiceSpec['flags']> = {
    type: r.type,
    trafficPolicy: s.extTrafficPolicy,
    extTrafficPolicy: s.extTrafficPolicy,
    intTrafficPolicy: s.intTrafficPolicy,
    healthCheckNodePort: s.healthCheckNodePort,
    ...(s.natPolicy !== '' ? { natPolicy: s.natPolicy } : {}),
    ...(s.name !== '' ? { name: s.name, namespace: s.namespace } : {}),
    ...(s.cluster !== '' ? { cluster: s.cluster } : {}),
    ...(s.sessionAffinity
      ? { sessionAffinity: true, sessionAffinityTimeout: s.sessionAffinityTimeoutSec }
      : {}),
    loadBalancerSourceRanges: [...s.sourceRanges],
    ...(s.algorithm !== undefined
      ? { algorithm: s.algorithm === 'maglev' ? 'Maglev' : 'Random' }
      : {}),
  };
  return {
    id: fe.id,
    'frontend-address': {
      ip: fe.address.ip,
      port: fe.address.port,
      protocol: fe.address.protocol,
      scope: fe.address.scope,
    },
    'backend-addresses': r.backends.map(backendModel),
    flags,
  };
}

/**
 * The Service model of a frontend: its spec (what is desired), and as `status.realized` what
 * the last successful reconcile put in the maps (before the first one: the frontend alone).
 */
export function serviceModel(fe: Frontend): Model<'Service'> {
  const spec = specOf(fe, { type: fe.type, service: fe.service, backends: fe.backends });
  const realized = fe.realized
    ? specOf(fe, fe.realized)
    : { id: fe.id, 'frontend-address': spec['frontend-address'] };
  return { spec, status: { realized } };
}

/** A frontend's spec as the state file keeps it (what a PUT would recreate it with). */
export function storedSpec(fe: Frontend): ServiceSpec {
  return specOf(fe, { type: fe.type, service: fe.service, backends: fe.backends });
}

/** The key a frontend address of a spec has (to find the frontend a PUT names). */
export function frontendKeyOf(req: ServiceRequest): string {
  return addrKey(req.frontend.address);
}
