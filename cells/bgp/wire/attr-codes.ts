// Path attribute type codes and flags (RFC 4271 §4.3, §5; IANA "BGP Path Attributes").

/** Attribute type codes the codec models. */
export const ATTR = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MED: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  LARGE_COMMUNITY: 32,
} as const;

/** Attribute flag bits. */
export const FLAG = { OPTIONAL: 0x80, TRANSITIVE: 0x40, PARTIAL: 0x20, EXTENDED: 0x10 } as const;

const WK = FLAG.TRANSITIVE; // well-known attributes are transitive
const OPT = FLAG.OPTIONAL;
const OPT_T = FLAG.OPTIONAL | FLAG.TRANSITIVE;

/** The Optional and Transitive bits each modelled attribute must carry, and its name. */
export const ATTR_INFO: ReadonlyMap<number, { readonly flags: number; readonly name: string }> =
  new Map([
    [ATTR.ORIGIN, { flags: WK, name: 'ORIGIN' }],
    [ATTR.AS_PATH, { flags: WK, name: 'AS_PATH' }],
    [ATTR.NEXT_HOP, { flags: WK, name: 'NEXT_HOP' }],
    [ATTR.MED, { flags: OPT, name: 'MULTI_EXIT_DISC' }],
    [ATTR.LOCAL_PREF, { flags: WK, name: 'LOCAL_PREF' }],
    [ATTR.ATOMIC_AGGREGATE, { flags: WK, name: 'ATOMIC_AGGREGATE' }],
    [ATTR.AGGREGATOR, { flags: OPT_T, name: 'AGGREGATOR' }],
    [ATTR.COMMUNITIES, { flags: OPT_T, name: 'COMMUNITIES' }],
    [ATTR.ORIGINATOR_ID, { flags: OPT, name: 'ORIGINATOR_ID' }],
    [ATTR.CLUSTER_LIST, { flags: OPT, name: 'CLUSTER_LIST' }],
    [ATTR.MP_REACH_NLRI, { flags: OPT, name: 'MP_REACH_NLRI' }],
    [ATTR.MP_UNREACH_NLRI, { flags: OPT, name: 'MP_UNREACH_NLRI' }],
    [ATTR.AS4_PATH, { flags: OPT_T, name: 'AS4_PATH' }],
    [ATTR.AS4_AGGREGATOR, { flags: OPT_T, name: 'AS4_AGGREGATOR' }],
    [ATTR.LARGE_COMMUNITY, { flags: OPT_T, name: 'LARGE_COMMUNITY' }],
  ]);

/** An attribute's name for logs ('ORIGIN', 'attribute 99'). */
export function attrName(code: number): string {
  return ATTR_INFO.get(code)?.name ?? `attribute ${code}`;
}

/** AS_TRANS (RFC 6793): stands for a 4-octet ASN in 2-octet fields. */
export const AS_TRANS = 23456;
