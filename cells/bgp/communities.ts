// BGP communities as peering policies write them: standard ('65000:100' or a 32-bit number),
// well-known names (RFC 1997, 7999, 8326, 7611) and large ('a:b:c', RFC 8092).

/** Well-known community names and their values. */
export const WELL_KNOWN: Readonly<Record<string, number>> = {
  internet: 0,
  'graceful-shutdown': 0xffff0000,
  'accept-own': 0xffff0001,
  blackhole: 0xffff029a,
  'no-export': 0xffffff01,
  'no-advertise': 0xffffff02,
  'no-export-subconfed': 0xffffff03,
  'no-peer': 0xffffff04,
};

const U16 = /^\d{1,5}$/;
const U32 = /^\d{1,10}$/;

/** A standard community's value, or what is wrong with the text. */
export function parseStandard(s: string): number | string {
  const parts = s.split(':');
  if (parts.length === 1 && U32.test(s) && Number(s) <= 0xffffffff) return Number(s);
  const [a = '', b = ''] = parts;
  if (
    parts.length === 2 &&
    U16.test(a) &&
    U16.test(b) &&
    Number(a) <= 65535 &&
    Number(b) <= 65535
  ) {
    return ((Number(a) << 16) | Number(b)) >>> 0;
  }
  return `'${s}' is not a community ('<0-65535>:<0-65535>' or a 32-bit number)`;
}

/** A large community, or what is wrong with the text. */
export function parseLarge(s: string): readonly [number, number, number] | string {
  const parts = s.split(':');
  if (parts.length === 3 && parts.every((p) => U32.test(p) && Number(p) <= 0xffffffff)) {
    return [Number(parts[0]), Number(parts[1]), Number(parts[2])];
  }
  return `'${s}' is not a large community ('<0-4294967295>:<0-4294967295>:<0-4294967295>')`;
}
