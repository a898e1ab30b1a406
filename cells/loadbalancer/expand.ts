// Where a frontend's services-map entries go: the addresses (a NodePort or HostPort on 0.0.0.0
// or :: also on each node address of its family) and the scopes (both, internal first, when the
// external and internal traffic policies differ). The reconciler writes these entries; the API
// refuses a frontend whose entries another frontend's would take.
import {
  addrKey,
  externallyReachable,
  isV6,
  type L3n4Addr,
  type Scope,
  type Service,
  type ServiceType,
} from './model.js';

/** 0.0.0.0 or ::, the address a NodePort listens on everywhere. */
export function isUnspecified(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

/** A frontend as expansion sees it. */
export interface Expandable {
  readonly address: L3n4Addr;
  readonly type: ServiceType;
  readonly service: Pick<Service, 'extTrafficPolicy' | 'intTrafficPolicy'>;
}

/** The addresses of a frontend's entries (the surrogate 0.0.0.0 / :: first). */
export function entryIps(fe: Expandable, nodeAddresses: readonly string[]): string[] {
  const ip = fe.address.ip;
  if ((fe.type !== 'NodePort' && fe.type !== 'HostPort') || !isUnspecified(ip)) return [ip];
  return [ip, ...nodeAddresses.filter((a) => isV6(a) === isV6(ip))];
}

/** Whether a frontend gets an external and an internal entry (its traffic policies differ). */
export function twoScopes(fe: Expandable): boolean {
  const reach = externallyReachable(fe.type);
  const extLocal = reach && fe.service.extTrafficPolicy === 'Local';
  const intLocal = fe.service.intTrafficPolicy === 'Local';
  return reach && extLocal !== intLocal && fe.address.scope === 'external';
}

/**
 * The scopes of a frontend's entries. Two: the internal one before the external one, whose
 * TWO_SCOPES flag sends the datapath looking for it, so a batch that stops between them
 * leaves no dangling flag.
 */
export function entryScopes(fe: Expandable): Scope[] {
  if (fe.address.scope === 'internal') return ['internal'];
  return twoScopes(fe) ? ['internal', 'external'] : ['external'];
}

/** The keys of a frontend's entries. */
export function entryKeys(fe: Expandable, nodeAddresses: readonly string[]): string[] {
  const scopes = entryScopes(fe);
  return entryIps(fe, nodeAddresses).flatMap((ip) =>
    scopes.map((scope) => addrKey({ ...fe.address, ip, scope })),
  );
}
