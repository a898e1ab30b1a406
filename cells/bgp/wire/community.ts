// Communities as text: RFC 1997 'asn:value' and the well-known names, RFC 8092 'g:l1:l2'.

/** Well-known communities by the names Cilium and gobgp use (RFC 1997, 3765, 7999, 8326). */
export const WELL_KNOWN_COMMUNITIES: Readonly<Record<string, number>> = {
  'no-export': 0xffffff01,
  'no-advertise': 0xffffff02,
  'no-export-subconfed': 0xffffff03,
  'no-peer': 0xffffff04,
  blackhole: 0xffff029a,
  'graceful-shutdown': 0xffff0000,
};

/** Formats a community as 'asn:value' ('65000:100'). */
export function formatCommunity(n: number): string {
  return `${(n >>> 16) & 0xffff}:${n & 0xffff}`;
}

/** Formats a large community as 'global:local1:local2'. */
export function formatLargeCommunity(c: readonly [number, number, number]): string {
  return c.join(':');
}

function part(s: string, max: number, text: string): number {
  if (!/^[0-9]{1,10}$/.test(s) || Number(s) > max) {
    throw new RangeError(`'${text}': '${s}' is not an integer in 0..${max}`);
  }
  return Number(s);
}

/** Parses 'asn:value' (each 0..65535) or a well-known name; throws naming what is wrong. */
export function parseCommunity(s: string): number {
  const wk = WELL_KNOWN_COMMUNITIES[s.trim().toLowerCase()];
  if (wk !== undefined) return wk;
  const parts = s.split(':');
  if (parts.length !== 2) {
    const names = Object.keys(WELL_KNOWN_COMMUNITIES).join(', ');
    throw new RangeError(`'${s}' is not a community ('asn:value' or one of ${names})`);
  }
  return ((part(parts[0] ?? '', 0xffff, s) << 16) | part(parts[1] ?? '', 0xffff, s)) >>> 0;
}

/** Parses a large community 'global:local1:local2' (each 0..4294967295). */
export function parseLargeCommunity(s: string): [number, number, number] {
  const parts = s.split(':');
  if (parts.length !== 3)
    throw new RangeError(`'${s}' is not a large community ('global:local1:local2')`);
  const [g = '', a = '', b = ''] = parts;
  return [part(g, 0xffffffff, s), part(a, 0xffffffff, s), part(b, 0xffffffff, s)];
}
