// bpf_lxc's service translation and connection tracking on the real kernel: crafted TCP and UDP
// frames through BPF_PROG_TEST_RUN with the load balancer's and conntrack's maps filled by hand,
// then real connections from a pod to a ClusterIP served by pods in network namespaces.
// Root only (core/testing/kernel.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import {
  createInnerMap,
  loadObject,
  readStructs,
  setInnerMap,
  testRun,
  type BpfObject,
} from '../core/bpf/index.js';
import { runTs } from '../core/testing/child.js';
import { BPF_LXC_OBJECT as OBJECT, kernelSuite, testPinDir } from '../core/testing/kernel.js';
import { TUPLE_F } from '../cells/conntrack/maps.js';
import {
  BE_STATE,
  LB4,
  LB_ALGORITHM,
  LB_ALGORITHM_SHIFT,
  MAGLEV_TABLE_SIZE,
  SVC_FLAG,
} from '../cells/loadbalancer/maps.js';
import { endpointKeyOf, METRIC, REASON } from '../cells/maps/index.js';
import { inNs, linkIn, netns, sh, uniq, veth } from './support/netns.js';
import {
  CT_F_LB_LOOPBACK,
  CT_F_RX_CLOSING,
  CT_F_SEEN_NON_SYN,
  CT_F_TX_CLOSING,
  MARK_MAGIC_CT_DONE,
  MARK_MAGIC_POLICY_DONE,
  openAll,
  TC_ACT_OK,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  TCP,
  total,
  tupleOf,
  UDP,
  writeService,
  type Maps,
  type Service,
} from './support/lb-world.js';
import {
  ipv4HeaderChecksum,
  ipv4Tcp,
  ipv4UdpFlow,
  ipv6Tcp,
  ipv6UdpFlow,
  l4ChecksumCheck,
  normalizeIp,
  parseFrame,
  TCP_FLAG,
  udpChecksumField,
} from './support/packets.js';
import { tempDir } from './support/procs.js';
import { startIn } from './support/ns-script.js';

// datapath-c/include/cellium/{ct,lb_xlate}.h
const CT_LIFETIME_TCP = 21600;
const CT_LIFETIME_NONTCP = 60;
const CT_SYN_TIMEOUT = 60;
const CT_CLOSE_TIMEOUT = 10;
const IPV4_LOOPBACK = '169.254.42.1';

/** Seconds of CLOCK_MONOTONIC, the clock of CT lifetimes (Node's hrtime reads the same clock). */
const monoSec = (): number => Number(process.hrtime.bigint() / 1_000_000_000n);

// lookup3's final mix over three words, as datapath-c/include/cellium/common.h hash_3words.
function hash3(a0: number, b0: number, c0: number, seed: number): number {
  const rol = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  let a = (a0 + 0xdeadbeef + seed) >>> 0;
  let b = (b0 + 0xdeadbeef + seed) >>> 0;
  let c = (c0 + 0xdeadbeef + seed) >>> 0;
  c = ((c ^ b) - rol(b, 14)) >>> 0;
  a = ((a ^ c) - rol(c, 11)) >>> 0;
  b = ((b ^ a) - rol(a, 25)) >>> 0;
  c = ((c ^ b) - rol(b, 16)) >>> 0;
  a = ((a ^ c) - rol(c, 4)) >>> 0;
  b = ((b ^ a) - rol(a, 14)) >>> 0;
  c = ((c ^ b) - rol(b, 24)) >>> 0;
  return c;
}

/** flow_hash4 of a frame (on little-endian hosts: words and ports as the program loads them). */
function flowHash4(frame: Buffer): number {
  const f = parseFrame(frame);
  const word = (ip: string) => Buffer.from(ip.split('.').map(Number)).readUInt32LE(0);
  const be16 = (port: number) => ((port & 0xff) << 8) | (port >> 8);
  return hash3(word(f.src), word(f.dst), ((be16(f.sport) << 16) | be16(f.dport)) >>> 0, f.proto);
}

kernelSuite(
  'bpf_lxc service translation and conntrack (BPF_PROG_TEST_RUN)',
  { objects: [OBJECT] },
  () => {
    let pins: ReturnType<typeof testPinDir>;
    let m: Maps;
    let obj: BpfObject;
    let skbSize = 0;
    let cbOff = 0;
    let markOff = 0;

    // Undone in reverse order, whatever got set up before a failure.
    const undo: (() => void)[] = [];
    beforeAll(() => {
      pins = testPinDir();
      undo.push(() => pins.cleanup());
      m = openAll(pins.dir);
      undo.push(() => {
        for (const x of m.all) x.close();
      });
      obj = loadObject(
        OBJECT,
        m.all.map((x) => x.raw),
      );
      undo.push(() => obj.close());
      const skb = readStructs(OBJECT, ['__sk_buff']).get('__sk_buff')!;
      skbSize = skb.size;
      cbOff = skb.members.find((x) => x.name === 'cb')!.offset;
      markOff = skb.members.find((x) => x.name === 'mark')!.offset;
    });
    afterAll(() => {
      for (const u of undo.reverse()) u();
    });

    /** Runs a frame through one of the programs; `mark` is the skb's mark going in. */
    const run = (prog: 'from' | 'to', frame: Buffer, mark = 0) => {
      const ctx = Buffer.alloc(skbSize);
      ctx.writeUInt32LE(mark, markOff);
      const name = prog === 'from' ? 'cil_from_container' : 'cil_to_container';
      const r = testRun(obj.program(name), frame, { ctx });
      const out = r.data;
      return {
        retval: r.retval,
        out,
        f: parseFrame(out),
        cb: [0, 1, 2, 3, 4].map((i) => r.ctx!.readUInt32LE(cbOff + 4 * i)),
        mark: r.ctx!.readUInt32LE(markOff),
      };
    };

    /** Asserts a frame's IPv4 header (if any) and TCP/UDP checksums are right. */
    const checksumsOk = (frame: Buffer) => {
      if (parseFrame(frame).family === 4) expect(ipv4HeaderChecksum(frame), 'IPv4 header').toBe(0);
      expect(l4ChecksumCheck(frame), 'L4 over the pseudo header').toBe(0);
    };

    const web4: Service = {
      vip: '10.96.0.10',
      port: 80,
      proto: TCP,
      revNat: 1,
      backends: [
        { id: 11, ip: '10.0.1.1', port: 8080 },
        { id: 12, ip: '10.0.1.2', port: 8080 },
        { id: 13, ip: '10.0.1.3', port: 8080 },
      ],
    };

    it('translates a TCP flow to a backend, tracks it and reverse-translates its replies (IPv4)', () => {
      writeService(m, web4);
      const ips = web4.backends.map((b) => b.ip);
      const client = { src: '10.0.0.5', dst: web4.vip, sport: 40001, dport: 80 };
      const translatedBefore = total(m.metrics, REASON.LB_TRANSLATED, METRIC.SERVICE);
      const revNatBefore = total(m.metrics, REASON.LB_REVNAT, METRIC.SERVICE);

      const t0 = monoSec();
      const syn = run('from', ipv4Tcp({ ...client, flags: TCP_FLAG.SYN }));
      const t1 = monoSec();
      expect(syn.retval).toBe(TC_ACT_OK); // the backend is not on this node: the host stack routes it
      expect(ips).toContain(syn.f.dst);
      expect([syn.f.src, syn.f.sport, syn.f.dport]).toEqual([client.src, client.sport, 8080]);
      checksumsOk(syn.out);
      const backend = web4.backends.find((b) => b.ip === syn.f.dst)!;
      expect(syn.cb.slice(3)).toEqual([backend.id, web4.revNat]);
      expect(total(m.metrics, REASON.LB_TRANSLATED, METRIC.SERVICE)).toBe(translatedBefore + 1);

      // The TUPLE_F_SERVICE entry: client -> VIP, the backend in rx_bytes.
      const svcKey = { ...tupleOf(ipv4Tcp(client), TUPLE_F.SERVICE) };
      const se = m.ct4.tcp.lookup(svcKey)!;
      expect(se).toBeDefined();
      expect(se.rx_bytes).toBe(BigInt(backend.id));
      expect(se.rev_nat_index).toBe(web4.revNat);
      expect(se.tx_packets).toBe(1n);
      expect(se.lifetime).toBeGreaterThanOrEqual(t0 + CT_SYN_TIMEOUT);
      expect(se.lifetime).toBeLessThanOrEqual(t1 + CT_SYN_TIMEOUT);
      // The TUPLE_F_OUT entry: client -> backend.
      const outKey = tupleOf(syn.out, TUPLE_F.OUT);
      let oe = m.ct4.tcp.lookup(outKey)!;
      expect(oe.rev_nat_index).toBe(web4.revNat);
      expect([oe.tx_packets, oe.rx_packets, oe.tx_flags_seen]).toEqual([1n, 0n, TCP_FLAG.SYN]);
      expect(oe.tx_bytes).toBe(BigInt(syn.out.length));
      expect(oe.flags & CT_F_SEEN_NON_SYN).toBe(0);
      expect(m.ct4.any.lookup(outKey)).toBeUndefined();

      // The reply leaves the backend (a pod of this node): it comes from the VIP again.
      const reply = ipv4Tcp({
        src: backend.ip,
        dst: client.src,
        sport: 8080,
        dport: client.sport,
        flags: TCP_FLAG.SYN | TCP_FLAG.ACK,
      });
      const r = run('from', reply);
      expect([r.f.src, r.f.sport, r.f.dst, r.f.dport]).toEqual([
        web4.vip,
        80,
        client.src,
        client.sport,
      ]);
      checksumsOk(r.out);
      expect(r.cb[4]).toBe(web4.revNat);
      expect(total(m.metrics, REASON.LB_REVNAT, METRIC.SERVICE)).toBe(revNatBefore + 1);
      oe = m.ct4.tcp.lookup(outKey)!;
      expect([oe.rx_packets, oe.rx_flags_seen]).toEqual([1n, TCP_FLAG.SYN | TCP_FLAG.ACK]);

      // The rest of the flow goes to the same backend; established, it lives CT_LIFETIME_TCP.
      for (let i = 0; i < 5; i++) {
        const t2 = monoSec();
        const ack = run('from', ipv4Tcp({ ...client, flags: TCP_FLAG.ACK, payload: 100 }));
        expect(ack.f.dst).toBe(backend.ip);
        checksumsOk(ack.out);
        oe = m.ct4.tcp.lookup(outKey)!;
        expect(oe.lifetime).toBeGreaterThanOrEqual(t2 + CT_LIFETIME_TCP);
      }
      expect(oe.tx_packets).toBe(6n);
      expect(oe.flags & CT_F_SEEN_NON_SYN).toBe(CT_F_SEEN_NON_SYN);
      expect(m.ct4.tcp.lookup(svcKey)!.lifetime).toBe(oe.lifetime);
      expect(m.ct4.tcp.lookup(svcKey)!.tx_packets).toBe(6n);

      // A reply from the host stack (a backend elsewhere) is reverse-translated by to-container.
      const fromHost = run('to', reply);
      expect([fromHost.f.src, fromHost.f.sport]).toEqual([web4.vip, 80]);
      checksumsOk(fromHost.out);
      expect(fromHost.cb[4]).toBe(web4.revNat);
      // ...but never twice: not once it is translated, nor when from-container already did it.
      const again = run('to', fromHost.out);
      expect(again.out.equals(fromHost.out)).toBe(true);
      expect(again.cb[4]).toBe(0);
      const done = run('to', reply, MARK_MAGIC_CT_DONE);
      expect(done.out.subarray(14).equals(reply.subarray(14))).toBe(true);
      expect(done.mark).toBe(0);
      expect(m.ct4.tcp.lookup(outKey)!.rx_packets).toBe(2n);

      // FIN from both sides: closing; the last ACK then keeps it only CT_CLOSE_TIMEOUT.
      run('from', ipv4Tcp({ ...client, flags: TCP_FLAG.FIN | TCP_FLAG.ACK }));
      oe = m.ct4.tcp.lookup(outKey)!;
      expect(oe.flags & (CT_F_TX_CLOSING | CT_F_RX_CLOSING)).toBe(CT_F_TX_CLOSING);
      expect(oe.lifetime).toBeGreaterThanOrEqual(monoSec() + CT_LIFETIME_TCP - 1);
      const serverSide = { src: backend.ip, dst: client.src, sport: 8080, dport: client.sport };
      run('from', ipv4Tcp({ ...serverSide, flags: TCP_FLAG.FIN | TCP_FLAG.ACK }));
      const t3 = monoSec();
      run('from', ipv4Tcp({ ...client, flags: TCP_FLAG.ACK }));
      const t4 = monoSec();
      oe = m.ct4.tcp.lookup(outKey)!;
      expect(oe.flags & (CT_F_TX_CLOSING | CT_F_RX_CLOSING)).toBe(
        CT_F_TX_CLOSING | CT_F_RX_CLOSING,
      );
      expect(oe.lifetime).toBeGreaterThanOrEqual(t3 + CT_CLOSE_TIMEOUT);
      expect(oe.lifetime).toBeLessThanOrEqual(t4 + CT_CLOSE_TIMEOUT);
      expect(m.ct4.tcp.lookup(svcKey)!.lifetime).toBe(oe.lifetime);

      // A SYN on the closed tuple is a new connection: the entries start over.
      run('from', ipv4Tcp({ ...client, flags: TCP_FLAG.SYN }));
      const reopened = m.ct4.tcp.lookup(tupleOf(ipv4Tcp({ ...client }), TUPLE_F.SERVICE))!;
      expect(reopened.flags & (CT_F_TX_CLOSING | CT_F_RX_CLOSING | CT_F_SEEN_NON_SYN)).toBe(0);
      expect(reopened.lifetime).toBeLessThanOrEqual(monoSec() + CT_SYN_TIMEOUT);
    });

    it('translates UDP, with a checksum and without one (IPv4)', () => {
      const dns: Service = {
        vip: '10.96.0.10',
        port: 53,
        proto: UDP,
        revNat: 2,
        backends: [
          { id: 21, ip: '10.0.2.1', port: 5353 },
          { id: 22, ip: '10.0.2.2', port: 5353 },
        ],
      };
      writeService(m, dns);
      const q = { src: '10.0.0.5', dst: dns.vip, sport: 33000, dport: 53, payload: 29 };
      const t0 = monoSec();
      const a = run('from', ipv4UdpFlow(q));
      const t1 = monoSec();
      expect(dns.backends.map((b) => b.ip)).toContain(a.f.dst);
      expect(a.f.dport).toBe(5353);
      checksumsOk(a.out);
      expect(udpChecksumField(a.out)).not.toBe(0);
      const oe = m.ct4.any.lookup(tupleOf(a.out, TUPLE_F.OUT))!;
      expect(oe.rev_nat_index).toBe(dns.revNat);
      expect(oe.lifetime).toBeGreaterThanOrEqual(t0 + CT_LIFETIME_NONTCP);
      expect(oe.lifetime).toBeLessThanOrEqual(t1 + CT_LIFETIME_NONTCP);
      expect(m.ct4.tcp.lookup(tupleOf(a.out, TUPLE_F.OUT))).toBeUndefined();
      expect(m.ct4.any.lookup(tupleOf(ipv4UdpFlow(q), TUPLE_F.SERVICE))!.rx_bytes).toBe(
        BigInt(a.cb[3]!),
      );

      // The same flow without a UDP checksum: same backend, and still none.
      const b = run('from', ipv4UdpFlow({ ...q, noChecksum: true }));
      expect(b.f.dst).toBe(a.f.dst);
      expect(udpChecksumField(b.out)).toBe(0);
      expect(ipv4HeaderChecksum(b.out)).toBe(0);

      const reply = run(
        'from',
        ipv4UdpFlow({ src: a.f.dst, dst: q.src, sport: 5353, dport: q.sport, payload: 40 }),
      );
      expect([reply.f.src, reply.f.sport]).toEqual([dns.vip, 53]);
      checksumsOk(reply.out);
    });

    it('translates TCP and UDP over IPv6', () => {
      const vip = 'fd00:96::10';
      const web6: Service = {
        vip,
        port: 80,
        proto: TCP,
        revNat: 3,
        backends: [
          { id: 31, ip: 'fd00:1::1', port: 8080 },
          { id: 32, ip: 'fd00:1::2', port: 8080 },
        ],
      };
      const dns6: Service = {
        vip,
        port: 53,
        proto: UDP,
        revNat: 4,
        backends: [{ id: 33, ip: 'fd00:1::3', port: 5353 }],
      };
      writeService(m, web6);
      writeService(m, dns6);
      const ips = web6.backends.map((b) => normalizeIp(b.ip));
      const client = { src: 'fd00::5', dst: vip, sport: 41000, dport: 80 };
      const syn = run('from', ipv6Tcp({ ...client, flags: TCP_FLAG.SYN }));
      expect(syn.retval).toBe(TC_ACT_OK);
      expect(ips).toContain(syn.f.dst);
      expect(syn.f.dport).toBe(8080);
      checksumsOk(syn.out);
      const se = m.ct6.tcp.lookup(tupleOf(ipv6Tcp(client), TUPLE_F.SERVICE))!;
      expect(se.rx_bytes).toBe(BigInt(syn.cb[3]!));
      const outKey = tupleOf(syn.out, TUPLE_F.OUT);
      expect(m.ct6.tcp.lookup(outKey)!.rev_nat_index).toBe(web6.revNat);
      for (let i = 0; i < 5; i++) {
        const next = run('from', ipv6Tcp({ ...client, flags: TCP_FLAG.ACK, payload: 33 }));
        expect(next.f.dst).toBe(syn.f.dst);
        checksumsOk(next.out);
      }
      const reply = ipv6Tcp({
        src: syn.f.dst,
        dst: client.src,
        sport: 8080,
        dport: client.sport,
        flags: TCP_FLAG.ACK,
        payload: 12,
      });
      for (const prog of ['from', 'to'] as const) {
        const r = run(prog, reply);
        expect([r.f.src, r.f.sport]).toEqual([normalizeIp(vip), 80]);
        checksumsOk(r.out);
      }
      expect(m.ct6.tcp.lookup(outKey)!.rx_packets).toBe(2n);

      const q = { src: 'fd00::5', dst: vip, sport: 41001, dport: 53, payload: 20 };
      const u = run('from', ipv6UdpFlow(q));
      expect([u.f.dst, u.f.dport]).toEqual([normalizeIp('fd00:1::3'), 5353]);
      checksumsOk(u.out);
      expect(m.ct6.any.lookup(tupleOf(u.out, TUPLE_F.OUT))!.rev_nat_index).toBe(dns6.revNat);
      const ur = run(
        'to',
        ipv6UdpFlow({ src: 'fd00:1::3', dst: q.src, sport: 5353, dport: q.sport, payload: 9 }),
      );
      expect([ur.f.src, ur.f.sport]).toEqual([normalizeIp(vip), 53]);
      checksumsOk(ur.out);
    });

    it('drops packets to a service without an active backend, and counts them', () => {
      writeService(m, { vip: '10.96.0.99', port: 80, proto: TCP, revNat: 9, backends: [] });
      writeService(m, { vip: 'fd00:96::99', port: 80, proto: TCP, revNat: 10, backends: [] });
      const before = total(m.metrics, REASON.NO_SERVICE, METRIC.EGRESS);
      const f4 = ipv4Tcp({ src: '10.0.0.5', dst: '10.96.0.99', sport: 40500, dport: 80 });
      const f6 = ipv6Tcp({ src: 'fd00::5', dst: 'fd00:96::99', sport: 40500, dport: 80 });
      expect(run('from', f4).retval).toBe(TC_ACT_SHOT);
      expect(run('from', f6).retval).toBe(TC_ACT_SHOT);
      expect(total(m.metrics, REASON.NO_SERVICE, METRIC.EGRESS)).toBe(before + 2);
      expect(m.ct4.tcp.lookup(tupleOf(f4, TUPLE_F.SERVICE))).toBeUndefined();
      // Other ports of the same address are no service: passed on untouched.
      const other = ipv4Tcp({ src: '10.0.0.5', dst: '10.96.0.99', sport: 40500, dport: 81 });
      const r = run('from', other);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.out.subarray(14).equals(other.subarray(14))).toBe(true);
    });

    it('keeps established flows on a terminating backend and gives it no new ones', () => {
      const svc: Service = {
        vip: '10.96.0.20',
        port: 80,
        proto: TCP,
        revNat: 5,
        backends: [
          { id: 41, ip: '10.0.4.1', port: 8080 },
          { id: 42, ip: '10.0.4.2', port: 8080 },
        ],
      };
      writeService(m, svc);
      // Open flows until one lands on backend 42 (random: each has one chance in two).
      const flow = (sport: number, flags: number = TCP_FLAG.SYN) =>
        ipv4Tcp({ src: '10.0.0.6', dst: svc.vip, sport, dport: 80, flags });
      let on42 = 0;
      for (let sport = 42000; sport < 42200 && !on42; sport++)
        if (run('from', flow(sport)).cb[3] === 42) on42 = sport;
      expect(on42).toBeGreaterThan(0);

      // 42 terminates: it moves behind the active slots.
      writeService(m, {
        ...svc,
        active: 1,
        backends: [svc.backends[0]!, { ...svc.backends[1]!, state: BE_STATE.terminating }],
      });
      for (let i = 0; i < 5; i++) expect(run('from', flow(on42, TCP_FLAG.ACK)).cb[3]).toBe(42);
      const fresh = new Set<number>();
      for (let sport = 43000; sport < 43040; sport++) fresh.add(run('from', flow(sport)).cb[3]!);
      expect([...fresh]).toEqual([41]);

      // Once 42 is gone from the backends map, its flows move to an active backend.
      const before = total(m.metrics, REASON.LB_NO_BACKEND, METRIC.SERVICE);
      m.lb4.backends.delete({ backend_id: 42 });
      const moved = run('from', flow(on42, TCP_FLAG.ACK));
      expect([moved.cb[3], moved.f.dst]).toEqual([41, '10.0.4.1']);
      expect(total(m.metrics, REASON.LB_NO_BACKEND, METRIC.SERVICE)).toBe(before + 1);
      expect(m.ct4.tcp.lookup(tupleOf(flow(on42), TUPLE_F.SERVICE))!.rx_bytes).toBe(41n);
    });

    it('picks backends from the Maglev table by the flow hash', () => {
      const svc: Service = {
        vip: '10.96.0.30',
        port: 80,
        proto: TCP,
        revNat: 6,
        master: LB_ALGORITHM.maglev << LB_ALGORITHM_SHIFT,
        backends: [
          { id: 51, ip: '10.0.5.1', port: 8080 },
          { id: 52, ip: '10.0.5.2', port: 8080 },
          { id: 53, ip: '10.0.5.3', port: 8080 },
        ],
      };
      writeService(m, svc);
      // A table as the control plane would compute it; here a fixed pattern over the three.
      const table = Array.from({ length: MAGLEV_TABLE_SIZE }, (_, i) => [51, 52, 53][(i * 7) % 3]!);
      const inner = createInnerMap(m.lb4.maglev.raw, 'test_maglev');
      const keys = Buffer.alloc(4 * table.length);
      const values = Buffer.alloc(4 * table.length);
      table.forEach((id, i) => {
        keys.writeUInt32LE(i, 4 * i);
        values.writeUInt32LE(id, 4 * i);
      });
      inner.updateBatch(keys, values, table.length, 'any');
      const outerKey = Buffer.alloc(LB4.maglev.key.size);
      LB4.maglev.key.encode({ rev_nat_id: svc.revNat }, outerKey);
      setInnerMap(m.lb4.maglev.raw, outerKey, inner);
      inner.close();
      m.lbConfig.update({ index: 0 }, { maglev_lut_size: MAGLEV_TABLE_SIZE });

      const seen = new Set<number>();
      for (let sport = 44000; sport < 44030; sport++) {
        const frame = ipv4Tcp({ src: '10.0.0.7', dst: svc.vip, sport, dport: 80 });
        const want = table[flowHash4(frame) % MAGLEV_TABLE_SIZE];
        expect(run('from', frame).cb[3]).toBe(want);
        // Without its conntrack entries, the same flow lands on the same backend again.
        m.ct4.tcp.delete(tupleOf(frame, TUPLE_F.SERVICE));
        expect(run('from', frame).cb[3]).toBe(want);
        seen.add(want!);
      }
      expect(seen.size).toBeGreaterThan(1);

      // 53 terminates before the table is rebuilt: flows the table sends to 53 take an active
      // slot instead; the others still follow the table.
      writeService(m, {
        ...svc,
        active: 2,
        backends: [
          svc.backends[0]!,
          svc.backends[1]!,
          { ...svc.backends[2]!, state: BE_STATE.terminating },
        ],
      });
      let redirected = 0;
      for (let sport = 44100; sport < 44160; sport++) {
        const frame = ipv4Tcp({ src: '10.0.0.7', dst: svc.vip, sport, dport: 80 });
        const want = table[flowHash4(frame) % MAGLEV_TABLE_SIZE]!;
        const got = run('from', frame).cb[3]!;
        if (want === 53) {
          expect([51, 52]).toContain(got);
          redirected++;
        } else expect(got).toBe(want);
      }
      expect(redirected).toBeGreaterThan(0);
    });

    it('keeps a client on its backend while its affinity entry is fresh', () => {
      const svc: Service = {
        vip: '10.96.0.40',
        port: 80,
        proto: TCP,
        revNat: 7,
        flags: SVC_FLAG.AFFINITY,
        master: (LB_ALGORITHM.random << LB_ALGORITHM_SHIFT) | 300,
        backends: [
          { id: 61, ip: '10.0.6.1', port: 8080 },
          { id: 62, ip: '10.0.6.2', port: 8080 },
          { id: 63, ip: '10.0.6.3', port: 8080 },
        ],
      };
      writeService(m, svc);
      for (const b of svc.backends)
        m.affinityMatch.update({ backend_id: b.id, rev_nat_id: svc.revNat }, {});
      const clientId = (ip: string) => {
        const b = Buffer.alloc(8);
        Buffer.from(ip.split('.').map(Number)).copy(b);
        return b;
      };
      const chosenBy = new Map<string, number>();
      for (const client of ['10.0.0.8', '10.0.0.9']) {
        const t0 = monoSec();
        const first = run('from', ipv4Tcp({ src: client, dst: svc.vip, sport: 45000, dport: 80 }));
        const t1 = monoSec();
        const chosen = first.cb[3]!;
        const aff = m.lb4.affinity.lookup({
          client_id: clientId(client),
          rev_nat_id: svc.revNat,
          netns_cookie: 0,
        })!;
        expect(aff.backend_id).toBe(chosen);
        expect(Number(aff.last_used)).toBeGreaterThanOrEqual(t0);
        expect(Number(aff.last_used)).toBeLessThanOrEqual(t1);
        for (let sport = 45001; sport < 45021; sport++) {
          const r = run('from', ipv4Tcp({ src: client, dst: svc.vip, sport, dport: 80 }));
          expect(r.cb[3]).toBe(chosen);
        }
        chosenBy.set(client, chosen);
      }

      // The first client's backend terminates: its next flow goes elsewhere, and stays there.
      const old = chosenBy.get('10.0.0.8')!;
      writeService(m, {
        ...svc,
        active: 2,
        backends: [
          ...svc.backends.filter((b) => b.id !== old),
          { ...svc.backends.find((b) => b.id === old)!, state: BE_STATE.terminating },
        ],
      });
      const moved = run(
        'from',
        ipv4Tcp({ src: '10.0.0.8', dst: svc.vip, sport: 45100, dport: 80 }),
      );
      expect(moved.cb[3]).not.toBe(old);
      for (let sport = 45101; sport < 45111; sport++) {
        const r = run('from', ipv4Tcp({ src: '10.0.0.8', dst: svc.vip, sport, dport: 80 }));
        expect(r.cb[3]).toBe(moved.cb[3]);
      }
    });

    it('hairpins a pod that reaches itself through a service (IPv4)', () => {
      const self = '10.0.0.50';
      m.lxc.update(endpointKeyOf(self), {
        ifindex: 9,
        lxc_id: 50,
        flags: 0,
        mac: '02:00:00:00:00:50',
        node_mac: '02:00:00:00:00:01',
        sec_id: 1050,
      });
      writeService(m, {
        vip: '10.96.0.50',
        port: 80,
        proto: TCP,
        revNat: 8,
        backends: [{ id: 70, ip: self, port: 8080 }],
      });
      const out = run('from', ipv4Tcp({ src: self, dst: '10.96.0.50', sport: 46000, dport: 80 }));
      expect(out.retval).toBe(TC_ACT_REDIRECT);
      expect([out.f.src, out.f.sport, out.f.dst, out.f.dport]).toEqual([
        IPV4_LOOPBACK,
        46000,
        self,
        8080,
      ]);
      expect(out.mark).toBe(MARK_MAGIC_POLICY_DONE);
      checksumsOk(out.out);
      const oe = m.ct4.tcp.lookup(tupleOf(out.out, TUPLE_F.OUT))!;
      expect(oe.flags & CT_F_LB_LOOPBACK).toBe(CT_F_LB_LOOPBACK);
      // The pod answers the loopback address; it gets the reply from the VIP, to itself.
      const back = run(
        'from',
        ipv4Tcp({
          src: self,
          dst: IPV4_LOOPBACK,
          sport: 8080,
          dport: 46000,
          flags: TCP_FLAG.SYN | TCP_FLAG.ACK,
        }),
      );
      expect(back.retval).toBe(TC_ACT_REDIRECT);
      expect([back.f.src, back.f.sport, back.f.dst, back.f.dport]).toEqual([
        '10.96.0.50',
        80,
        self,
        46000,
      ]);
      checksumsOk(back.out);
    });

    it('forgets a service flow whose tuple a direct flow reuses', () => {
      const svcFlow = ipv4Tcp({ src: '10.0.0.5', dst: web4.vip, sport: 47000, dport: 80 });
      const x = run('from', svcFlow);
      const outKey = tupleOf(x.out, TUPLE_F.OUT);
      expect(m.ct4.tcp.lookup(outKey)).toBeDefined();
      // The same client port to the backend directly: a new flow, whose replies stay as they are.
      const direct = ipv4Tcp({ src: '10.0.0.5', dst: x.f.dst, sport: 47000, dport: 8080 });
      expect(run('from', direct).out.subarray(14).equals(direct.subarray(14))).toBe(true);
      expect(m.ct4.tcp.lookup(outKey)).toBeUndefined();
      const reply = ipv4Tcp({
        src: x.f.dst,
        dst: '10.0.0.5',
        sport: 8080,
        dport: 47000,
        flags: TCP_FLAG.SYN | TCP_FLAG.ACK,
      });
      expect(run('to', reply).f.src).toBe(x.f.dst);
    });
  },
);

// A backend: a TCP server that greets each connection with its name and echoes lines prefixed
// with it, and a UDP server that answers each datagram with its name.
const SERVER = `
import net from 'node:net';
import dgram from 'node:dgram';
const [name, host] = process.argv.slice(2);
let up = 0;
const ready = () => { if (++up === 2) console.log('ready'); };
net.createServer((s) => {
  s.on('error', () => {});
  s.write(name + '\\n');
  s.setEncoding('utf8');
  s.on('data', (d) => s.write(name + ':' + d));
}).listen(8080, host, ready);
const u = dgram.createSocket('udp4');
u.on('message', (msg, r) => u.send(name, r.port, r.address));
u.bind(5353, host, ready);
`;

// The client pod's driver: JSON requests on stdin, one JSON answer per line on stdout.
const CLIENT = `
import net from 'node:net';
import dgram from 'node:dgram';
import readline from 'node:readline';
const LIMIT = 5000;
const timed = (p, what) => Promise.race([p, new Promise((_, no) =>
  setTimeout(() => no(new Error(what + ': no answer')), LIMIT).unref())]);
function connect(host, port) {
  return new Promise((ok, no) => {
    const s = net.connect({ host, port });
    const lines = []; const waiting = []; let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d) => {
      buf += d;
      for (let i; (i = buf.indexOf('\\n')) >= 0; buf = buf.slice(i + 1)) {
        const w = waiting.shift(); const line = buf.slice(0, i);
        if (w) w.ok(line); else lines.push(line);
      }
    });
    s.on('error', (e) => { for (const w of waiting.splice(0)) w.no(e); no(e); });
    const next = () => lines.length ? Promise.resolve(lines.shift())
      : new Promise((ok2, no2) => waiting.push({ ok: ok2, no: no2 }));
    s.on('connect', () => ok({ s, next }));
  });
}
const streams = new Map();
const ops = {
  async tcp({ host, port, n }) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const c = await timed(connect(host, port), 'connect');
      out.push({ name: await timed(c.next(), 'greeting'), peer: c.s.remoteAddress });
      c.s.end();
    }
    return out;
  },
  async udp({ host, port, n }) {
    // Each query from a socket of its own, all kept open until the last answer: n distinct
    // source ports, so n flows (a socket closed at once could hand its port to the next one).
    const out = [];
    const socks = [];
    try {
      for (let i = 0; i < n; i++) {
        const s = dgram.createSocket('udp4');
        socks.push(s);
        await new Promise((ok) => s.connect(port, host, ok));
        const got = new Promise((ok) => s.once('message', (m, r) => ok({ name: String(m), peer: r.address })));
        s.send('q');
        out.push(await timed(got, 'udp answer'));
      }
    } finally {
      for (const s of socks) s.close();
    }
    return out;
  },
  async open({ host, port }) {
    const c = await timed(connect(host, port), 'connect');
    const id = streams.size + 1;
    streams.set(id, c);
    return { id, name: await timed(c.next(), 'greeting') };
  },
  async send({ id, msg }) {
    const c = streams.get(id);
    c.s.write(msg + '\\n');
    return timed(c.next(), 'echo');
  },
};
readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const req = JSON.parse(line);
  try { console.log(JSON.stringify({ ok: true, result: await ops[req.op](req) })); }
  catch (e) { console.log(JSON.stringify({ ok: false, error: String(e) })); }
});
`;

/** A pod as the CNI plugin sets it up (core/net/pod-link.ts): /32, gateway on-link, neighbour. */
interface Pod {
  readonly ns: string;
  readonly ip: string;
  readonly hostIf: string;
}

const GATEWAY = '10.201.0.254';
const NODE_IP = '10.201.255.1';

function addPod(node: string, id: string, i: number, m: Maps): Pod {
  const ns = netns(`lbp${i}-${id}`);
  const hostIf = `lxl${i}${id}`;
  const ip = `10.201.0.${10 + i}`;
  veth(node, hostIf, ns, 'eth0');
  const host = linkIn(node, hostIf);
  const pod = linkIn(ns, 'eth0');
  sh('ip', ['-n', ns, 'addr', 'add', `${ip}/32`, 'dev', 'eth0']);
  sh('ip', ['-n', ns, 'route', 'add', `${GATEWAY}/32`, 'dev', 'eth0', 'scope', 'link']);
  sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', GATEWAY, 'dev', 'eth0']);
  sh('ip', [
    '-n',
    ns,
    'neigh',
    'add',
    GATEWAY,
    'lladdr',
    host.address,
    'dev',
    'eth0',
    'nud',
    'permanent',
  ]);
  sh('ip', ['-n', node, 'route', 'add', `${ip}/32`, 'dev', hostIf]);
  sh('ip', [
    '-n',
    node,
    'neigh',
    'add',
    ip,
    'lladdr',
    pod.address,
    'dev',
    hostIf,
    'nud',
    'permanent',
  ]);
  m.lxc.update(endpointKeyOf(ip), {
    ifindex: host.ifindex,
    lxc_id: 100 + i,
    flags: 0,
    mac: pod.address,
    node_mac: host.address,
    sec_id: 1000 + i,
  });
  return { ns, ip, hostIf };
}

kernelSuite(
  'bpf_lxc service translation with real traffic between pods',
  { objects: [OBJECT], commands: ['ip', 'nsenter', 'sysctl'] },
  () => {
    it('balances TCP and UDP to a ClusterIP over its pods, replies come from the VIP, and a terminating pod keeps its stream', async () => {
      const pins = testPinDir();
      onTestFinished(() => pins.cleanup());
      const m = openAll(pins.dir);
      onTestFinished(() => {
        for (const x of m.all) x.close();
      });
      const id = uniq();
      const node = netns(`lbn-${id}`);
      for (const k of ['all', 'default'])
        inNs(node, 'sysctl', ['-qw', `net.ipv4.conf.${k}.rp_filter=0`]);
      const [client, ...backends] = [0, 1, 2, 3].map((i) => addPod(node, id, i, m));
      // The node's own address (a host-network backend), on its loopback: no dummy driver needed.
      sh('ip', ['-n', node, 'addr', 'add', `${NODE_IP}/32`, 'dev', 'lo']);

      // bpf_lxc on every pod's host side, with all the maps above reused.
      const url = (p: string) => new URL(`../${p}`, import.meta.url).href;
      const attach = runTs(
        `
import { ifIndex, loadObject, openMap, tcAttach } from '${url('core/bpf/index.ts')}';
import { AGENT_MAPS } from '${url('cells/maps/index.ts')}';
import { LB_MAPS } from '${url('cells/loadbalancer/maps.ts')}';
import { CT_MAPS } from '${url('cells/conntrack/maps.ts')}';
const [pinDir = '', object = '', ...ifnames] = process.argv.slice(2);
const maps = [...AGENT_MAPS, ...LB_MAPS, ...CT_MAPS].map((s) =>
  openMap(s as never, { backend: 'kernel', pinDir }));
const obj = loadObject(object, maps.map((x) => x.raw));
for (const ifname of ifnames) {
  tcAttach(ifIndex(ifname), 'ingress', obj.program('cil_from_container'));
  tcAttach(ifIndex(ifname), 'egress', obj.program('cil_to_container'));
}
obj.close();
for (const x of maps) x.close();
`,
        [pins.dir, OBJECT, client!.hostIf, ...backends.map((b) => b.hostIf)],
        ['nsenter', `--net=/run/netns/${node}`],
      );
      expect(attach.status, attach.stderr).toBe(0);

      const dir = tempDir();
      writeFileSync(join(dir, 'server.mjs'), SERVER);
      writeFileSync(join(dir, 'client.mjs'), CLIENT);
      const names = backends.map((_, i) => `pod${i + 1}`);
      const servers = [
        ...backends.map((b, i) => startIn(b.ns, join(dir, 'server.mjs'), [names[i]!, '0.0.0.0'])),
        startIn(node, join(dir, 'server.mjs'), ['node', NODE_IP]),
      ];
      for (const s of servers) expect(await s.nextLine()).toBe('ready');
      const driver = startIn(client!.ns, join(dir, 'client.mjs'), []);
      const ask = async <T>(req: Record<string, unknown>): Promise<T> => {
        driver.p.stdin.write(JSON.stringify(req) + '\n');
        const answer = JSON.parse(await driver.nextLine()) as {
          ok: boolean;
          result: T;
          error?: string;
        };
        if (!answer.ok) throw new Error(answer.error);
        return answer.result;
      };
      type Answer = { name: string; peer: string }[];

      const vip = '10.96.77.10';
      const tcpSvc: Service = {
        vip,
        port: 80,
        proto: TCP,
        revNat: 21,
        backends: backends.map((b, i) => ({ id: 201 + i, ip: b.ip, port: 8080 })),
      };
      writeService(m, tcpSvc);
      writeService(m, {
        vip,
        port: 53,
        proto: UDP,
        revNat: 22,
        backends: backends.map((b, i) => ({ id: 211 + i, ip: b.ip, port: 5353 })),
      });

      // Every pod answers; the client only ever talks to the VIP.
      const tcp = await ask<Answer>({ op: 'tcp', host: vip, port: 80, n: 60 });
      expect(new Set(tcp.map((a) => a.name))).toEqual(new Set(names));
      expect(new Set(tcp.map((a) => a.peer))).toEqual(new Set([vip]));
      const udp = await ask<Answer>({ op: 'udp', host: vip, port: 53, n: 45 });
      expect(new Set(udp.map((a) => a.name))).toEqual(new Set(names));
      expect(new Set(udp.map((a) => a.peer))).toEqual(new Set([vip]));
      const tracked = [...m.ct4.tcp.entries()].filter(
        ([k, v]) => k.flags === TUPLE_F.SERVICE && k.daddr === vip && v.rev_nat_index === 21,
      );
      expect(tracked.length).toBeGreaterThanOrEqual(60);
      // One query and one answer per UDP flow, each counted once, though the answer passes two
      // programs: the backend's cil_from_container (which reverse-translates it) and the client's
      // cil_to_container (which runs on redirected packets too).
      const udpFlows = [...m.ct4.any.entries()].filter(
        ([k, v]) => k.flags === TUPLE_F.OUT && v.rev_nat_index === 22,
      );
      expect(udpFlows.length).toBe(45);
      for (const [, v] of udpFlows) expect([v.tx_packets, v.rx_packets]).toEqual([1n, 1n]);

      // A stream is open on one pod; that pod starts terminating.
      const stream = await ask<{ id: number; name: string }>({ op: 'open', host: vip, port: 80 });
      expect(await ask({ op: 'send', id: stream.id, msg: 'before' })).toBe(`${stream.name}:before`);
      const leaving = names.indexOf(stream.name);
      const staying = tcpSvc.backends.filter((_, i) => i !== leaving);
      writeService(m, {
        ...tcpSvc,
        active: 2,
        backends: [...staying, { ...tcpSvc.backends[leaving]!, state: BE_STATE.terminating }],
      });
      const after = await ask<Answer>({ op: 'tcp', host: vip, port: 80, n: 60 });
      expect(new Set(after.map((a) => a.name))).toEqual(
        new Set(names.filter((n) => n !== stream.name)),
      );
      for (let i = 0; i < 5; i++)
        expect(await ask({ op: 'send', id: stream.id, msg: `after${i}` })).toBe(
          `${stream.name}:after${i}`,
        );

      // A backend in the host's namespace: its replies reach the pod through cil_to_container.
      const hostVip = '10.96.77.20';
      writeService(m, {
        vip: hostVip,
        port: 80,
        proto: TCP,
        revNat: 23,
        backends: [{ id: 221, ip: NODE_IP, port: 8080 }],
      });
      writeService(m, {
        vip: hostVip,
        port: 53,
        proto: UDP,
        revNat: 24,
        backends: [{ id: 222, ip: NODE_IP, port: 5353 }],
      });
      const viaHost = [
        ...(await ask<Answer>({ op: 'tcp', host: hostVip, port: 80, n: 5 })),
        ...(await ask<Answer>({ op: 'udp', host: hostVip, port: 53, n: 5 })),
      ];
      expect(viaHost).toEqual(Array.from({ length: 10 }, () => ({ name: 'node', peer: hostVip })));
    });
  },
);
