import { ApiError, type ApiRequest, type Model } from '../../core/api/index.js';
import type { Family } from '../../core/ip.js';
import type { Ipam } from './ipam.js';
import { IpamError, type Allocation } from './pool.js';

/** The status of each IPAM failure: the client's mistakes are 4xx, only exhaustion is 502. */
export const IPAM_STATUS: Record<IpamError['kind'], number> = {
  exhausted: 502,
  'in-use': 409,
  reserved: 400,
  'out-of-range': 400,
  invalid: 400,
  disabled: 400,
  'not-found': 404,
};

/** Turns IPAM failures into the statuses of Cilium's IPAM API. */
export async function mapErrors<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof IpamError)) throw e;
    throw new ApiError(IPAM_STATUS[e.kind], e.message);
  }
}

/** The host addressing every IPAM response carries: per family, enabled, router IP, range. */
export function hostAddressing(ipam: Ipam): Model<'NodeAddressing'> {
  const out: Model<'NodeAddressing'> = {};
  for (const family of ['ipv4', 'ipv6'] as const) {
    const pl = ipam.pools.get(family);
    out[family] = pl
      ? { enabled: true, ip: pl.router, 'alloc-range': pl.cidr }
      : { enabled: false };
  }
  return out;
}

function addressResponse(ipam: Ipam, a: Allocation, family: Family): Model<'IPAMAddressResponse'> {
  const pl = ipam.pools.get(family);
  return {
    ip: a.ip,
    gateway: pl?.router ?? '',
    cidrs: pl ? [pl.cidr] : [],
    ...(a.expirationUuid ? { 'expiration-uuid': a.expirationUuid } : {}),
  };
}

/** POST /v1/ipam: the next IP of the requested family, or of every enabled family. */
export async function postIpam(
  ipam: Ipam,
  req: ApiRequest<'PostIpam'>,
): Promise<Model<'IPAMResponse'>> {
  const owner = req.query.owner ?? '';
  const expiration = req.headers.expiration === true;
  // Every enabled family: known once the pools are (IPAM mode kubernetes waits for the Node).
  const families = req.query.family ? [req.query.family] : await ipam.families();
  const got: [Family, Allocation][] = [];
  try {
    for (const f of families) {
      got.push([f, await mapErrors(() => ipam.allocateNext(f, owner, { expiration }))]);
    }
  } catch (e) {
    for (const [, a] of got) await ipam.release(a.ip); // all families or none
    throw e;
  }
  const res: Model<'IPAMResponse'> = { address: {}, 'host-addressing': hostAddressing(ipam) };
  for (const [f, a] of got) {
    res.address[f] = a.ip;
    if (a.expirationUuid) res.address[`${f}-expiration-uuid`] = a.expirationUuid;
    res[f] = addressResponse(ipam, a, f);
  }
  return res;
}
