// L4 of a peer rule: toPorts (ports, ranges, protocols) and icmps (types by number or by
// Cilium's names). Everything needing a proxy (L7 rules, SNI, listeners, TLS) is refused.
import {
  MAX_LIST,
  PolicyError,
  asList,
  asObject,
  asString,
  checkFields,
  child,
  given,
  show,
} from './policy-error.js';

/** A toPorts protocol; ANY is TCP, UDP and SCTP. */
export type Protocol = 'TCP' | 'UDP' | 'SCTP' | 'ANY';

/** A port or range of one protocol. */
export interface PortRange {
  /** 0: every port. */
  readonly port: number;
  /** Equal to port when there is no range; 65535 when port is 0. */
  readonly endPort: number;
  readonly protocol: Protocol;
}

/** An ICMP type (all its codes) of one family. */
export interface IcmpType {
  readonly family: 'IPv4' | 'IPv6';
  /** 0-255. */
  readonly type: number;
}

const PROXY = 'which this agent does not have';
const PORT_RULE_UNSUPPORTED: Readonly<Record<string, string>> = {
  rules: `L7 rules need a proxy, ${PROXY}`,
  serverNames: `serverNames (TLS SNI matching) needs a proxy, ${PROXY}`,
  listener: `listener needs Envoy, ${PROXY}`,
  originatingTLS: `originatingTLS (TLS interception) needs a proxy, ${PROXY}`,
  terminatingTLS: `terminatingTLS (TLS interception) needs a proxy, ${PROXY}`,
};

const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP', 'ANY'];

/** Cilium's ICMP type names (pkg/policy/api/icmp.go), per family. */
const ICMP_NAMES: Readonly<Record<IcmpType['family'], Readonly<Record<string, number>>>> = {
  IPv4: {
    EchoReply: 0,
    DestinationUnreachable: 3,
    Redirect: 5,
    Echo: 8,
    EchoRequest: 8,
    RouterAdvertisement: 9,
    RouterSelection: 10,
    TimeExceeded: 11,
    ParameterProblem: 12,
    Timestamp: 13,
    TimestampReply: 14,
    Photuris: 40,
    ExtendedEchoRequest: 42,
    ExtendedEchoReply: 43,
  },
  IPv6: {
    DestinationUnreachable: 1,
    PacketTooBig: 2,
    TimeExceeded: 3,
    ParameterProblem: 4,
    EchoRequest: 128,
    EchoReply: 129,
    MulticastListenerQuery: 130,
    MulticastListenerReport: 131,
    MulticastListenerDone: 132,
    RouterSolicitation: 133,
    RouterAdvertisement: 134,
    NeighborSolicitation: 135,
    NeighborAdvertisement: 136,
    RedirectMessage: 137,
    RouterRenumbering: 138,
    ICMPNodeInformationQuery: 139,
    ICMPNodeInformationResponse: 140,
    InverseNeighborDiscoverySolicitation: 141,
    InverseNeighborDiscoveryAdvertisement: 142,
    HomeAgentAddressDiscoveryRequest: 144,
    HomeAgentAddressDiscoveryReply: 145,
    MobilePrefixSolicitation: 146,
    MobilePrefixAdvertisement: 147,
    DuplicateAddressRequestCodeSuffix: 157,
    DuplicateAddressConfirmationCodeSuffix: 158,
    ExtendedEchoRequest: 160,
    ExtendedEchoReply: 161,
  },
};

/** An integer in [min, max] given as a number or a decimal string; undefined otherwise. */
function integer(v: unknown, min: number, max: number): number | undefined {
  const n = typeof v === 'string' && /^\d{1,10}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) return undefined;
  return n;
}

function port(v: unknown, path: string): number {
  const n = integer(v, 0, 65535);
  if (n !== undefined) return n;
  if (typeof v === 'string' && /^[a-z0-9-]*[a-z][a-z0-9-]*$/i.test(v) && v.length <= 15) {
    throw new PolicyError(
      `${show(v)} is a named port, which this agent does not resolve: give the port number`,
      path,
    );
  }
  throw new PolicyError(`${show(v)} is not a port (0-65535)`, path);
}

function protocol(v: unknown, path: string): Protocol {
  if (!given(v)) return 'ANY';
  const p = asString(v, path).toUpperCase();
  if ((PROTOCOLS as readonly string[]).includes(p)) return p as Protocol;
  if (p === 'ICMP' || p === 'ICMPV6') {
    throw new PolicyError(`${show(v)} is not a toPorts protocol: use icmps`, path);
  }
  throw new PolicyError(`${show(v)} is not a protocol (${PROTOCOLS.join(', ')})`, path);
}

function portProtocol(v: unknown, path: string): PortRange {
  const o = asObject(v, path);
  checkFields(o, path, ['port', 'endPort', 'protocol']);
  const start = given(o.port) ? port(o.port, child(path, 'port')) : 0;
  const proto = protocol(o.protocol, child(path, 'protocol'));
  // endPort 0 is Go's "no range" (omitempty), as Cilium reads it.
  if (!given(o.endPort) || o.endPort === 0) {
    return { port: start, endPort: start === 0 ? 65535 : start, protocol: proto };
  }
  const epath = child(path, 'endPort');
  if (typeof o.endPort !== 'number' || integer(o.endPort, 0, 65535) === undefined) {
    throw new PolicyError(`${show(o.endPort)} is not a port (0-65535)`, epath);
  }
  if (start === 0) throw new PolicyError('a range needs a port other than 0', epath);
  if (o.endPort < start) {
    throw new PolicyError(`${o.endPort} is below port ${start}`, epath);
  }
  return { port: start, endPort: o.endPort, protocol: proto };
}

/** Flattens `toPorts[].ports[]`; a PolicyError for L7 and for empty or oversized lists. */
export function parseToPorts(v: unknown, path: string): PortRange[] {
  const out: PortRange[] = [];
  asList(v, path).forEach((raw, i) => {
    const rpath = `${path}[${i}]`;
    const rule = asObject(raw, rpath);
    checkFields(rule, rpath, ['ports'], PORT_RULE_UNSUPPORTED);
    const ppath = child(rpath, 'ports');
    const ports = asList(rule.ports, ppath);
    // With no ports an entry would read as "every port": say so instead of guessing.
    if (ports.length === 0) {
      throw new PolicyError('must list at least one port (port 0 means every port)', ppath);
    }
    ports.forEach((p, j) => out.push(portProtocol(p, `${ppath}[${j}]`)));
    if (out.length > MAX_LIST) {
      throw new PolicyError(`lists more than ${MAX_LIST} ports in all`, path);
    }
  });
  return out;
}

function icmpField(v: unknown, path: string): IcmpType {
  const o = asObject(v, path);
  checkFields(o, path, ['family', 'type']);
  const fpath = child(path, 'family');
  const family = given(o.family) ? asString(o.family, fpath) : 'IPv4';
  if (family !== 'IPv4' && family !== 'IPv6') {
    throw new PolicyError(`${show(o.family)} is not a family (IPv4 or IPv6)`, fpath);
  }
  const tpath = child(path, 'type');
  if (!given(o.type)) throw new PolicyError('is required', tpath);
  const names = ICMP_NAMES[family];
  const byName =
    typeof o.type === 'string' && Object.hasOwn(names, o.type) ? names[o.type] : undefined;
  const type = byName ?? integer(o.type, 0, 255);
  if (type === undefined) {
    throw new PolicyError(
      `${show(o.type)} is not an ${family} ICMP type (0-255, or a name such as EchoRequest)`,
      tpath,
    );
  }
  return { family, type };
}

/** Flattens `icmps[].fields[]`; a PolicyError for empty lists and unknown types. */
export function parseIcmps(v: unknown, path: string): IcmpType[] {
  const out: IcmpType[] = [];
  asList(v, path).forEach((raw, i) => {
    const rpath = `${path}[${i}]`;
    const rule = asObject(raw, rpath);
    checkFields(rule, rpath, ['fields']);
    const fpath = child(rpath, 'fields');
    const fields = asList(rule.fields, fpath);
    if (fields.length === 0) throw new PolicyError('must list at least one ICMP type', fpath);
    fields.forEach((f, j) => out.push(icmpField(f, `${fpath}[${j}]`)));
    if (out.length > MAX_LIST) {
      throw new PolicyError(`lists more than ${MAX_LIST} ICMP types in all`, path);
    }
  });
  return out;
}
