// An MRT TABLE_DUMP_V2 file (RFC 6396 §4.3) of IPv4 /32 routes from one peer: what
// `gobgp mrt inject global` loads into a gobgpd's RIB in one go (the BGP benchmark's sender).

/** One MRT record: header (timestamp, type 13 TABLE_DUMP_V2, subtype, length) and body. */
function record(subtype: number, body: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt32BE(Math.floor(Date.now() / 1000), 0);
  h.writeUInt16BE(13, 4);
  h.writeUInt16BE(subtype, 6);
  h.writeUInt32BE(body.length, 8);
  return Buffer.concat([h, body]);
}

const ip4 = (a: string): number[] => a.split('.').map(Number);

/**
 * The file: a PEER_INDEX_TABLE with one peer (`peerIp`, 4-octet AS `peerAs`), then one
 * RIB_IPV4_UNICAST record per prefix (/32s `addresses`) with ORIGIN IGP, an empty AS_PATH and
 * NEXT_HOP `nextHop`.
 */
export function mrtTableDump(
  peerIp: string,
  peerAs: number,
  nextHop: string,
  addresses: readonly string[],
): Buffer {
  const peerIndex = Buffer.from([
    ...ip4(peerIp), // collector BGP ID
    0,
    0, // view name length
    0,
    1, // peer count
    0x02, // peer type: IPv4 address, 4-octet AS
    ...ip4(peerIp),
    ...ip4(peerIp),
    (peerAs >>> 24) & 255,
    (peerAs >>> 16) & 255,
    (peerAs >>> 8) & 255,
    peerAs & 255,
  ]);
  // An empty AS_PATH: the routes are the loader's own (gobgpd drops a path with its own AS in
  // it), and it prepends its AS when it sends them on, as the agent does.
  const attrs = [0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, ...ip4(nextHop)];
  const now = Math.floor(Date.now() / 1000);
  const out = [record(1, peerIndex)];
  addresses.forEach((a, seq) => {
    const b = Buffer.alloc(4 + 1 + 4 + 2 + 2 + 4 + 2 + attrs.length);
    let o = b.writeUInt32BE(seq, 0);
    o = b.writeUInt8(32, o);
    for (const x of ip4(a)) o = b.writeUInt8(x, o);
    o = b.writeUInt16BE(1, o); // entry count
    o = b.writeUInt16BE(0, o); // peer index
    o = b.writeUInt32BE(now, o);
    o = b.writeUInt16BE(attrs.length, o);
    Buffer.from(attrs).copy(b, o);
    out.push(record(2, b));
  });
  return Buffer.concat(out);
}
