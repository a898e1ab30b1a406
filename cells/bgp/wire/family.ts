// Mapping AFI/SAFI pairs to the families the speaker carries.
import { FAMILY_CODES, type Family } from './types.js';

/** The family of an AFI/SAFI pair; undefined for one the speaker does not carry. */
export function familyOf(afi: number, safi: number): Family | undefined {
  if (safi !== 1) return undefined;
  return afi === 1 ? 'ipv4-unicast' : afi === 2 ? 'ipv6-unicast' : undefined;
}

/** The family of a prefix or address in text: IPv6 text has a ':', IPv4 text never does. */
export function prefixFamily(prefix: string): Family {
  return prefix.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast';
}

/** The AFI/SAFI pair of a family; throws naming a value that is not a family. */
export function codesOf(family: Family): { afi: number; safi: number } {
  const c = (FAMILY_CODES as Partial<Record<string, { afi: number; safi: number }>>)[family];
  if (!c) throw new RangeError(`'${family}' is not a family (ipv4-unicast, ipv6-unicast)`);
  return c;
}
