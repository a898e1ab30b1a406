// The first bytes of a packet, as events carry them, decoded: Ethernet, one VLAN tag, ARP, IPv4,
// IPv6, TCP, UDP, ICMP and ICMPv6 headers, as far as the bytes go (a drop's packet is often
// malformed: what cannot be read is said, never guessed).

/** One decoded header: its name and fields in wire order. */
export interface PacketLayer {
  readonly name: string;
  readonly fields: Readonly<Record<string, string | number>>;
}

/** A packet's headers and a one-line summary of its flow. */
export interface DecodedPacket {
  readonly layers: readonly PacketLayer[];
  /** `10.0.0.1:123 -> 10.0.0.2:80 tcp SYN`, or what could be read. */
  readonly summary: string;
  /** Why decoding stopped early (`truncated IPv4 header`, `IPv4 header length 8 < 20`). */
  readonly problem?: string;
}

const mac = (b: Buffer, o: number): string =>
  [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

function ipv6Text(b: Buffer, o: number): string {
  const words: string[] = [];
  for (let i = 0; i < 8; i++) words.push(b.readUInt16BE(o + 2 * i).toString(16));
  // The longest run of zero words becomes '::'.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

const TCP_FLAGS: readonly [number, string][] = [
  [0x02, 'SYN'],
  [0x10, 'ACK'],
  [0x01, 'FIN'],
  [0x04, 'RST'],
  [0x08, 'PSH'],
  [0x20, 'URG'],
];

const ICMP4_TYPES: Readonly<Record<number, string>> = {
  0: 'EchoReply',
  3: 'DestinationUnreachable',
  8: 'EchoRequest',
  11: 'TimeExceeded',
};
const ICMP6_TYPES: Readonly<Record<number, string>> = {
  1: 'DestinationUnreachable',
  128: 'EchoRequest',
  129: 'EchoReply',
  135: 'NeighborSolicitation',
  136: 'NeighborAdvertisement',
};

/** Decodes the headers of an Ethernet frame's first bytes. */
export function decodePacket(b: Buffer): DecodedPacket {
  const layers: PacketLayer[] = [];
  const done = (summary: string, problem?: string): DecodedPacket =>
    problem === undefined ? { layers, summary } : { layers, summary, problem };
  if (b.length < 14) return done('', `truncated Ethernet header (${b.length} bytes)`);
  let type = b.readUInt16BE(12);
  let off = 14;
  layers.push({
    name: 'Ethernet',
    fields: { SrcMAC: mac(b, 6), DstMAC: mac(b, 0), EthernetType: `0x${type.toString(16)}` },
  });
  if (type === 0x8100 || type === 0x88a8) {
    if (b.length < 18) return done('', 'truncated VLAN tag');
    layers.push({ name: 'Dot1Q', fields: { VLANIdentifier: b.readUInt16BE(14) & 0xfff } });
    type = b.readUInt16BE(16);
    off = 18;
  }
  let src: string;
  let dst: string;
  let proto: number;
  let l4: number;
  if (type === 0x0806) {
    if (b.length < off + 28) return done('ARP', 'truncated ARP');
    const op = b.readUInt16BE(off + 6);
    const spa = [...b.subarray(off + 14, off + 18)].join('.');
    const tpa = [...b.subarray(off + 24, off + 28)].join('.');
    layers.push({
      name: 'ARP',
      fields: { Operation: op, SourceProtAddress: spa, DstProtAddress: tpa },
    });
    return done(`ARP ${op === 1 ? 'request' : 'reply'} ${spa} -> ${tpa}`);
  } else if (type === 0x0800) {
    if (b.length < off + 20) return done('IPv4', `truncated IPv4 header (${b.length - off} bytes)`);
    const ihl = (b[off] ?? 0) & 0xf;
    src = [...b.subarray(off + 12, off + 16)].join('.');
    dst = [...b.subarray(off + 16, off + 20)].join('.');
    proto = b[off + 9] ?? 0;
    layers.push({
      name: 'IPv4',
      fields: {
        Version: (b[off] ?? 0) >> 4,
        IHL: ihl,
        Length: b.readUInt16BE(off + 2),
        Id: b.readUInt16BE(off + 4),
        FragOffset: b.readUInt16BE(off + 6) & 0x1fff,
        TTL: b[off + 8] ?? 0,
        Protocol: proto,
        SrcIP: src,
        DstIP: dst,
      },
    });
    if (ihl < 5) return done(`${src} -> ${dst}`, `IPv4 header length ${ihl * 4} < 20`);
    if (b.readUInt16BE(off + 6) & 0x1fff) return done(`${src} -> ${dst} fragment`);
    l4 = off + ihl * 4;
  } else if (type === 0x86dd) {
    if (b.length < off + 40) return done('IPv6', `truncated IPv6 header (${b.length - off} bytes)`);
    src = ipv6Text(b, off + 8);
    dst = ipv6Text(b, off + 24);
    proto = b[off + 6] ?? 0;
    layers.push({
      name: 'IPv6',
      fields: {
        Version: (b[off] ?? 0) >> 4,
        Length: b.readUInt16BE(off + 4),
        NextHeader: proto,
        HopLimit: b[off + 7] ?? 0,
        SrcIP: src,
        DstIP: dst,
      },
    });
    l4 = off + 40;
  } else {
    return done(`ethertype 0x${type.toString(16)}`);
  }
  const v6 = type === 0x86dd;
  const at = (ip: string, port: number): string => (v6 ? `[${ip}]:${port}` : `${ip}:${port}`);
  if (proto === 6 || proto === 17) {
    const need = proto === 6 ? 14 : 8;
    if (b.length < l4 + need) {
      return done(`${src} -> ${dst} ${proto === 6 ? 'tcp' : 'udp'}`, 'truncated L4 header');
    }
    const sport = b.readUInt16BE(l4);
    const dport = b.readUInt16BE(l4 + 2);
    if (proto === 17) {
      layers.push({
        name: 'UDP',
        fields: { SrcPort: sport, DstPort: dport, Length: b.readUInt16BE(l4 + 4) },
      });
      return done(`${at(src, sport)} -> ${at(dst, dport)} udp`);
    }
    const f = b[l4 + 13] ?? 0;
    const flags = TCP_FLAGS.filter(([bit]) => f & bit).map(([, n]) => n);
    layers.push({
      name: 'TCP',
      fields: {
        SrcPort: sport,
        DstPort: dport,
        Seq: b.readUInt32BE(l4 + 4),
        Ack: b.readUInt32BE(l4 + 8),
        Flags: flags.join(','),
      },
    });
    return done(`${at(src, sport)} -> ${at(dst, dport)} tcp ${flags.join(', ')}`.trimEnd());
  }
  if (proto === 1 || proto === 58) {
    const name = proto === 1 ? 'ICMPv4' : 'ICMPv6';
    if (b.length < l4 + 4) return done(`${src} -> ${dst} ${name}`, `truncated ${name} header`);
    const t = b[l4] ?? 0;
    const typeName = (proto === 1 ? ICMP4_TYPES : ICMP6_TYPES)[t] ?? `type ${t}`;
    layers.push({ name, fields: { TypeCode: `${typeName}(${b[l4 + 1] ?? 0})` } });
    return done(`${src} -> ${dst} ${name} ${typeName}`);
  }
  return done(`${src} -> ${dst} proto ${proto}`);
}

/** The decoded headers, one line per layer (`cellium monitor -v`). */
export function layersText(p: DecodedPacket): string {
  const lines = p.layers.map(
    (l) =>
      `${l.name}\t{${Object.entries(l.fields)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}}`,
  );
  if (p.problem !== undefined) lines.push(`(${p.problem})`);
  return lines.join('\n');
}
