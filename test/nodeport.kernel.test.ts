// bpf_host's NodePort path on the real kernel: crafted frames through BPF_PROG_TEST_RUN inside a
// node namespace with real devices, routes and neighbours (the program's FIB lookups see them),
// with the load balancer's and conntrack's maps filled by hand; then real traffic from an
// external client namespace to NodePort and LoadBalancer frontends of a node namespace, served by
// a pod of the node (bpf_lxc on its veth) and by a backend behind a second device (source NAT).
// Root only (core/testing/kernel.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { loadObject, readStructs, testRun, type BpfObject } from '../core/bpf/index.js';
import { withNetns } from '../core/net/index.js';
import { BPF_LXC_OBJECT, kernelSuite, testPinDir } from '../core/testing/kernel.js';
import { ctKeyOfNat } from '../cells/conntrack/gc.js';
import { TUPLE_F } from '../cells/conntrack/maps.js';
import { SVC_FLAG, SVC_FLAG2 } from '../cells/loadbalancer/maps.js';
import { endpointKeyOf, METRIC, REASON } from '../cells/maps/index.js';
import { addr, inNs, linkIn, netns, sh, uniq, veth } from './support/netns.js';
import {
  CT_F_LB_LOOPBACK,
  CT_F_NODE_PORT,
  MARK_MAGIC_CT_DONE,
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
  otherFrame,
  parseFrame,
  TCP_FLAG,
  udpChecksumField,
} from './support/packets.js';
import { ROOT, tempDir } from './support/procs.js';
import { startIn } from './support/ns-script.js';

const OBJECT = join(ROOT, 'datapath-c', 'build', 'bpf_host.o');
const ATTACH = join(ROOT, 'test', 'support', 'attach-host.ts');

// datapath-c/include/cellium/ct.h
const NAT_PORT_MIN = 32768;
const NAT_PORT_MAX = 60999;

function neigh(ns: string, dev: string, ip: string, mac: string): void {
  sh('ip', ['-n', ns, 'neigh', 'replace', ip, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']);
}

/** Turns a namespace into a router (what the agent does with NodePort on). */
function forwarding(ns: string): void {
  inNs(ns, 'sysctl', [
    '-qw',
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
  ]);
}

kernelSuite(
  'bpf_host NodePort (BPF_PROG_TEST_RUN)',
  { objects: [OBJECT], commands: ['ip'] },
  () => {
    const id = uniq();
    const node = `npn-${id}`;
    const client = `npc-${id}`;
    const remote = `npr-${id}`;
    let pins: ReturnType<typeof testPinDir>;
    let m: Maps;
    let obj: BpfObject;
    let skbSize = 0;
    let cbOff = 0;
    let markOff = 0;
    let ifindexOff = 0;
    // Devices of the node: ext0 faces the client, int0 the remote backends.
    let ext = { ifindex: 0, address: '' };
    let int = { ifindex: 0, address: '' };
    let clientMac = '';
    let remoteMac = '';

    const undo: (() => void)[] = [];
    beforeAll(() => {
      for (const ns of [node, client, remote]) {
        sh('ip', ['netns', 'add', ns]);
        undo.push(() => sh('ip', ['netns', 'del', ns]));
      }
      veth(node, 'ext0', client, 'eth0');
      veth(node, 'int0', remote, 'eth0');
      addr(node, 'ext0', '192.0.2.1/24');
      addr(node, 'ext0', '2001:db8:1::1/64');
      addr(node, 'int0', '198.51.100.1/24');
      addr(node, 'int0', '2001:db8:2::1/64');
      ext = linkIn(node, 'ext0');
      int = linkIn(node, 'int0');
      clientMac = linkIn(client, 'eth0').address;
      remoteMac = linkIn(remote, 'eth0').address;
      // Known neighbours: the FIB answers with their MACs (198.51.100.3 stays unresolved).
      neigh(node, 'ext0', '192.0.2.2', clientMac);
      neigh(node, 'ext0', '2001:db8:1::2', clientMac);
      neigh(node, 'int0', '198.51.100.2', remoteMac);
      neigh(node, 'int0', '2001:db8:2::2', remoteMac);
      forwarding(node);

      pins = testPinDir();
      undo.push(() => pins.cleanup());
      m = openAll(pins.dir);
      undo.push(() => {
        for (const x of m.all) x.close();
      });
      obj = loadObject(
        OBJECT,
        m.all.map((x) => x.raw),
        { onlyDeclared: true },
      );
      undo.push(() => obj.close());
      const skb = readStructs(OBJECT, ['__sk_buff']).get('__sk_buff')!;
      skbSize = skb.size;
      cbOff = skb.members.find((x) => x.name === 'cb')!.offset;
      markOff = skb.members.find((x) => x.name === 'mark')!.offset;
      ifindexOff = skb.members.find((x) => x.name === 'ifindex')!.offset;
      m.devices.update({ ifindex: ext.ifindex }, { ipv4: '192.0.2.1', ipv6: '2001:db8:1::1' });
      m.devices.update({ ifindex: int.ifindex }, { ipv4: '198.51.100.1', ipv6: '2001:db8:2::1' });
    });
    afterAll(() => {
      for (const u of undo.reverse()) {
        try {
          u();
        } catch {
          // the rest is still undone
        }
      }
    });

    /** Runs a frame through cil_from_netdev as if it came in on `dev` of the node. */
    const run = (frame: Buffer, dev: { ifindex: number } = ext) => {
      const ctx = Buffer.alloc(skbSize);
      ctx.writeUInt32LE(dev.ifindex, ifindexOff);
      const r = withNetns(`/run/netns/${node}`, () =>
        testRun(obj.program('cil_from_netdev'), frame, { ctx }),
      );
      return {
        retval: r.retval,
        out: r.data,
        f: parseFrame(r.data),
        cb: [2, 3, 4].map((i) => r.ctx!.readUInt32LE(cbOff + 4 * i)),
        mark: r.ctx!.readUInt32LE(markOff),
      };
    };

    const checksumsOk = (frame: Buffer) => {
      if (parseFrame(frame).family === 4) expect(ipv4HeaderChecksum(frame), 'IPv4 header').toBe(0);
      expect(l4ChecksumCheck(frame), 'L4 over the pseudo header').toBe(0);
    };

    const ingress = (reason: number) => total(m.metrics, reason, METRIC.INGRESS);
    const service = (reason: number) => total(m.metrics, reason, METRIC.SERVICE);

    const POD = '10.20.0.5';
    const POD6 = 'fd00:20::5';
    const POD_MAC = '02:00:00:00:aa:05';
    const POD_HOST_MAC = '02:00:00:00:aa:01';
    const POD_IFINDEX = 4242;
    const addPod = () => {
      for (const ip of [POD, POD6])
        m.lxc.update(endpointKeyOf(ip), {
          ifindex: POD_IFINDEX,
          lxc_id: 77,
          flags: 0,
          mac: POD_MAC,
          node_mac: POD_HOST_MAC,
          sec_id: 1077,
        });
    };

    it('passes frames that are no service and no reply to a NATed flow untouched', () => {
      const frames = [
        ipv4Tcp({ src: '192.0.2.2', dst: '192.0.2.1', sport: 40000, dport: 22 }),
        ipv4UdpFlow({ src: '192.0.2.2', dst: '192.0.2.1', sport: 40000, dport: 53 }),
        ipv6Tcp({ src: '2001:db8:1::2', dst: '2001:db8:1::1', sport: 40000, dport: 22 }),
        otherFrame(),
      ];
      const fwd = ingress(REASON.FORWARDED);
      for (const frame of frames) {
        const r = run(frame);
        expect(r.retval).toBe(TC_ACT_OK);
        expect(r.out.equals(frame)).toBe(true);
        expect(r.cb).toEqual([0, 0, 0]);
      }
      expect(ingress(REASON.FORWARDED)).toBe(fwd + 3);
    });

    it('drops a frontend that is not routable (a ClusterIP) and serves one that is', () => {
      const svc: Service = {
        vip: '10.96.0.10',
        port: 80,
        proto: TCP,
        revNat: 1,
        backends: [{ id: 11, ip: '198.51.100.2', port: 8080 }],
      };
      writeService(m, svc);
      const frame = ipv4Tcp({ src: '192.0.2.2', dst: svc.vip, sport: 40100, dport: 80 });
      const before = ingress(REASON.IS_CLUSTER_IP);
      expect(run(frame).retval).toBe(TC_ACT_SHOT);
      expect(ingress(REASON.IS_CLUSTER_IP)).toBe(before + 1);
      expect(m.ct4.tcp.lookup(tupleOf(frame, TUPLE_F.SERVICE))).toBeUndefined();

      writeService(m, { ...svc, flags: SVC_FLAG.ROUTABLE | SVC_FLAG.EXTERNAL_IP });
      const r = run(frame);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect([r.f.dst, r.f.dport]).toEqual(['198.51.100.2', 8080]);
      expect(r.cb.slice(1)).toEqual([11, 1]);
    });

    it('checks loadBalancerSourceRanges (IPv4 and IPv6)', () => {
      const flags = SVC_FLAG.ROUTABLE | SVC_FLAG.LOADBALANCER | SVC_FLAG.SOURCE_RANGE;
      const v4: Service = {
        vip: '203.0.113.20',
        port: 80,
        proto: TCP,
        revNat: 2,
        flags,
        backends: [{ id: 21, ip: '198.51.100.2', port: 8080 }],
      };
      const v6: Service = {
        vip: '2001:db8:ff::20',
        port: 80,
        proto: TCP,
        revNat: 3,
        flags,
        backends: [{ id: 22, ip: '2001:db8:2::2', port: 8080 }],
      };
      writeService(m, v4);
      writeService(m, v6);
      m.lb4.sourceRange.update({ prefixlen: 32 + 28, rev_nat_id: 2, addr: '192.0.2.0' }, {});
      m.lb6.sourceRange.update({ prefixlen: 32 + 64, rev_nat_id: 3, addr: '2001:db8:1::' }, {});
      // Another service's range does not count.
      m.lb4.sourceRange.update({ prefixlen: 32 + 8, rev_nat_id: 99, addr: '192.0.0.0' }, {});

      const before = ingress(REASON.NOT_IN_SRC_RANGE);
      const denied = [
        ipv4Tcp({ src: '192.0.2.100', dst: v4.vip, sport: 40200, dport: 80 }),
        ipv6Tcp({ src: '2001:db8:9::2', dst: v6.vip, sport: 40200, dport: 80 }),
      ];
      for (const frame of denied) {
        expect(run(frame).retval).toBe(TC_ACT_SHOT);
        const ct = parseFrame(frame).family === 4 ? m.ct4 : m.ct6;
        expect(ct.tcp.lookup(tupleOf(frame, TUPLE_F.SERVICE))).toBeUndefined();
      }
      expect(ingress(REASON.NOT_IN_SRC_RANGE)).toBe(before + 2);
      const allowed = [
        ipv4Tcp({ src: '192.0.2.2', dst: v4.vip, sport: 40200, dport: 80 }),
        ipv6Tcp({ src: '2001:db8:1::2', dst: v6.vip, sport: 40200, dport: 80 }),
      ];
      for (const frame of allowed) expect(run(frame).retval).toBe(TC_ACT_REDIRECT);
      expect(ingress(REASON.NOT_IN_SRC_RANGE)).toBe(before + 2);
    });

    it('sends a flow to a backend on this node straight to its veth, the client address kept', () => {
      addPod();
      const svc: Service = {
        vip: '203.0.113.30',
        port: 80,
        proto: TCP,
        revNat: 4,
        flags: SVC_FLAG.ROUTABLE | SVC_FLAG.LOADBALANCER,
        backends: [{ id: 31, ip: POD, port: 8080 }],
      };
      writeService(m, svc);
      const client = { src: '192.0.2.2', dst: svc.vip, sport: 40300, dport: 80 };
      const translated = service(REASON.LB_TRANSLATED);
      const syn = run(ipv4Tcp({ ...client, flags: TCP_FLAG.SYN }));
      expect(syn.retval).toBe(TC_ACT_REDIRECT);
      expect([syn.f.src, syn.f.sport, syn.f.dst, syn.f.dport]).toEqual([
        client.src,
        client.sport,
        POD,
        8080,
      ]);
      expect([syn.f.dmac, syn.f.smac, syn.f.ttl]).toEqual([POD_MAC, POD_HOST_MAC, 63]);
      expect(syn.mark).toBe(MARK_MAGIC_CT_DONE);
      expect(syn.cb).toEqual([77, 31, 4]);
      checksumsOk(syn.out);
      expect(service(REASON.LB_TRANSLATED)).toBe(translated + 1);

      // Tracked as bpf_lxc tracks its flows, so the pod's bpf_lxc reverse-translates the replies.
      const se = m.ct4.tcp.lookup(tupleOf(ipv4Tcp(client), TUPLE_F.SERVICE))!;
      expect([se.rx_bytes, se.rev_nat_index]).toEqual([31n, 4]);
      const oe = m.ct4.tcp.lookup(tupleOf(syn.out, TUPLE_F.OUT))!;
      expect(oe.rev_nat_index).toBe(4);
      expect(oe.flags & CT_F_NODE_PORT).toBe(CT_F_NODE_PORT);
      expect(oe.ifindex).toBe(ext.ifindex);
      // No source NAT for a local backend.
      expect(m.ct4.nat.lookup({ ...tupleOf(syn.out, TUPLE_F.OUT) })).toBeUndefined();

      const ack = run(ipv4Tcp({ ...client, flags: TCP_FLAG.ACK, payload: 100 }));
      expect([ack.retval, ack.f.dst]).toEqual([TC_ACT_REDIRECT, POD]);
      checksumsOk(ack.out);
      expect(m.ct4.tcp.lookup(tupleOf(syn.out, TUPLE_F.OUT))!.tx_packets).toBe(2n);
    });

    it('source-NATs a flow to a backend elsewhere, reuses its mapping and translates the replies back (TCP)', () => {
      const svc: Service = {
        vip: '192.0.2.1',
        port: 30080,
        proto: TCP,
        revNat: 5,
        flags: SVC_FLAG.ROUTABLE | SVC_FLAG.NODEPORT,
        backends: [{ id: 41, ip: '198.51.100.2', port: 8080 }],
      };
      writeService(m, svc);
      const client = { src: '192.0.2.2', dst: svc.vip, sport: 40400, dport: 30080 };
      const syn = run(ipv4Tcp({ ...client, flags: TCP_FLAG.SYN }));
      expect(syn.retval).toBe(TC_ACT_REDIRECT);
      expect([syn.f.src, syn.f.dst, syn.f.dport]).toEqual(['192.0.2.1', '198.51.100.2', 8080]);
      const natPort = syn.f.sport;
      expect(natPort).toBeGreaterThanOrEqual(NAT_PORT_MIN);
      expect(natPort).toBeLessThanOrEqual(NAT_PORT_MAX);
      // Forwarded along the FIB: out of int0 to the backend's MAC, TTL decremented.
      expect([syn.f.dmac, syn.f.smac, syn.f.ttl]).toEqual([remoteMac, int.address, 63]);
      expect(syn.cb).toEqual([0, 41, 5]);
      checksumsOk(syn.out);

      // The NAT entries and the CT entry that keeps them alive (the agent's GC looks it up).
      const ct = {
        saddr: client.src,
        daddr: '198.51.100.2',
        sport: client.sport,
        dport: 8080,
        nexthdr: TCP,
        flags: TUPLE_F.OUT,
      };
      const natOut = m.ct4.nat.lookup(ct)!;
      expect([natOut.to_saddr, natOut.to_sport]).toEqual(['192.0.2.1', natPort]);
      const inKey = {
        saddr: '198.51.100.2',
        daddr: '192.0.2.1',
        sport: 8080,
        dport: natPort,
        nexthdr: TCP,
        flags: TUPLE_F.IN,
      };
      const natIn = m.ct4.nat.lookup(inKey)!;
      expect([natIn.to_saddr, natIn.to_sport]).toEqual([client.src, client.sport]);
      expect(ctKeyOfNat(ct, natOut)).toEqual(ct);
      expect(ctKeyOfNat(inKey, natIn)).toEqual(ct);
      const oe = m.ct4.tcp.lookup(ct)!;
      expect([oe.rev_nat_index, oe.flags & CT_F_NODE_PORT, oe.ifindex]).toEqual([
        5,
        CT_F_NODE_PORT,
        ext.ifindex,
      ]);

      // Every packet of the flow keeps its port.
      for (let i = 0; i < 3; i++) {
        const next = run(ipv4Tcp({ ...client, flags: TCP_FLAG.ACK, payload: 10 * i }));
        expect([next.f.src, next.f.sport]).toEqual(['192.0.2.1', natPort]);
        checksumsOk(next.out);
      }

      // The backend's reply comes in on int0: to the client, from the NodePort.
      const revnat = service(REASON.LB_REVNAT);
      const reply = run(
        ipv4Tcp({
          src: '198.51.100.2',
          dst: '192.0.2.1',
          sport: 8080,
          dport: natPort,
          flags: TCP_FLAG.SYN | TCP_FLAG.ACK,
        }),
        int,
      );
      expect(reply.retval).toBe(TC_ACT_REDIRECT);
      expect([reply.f.src, reply.f.sport, reply.f.dst, reply.f.dport]).toEqual([
        '192.0.2.1',
        30080,
        client.src,
        client.sport,
      ]);
      expect([reply.f.dmac, reply.f.smac, reply.f.ttl]).toEqual([clientMac, ext.address, 63]);
      expect(reply.cb).toEqual([0, 0, 5]);
      checksumsOk(reply.out);
      expect(service(REASON.LB_REVNAT)).toBe(revnat + 1);
      const after = m.ct4.tcp.lookup(ct)!;
      expect([after.rx_packets, after.rx_flags_seen]).toEqual([1n, TCP_FLAG.SYN | TCP_FLAG.ACK]);

      // A second client flow gets a port of its own.
      const other = run(ipv4Tcp({ ...client, sport: 40401 }));
      expect(other.f.src).toBe('192.0.2.1');
      expect(other.f.sport).not.toBe(natPort);
    });

    it('source-NATs UDP, with a checksum and without one, and translates replies back', () => {
      const svc: Service = {
        vip: '192.0.2.1',
        port: 30053,
        proto: UDP,
        revNat: 6,
        flags: SVC_FLAG.ROUTABLE | SVC_FLAG.NODEPORT,
        backends: [{ id: 51, ip: '198.51.100.2', port: 5353 }],
      };
      writeService(m, svc);
      const q = { src: '192.0.2.2', dst: svc.vip, sport: 40500, dport: 30053, payload: 21 };
      const a = run(ipv4UdpFlow(q));
      expect(a.retval).toBe(TC_ACT_REDIRECT);
      expect([a.f.src, a.f.dst, a.f.dport]).toEqual(['192.0.2.1', '198.51.100.2', 5353]);
      checksumsOk(a.out);
      expect(udpChecksumField(a.out)).not.toBe(0);
      const b = run(ipv4UdpFlow({ ...q, noChecksum: true }));
      expect([b.f.src, b.f.sport]).toEqual(['192.0.2.1', a.f.sport]);
      expect(udpChecksumField(b.out)).toBe(0);
      expect(ipv4HeaderChecksum(b.out)).toBe(0);
      const ct = { ...tupleOf(a.out, TUPLE_F.OUT), saddr: q.src, sport: q.sport };
      expect(m.ct4.any.lookup(ct)!.rev_nat_index).toBe(6);
      expect(m.ct4.tcp.lookup(ct)).toBeUndefined();

      const reply = run(
        ipv4UdpFlow({
          src: '198.51.100.2',
          dst: '192.0.2.1',
          sport: 5353,
          dport: a.f.sport,
          payload: 40,
        }),
        int,
      );
      expect(reply.retval).toBe(TC_ACT_REDIRECT);
      expect([reply.f.src, reply.f.sport, reply.f.dst, reply.f.dport]).toEqual([
        '192.0.2.1',
        30053,
        q.src,
        q.sport,
      ]);
      checksumsOk(reply.out);
      expect(m.ct4.any.lookup(ct)!.rx_packets).toBe(1n);
    });

    it('serves IPv6: a local backend, a backend elsewhere with source NAT, and its replies', () => {
      addPod();
      const local: Service = {
        vip: '2001:db8:1::1',
        port: 30081,
        proto: TCP,
        revNat: 7,
        flags: SVC_FLAG.ROUTABLE | SVC_FLAG.NODEPORT,
        backends: [{ id: 61, ip: POD6, port: 8080 }],
      };
      const far: Service = {
        ...local,
        port: 30082,
        revNat: 8,
        backends: [{ id: 62, ip: '2001:db8:2::2', port: 8080 }],
      };
      const dns: Service = {
        ...far,
        port: 30083,
        proto: UDP,
        revNat: 9,
        backends: [{ id: 63, ip: '2001:db8:2::2', port: 5353 }],
      };
      for (const s of [local, far, dns]) writeService(m, s);
      const cl = '2001:db8:1::2';

      const l = run(ipv6Tcp({ src: cl, dst: local.vip, sport: 40600, dport: 30081 }));
      expect(l.retval).toBe(TC_ACT_REDIRECT);
      expect([l.f.src, l.f.dst, l.f.dport]).toEqual([normalizeIp(cl), normalizeIp(POD6), 8080]);
      expect([l.f.dmac, l.f.smac, l.f.ttl, l.mark]).toEqual([
        POD_MAC,
        POD_HOST_MAC,
        63,
        MARK_MAGIC_CT_DONE,
      ]);
      checksumsOk(l.out);

      const r = run(ipv6Tcp({ src: cl, dst: far.vip, sport: 40601, dport: 30082 }));
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect([r.f.src, r.f.dst, r.f.dport]).toEqual([
        normalizeIp('2001:db8:1::1'),
        normalizeIp('2001:db8:2::2'),
        8080,
      ]);
      expect(r.f.sport).toBeGreaterThanOrEqual(NAT_PORT_MIN);
      expect([r.f.dmac, r.f.smac, r.f.ttl]).toEqual([remoteMac, int.address, 63]);
      checksumsOk(r.out);
      const ct = {
        saddr: cl,
        daddr: '2001:db8:2::2',
        sport: 40601,
        dport: 8080,
        nexthdr: TCP,
        flags: TUPLE_F.OUT,
      };
      const natOut = m.ct6.nat.lookup(ct)!;
      expect([normalizeIp(natOut.to_saddr), natOut.to_sport]).toEqual([
        normalizeIp('2001:db8:1::1'),
        r.f.sport,
      ]);
      const inKey = {
        saddr: '2001:db8:2::2',
        daddr: '2001:db8:1::1',
        sport: 8080,
        dport: r.f.sport,
        nexthdr: TCP,
        flags: TUPLE_F.IN,
      };
      const natIn = m.ct6.nat.lookup(inKey)!;
      expect([normalizeIp(natIn.to_saddr), natIn.to_sport]).toEqual([normalizeIp(cl), 40601]);
      expect(m.ct6.tcp.lookup(ctKeyOfNat(inKey, natIn))!.rev_nat_index).toBe(8);

      const back = run(
        ipv6Tcp({
          src: '2001:db8:2::2',
          dst: '2001:db8:1::1',
          sport: 8080,
          dport: r.f.sport,
          flags: TCP_FLAG.SYN | TCP_FLAG.ACK,
        }),
        int,
      );
      expect(back.retval).toBe(TC_ACT_REDIRECT);
      expect([back.f.src, back.f.sport, back.f.dst, back.f.dport]).toEqual([
        normalizeIp('2001:db8:1::1'),
        30082,
        normalizeIp(cl),
        40601,
      ]);
      expect([back.f.dmac, back.f.smac, back.f.ttl]).toEqual([clientMac, ext.address, 63]);
      checksumsOk(back.out);

      const u = run(ipv6UdpFlow({ src: cl, dst: dns.vip, sport: 40602, dport: 30083, payload: 9 }));
      expect([u.retval, u.f.dport]).toEqual([TC_ACT_REDIRECT, 5353]);
      checksumsOk(u.out);
      const ub = run(
        ipv6UdpFlow({ src: '2001:db8:2::2', dst: '2001:db8:1::1', sport: 5353, dport: u.f.sport }),
        int,
      );
      expect([ub.f.src, ub.f.sport, ub.f.dst, ub.f.dport]).toEqual([
        normalizeIp('2001:db8:1::1'),
        30083,
        normalizeIp(cl),
        40602,
      ]);
      checksumsOk(ub.out);
    });

    it('takes the EXT scope, and drops without a backend, a route, a device address or TTL', () => {
      addPod();
      // externalTrafficPolicy=Local: from outside only the node's own backend, from inside both.
      const etp: Service = {
        vip: '192.0.2.1',
        port: 30090,
        proto: TCP,
        revNat: 10,
        flags: SVC_FLAG.ROUTABLE | SVC_FLAG.NODEPORT | SVC_FLAG.EXT_LOCAL_SCOPE,
        flags2: SVC_FLAG2.TWO_SCOPES,
        backends: [{ id: 71, ip: POD, port: 8080 }],
        internal: [
          { id: 71, ip: POD, port: 8080 },
          { id: 72, ip: '198.51.100.2', port: 8080 },
        ],
      };
      writeService(m, etp);
      for (let sport = 40700; sport < 40720; sport++) {
        const r = run(ipv4Tcp({ src: '192.0.2.2', dst: etp.vip, sport, dport: 30090 }));
        expect([r.retval, r.f.dst, r.cb[1]]).toEqual([TC_ACT_REDIRECT, POD, 71]);
      }
      // None on this node: the EXT scope is empty.
      writeService(m, { ...etp, backends: [] });
      const noService = ingress(REASON.NO_SERVICE);
      expect(
        run(ipv4Tcp({ src: '192.0.2.2', dst: etp.vip, sport: 40721, dport: 30090 })).retval,
      ).toBe(TC_ACT_SHOT);
      expect(ingress(REASON.NO_SERVICE)).toBe(noService + 1);

      const unrouted: Service = {
        vip: '192.0.2.1',
        port: 30091,
        proto: TCP,
        revNat: 11,
        flags: SVC_FLAG.ROUTABLE | SVC_FLAG.NODEPORT,
        backends: [{ id: 73, ip: '100.64.0.1', port: 8080 }],
      };
      writeService(m, unrouted);
      const noFib = ingress(REASON.NO_FIB);
      const frame = ipv4Tcp({ src: '192.0.2.2', dst: unrouted.vip, sport: 40722, dport: 30091 });
      expect(run(frame).retval).toBe(TC_ACT_SHOT);
      expect(ingress(REASON.NO_FIB)).toBe(noFib + 1);
      // Dropped before any NAT port was taken.
      expect(
        m.ct4.nat.lookup({ ...tupleOf(frame, TUPLE_F.OUT), daddr: '100.64.0.1', dport: 8080 }),
      ).toBeUndefined();

      // A device that is not one of --devices (no address to NAT to).
      const far: Service = {
        ...unrouted,
        port: 30092,
        revNat: 12,
        backends: [{ id: 74, ip: '198.51.100.2', port: 8080 }],
      };
      writeService(m, far);
      const noMapping = ingress(REASON.NAT_NO_MAPPING);
      const f2 = ipv4Tcp({ src: '192.0.2.2', dst: far.vip, sport: 40723, dport: 30092 });
      expect(run(f2, { ifindex: 1 }).retval).toBe(TC_ACT_SHOT);
      expect(ingress(REASON.NAT_NO_MAPPING)).toBe(noMapping + 1);

      const ttl = ingress(REASON.TTL_EXCEEDED);
      const f3 = ipv4Tcp({ src: '192.0.2.2', dst: far.vip, sport: 40724, dport: 30092, ttl: 1 });
      expect(run(f3).retval).toBe(TC_ACT_SHOT);
      expect(ingress(REASON.TTL_EXCEEDED)).toBe(ttl + 1);
      // Dropped before a NAT port was taken.
      expect(
        m.ct4.nat.lookup({ ...tupleOf(f3, TUPLE_F.OUT), daddr: '198.51.100.2', dport: 8080 }),
      ).toBeUndefined();

      // A next hop without a neighbour entry: the neighbour subsystem resolves it.
      writeService(m, { ...far, backends: [{ id: 75, ip: '198.51.100.3', port: 8080 }] });
      const f4 = ipv4Tcp({ src: '192.0.2.2', dst: far.vip, sport: 40725, dport: 30092 });
      const r4 = run(f4);
      expect([r4.retval, r4.f.dst, r4.f.src, r4.f.ttl]).toEqual([
        TC_ACT_REDIRECT,
        '198.51.100.3',
        '192.0.2.1',
        63,
      ]);
      checksumsOk(r4.out);
    });

    it('takes an evicted NAT entry back, and leaves a port another flow holds', () => {
      const svc: Service = {
        vip: '192.0.2.1',
        port: 30100,
        proto: TCP,
        revNat: 13,
        flags: SVC_FLAG.ROUTABLE | SVC_FLAG.NODEPORT,
        backends: [{ id: 81, ip: '198.51.100.2', port: 8080 }],
      };
      writeService(m, svc);
      const flow = (sport: number) =>
        ipv4Tcp({ src: '192.0.2.2', dst: svc.vip, sport, dport: 30100, flags: TCP_FLAG.ACK });
      const first = run(flow(40800)).f.sport;
      const inKey = (port: number) => ({
        saddr: '198.51.100.2',
        daddr: '192.0.2.1',
        sport: 8080,
        dport: port,
        nexthdr: TCP,
        flags: TUPLE_F.IN,
      });
      // The IN entry is gone (LRU eviction): the flow takes its port back.
      expect(m.ct4.nat.delete(inKey(first))).toBe(true);
      expect(run(flow(40800)).f.sport).toBe(first);
      expect(m.ct4.nat.lookup(inKey(first))!.to_sport).toBe(40800);
      // Another flow now holds the port: this one moves to a new port.
      m.ct4.nat.update(inKey(first), {
        created: 0n,
        needs_ct: 0n,
        to_saddr: '192.0.2.99',
        to_sport: 1234,
      });
      const moved = run(flow(40800)).f.sport;
      expect(moved).not.toBe(first);
      expect(m.ct4.nat.lookup(inKey(moved))!.to_sport).toBe(40800);
      expect(m.ct4.nat.lookup(inKey(first))!.to_saddr).toBe('192.0.2.99');
    });

    it('source-NATs a backend that reaches a NodePort picking itself (no hairpin address)', () => {
      const svc: Service = {
        vip: '198.51.100.1',
        port: 30110,
        proto: TCP,
        revNat: 14,
        flags: SVC_FLAG.ROUTABLE | SVC_FLAG.NODEPORT,
        backends: [{ id: 91, ip: '198.51.100.2', port: 8080 }],
      };
      writeService(m, svc);
      const self = { src: '198.51.100.2', dst: svc.vip, sport: 40900, dport: 30110 };
      const out = run(ipv4Tcp(self), int);
      expect(out.retval).toBe(TC_ACT_REDIRECT);
      expect([out.f.src, out.f.dst, out.f.dport, out.f.dmac]).toEqual([
        '198.51.100.1',
        '198.51.100.2',
        8080,
        remoteMac,
      ]);
      const oe = m.ct4.tcp.lookup({
        saddr: self.src,
        daddr: '198.51.100.2',
        sport: self.sport,
        dport: 8080,
        nexthdr: TCP,
        flags: TUPLE_F.OUT,
      })!;
      expect(oe.flags & CT_F_LB_LOOPBACK).toBe(0);
      const back = run(
        ipv4Tcp({ src: '198.51.100.2', dst: '198.51.100.1', sport: 8080, dport: out.f.sport }),
        int,
      );
      expect([back.retval, back.f.src, back.f.sport, back.f.dst, back.f.dport]).toEqual([
        TC_ACT_REDIRECT,
        '198.51.100.1',
        30110,
        '198.51.100.2',
        40900,
      ]);
      checksumsOk(back.out);
    });
  },
);

// Backends: a TCP server that greets each connection with its name and the client address it
// sees, a UDP server that answers each datagram the same way, and a TCP echo server for bulk
// transfers (dual-stack, on every address).
const SERVER = `
import net from 'node:net';
import dgram from 'node:dgram';
const [name] = process.argv.slice(2);
const plain = (a) => a.startsWith('::ffff:') ? a.slice(7) : a;
let up = 0;
const ready = () => { if (++up === 3) console.log('ready'); };
net.createServer((s) => {
  s.on('error', () => {});
  s.end(name + ' ' + plain(s.remoteAddress) + '\\n');
}).listen(8080, '::', ready);
net.createServer((s) => {
  s.on('error', () => {});
  s.pipe(s);
}).listen(8081, '::', ready);
const u = dgram.createSocket('udp6');
u.on('message', (msg, r) => u.send(name + ' ' + plain(r.address), r.port, r.address));
u.bind(5353, '::', ready);
`;

// The external client's driver: JSON requests on stdin, one JSON answer per line on stdout.
// Timeouts only guard against a hang (a failed request is an error, or for "try", unanswered).
const CLIENT = `
import net from 'node:net';
import dgram from 'node:dgram';
import readline from 'node:readline';
const LIMIT = 5000;
const timed = (p, ms, what) => Promise.race([p, new Promise((_, no) =>
  setTimeout(() => no(new Error(what + ': no answer')), ms).unref())]);
const answer = (text) => { const [name, from] = text.trim().split(' '); return { name, from }; };
function tcpOnce(host, port) {
  return new Promise((ok, no) => {
    const s = net.connect({ host, port });
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (buf += d));
    s.on('error', no);
    s.on('end', () => ok({ ...answer(buf), peer: s.remoteAddress, peerPort: s.remotePort }));
  });
}
function udpOnce(host, port) {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const got = new Promise((ok, no) => {
    s.once('error', no);
    s.once('message', (m, r) => ok({ ...answer(String(m)), peer: r.address, peerPort: r.port }));
  });
  return { s, got: new Promise((ok, no) => s.connect(port, host, () => { s.send('q'); got.then(ok, no); })) };
}
const ops = {
  async tcp({ host, port, n }) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await timed(tcpOnce(host, port), LIMIT, 'tcp'));
    return out;
  },
  async udp({ host, port, n }) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const { s, got } = udpOnce(host, port);
      try { out.push(await timed(got, LIMIT, 'udp')); } finally { s.close(); }
    }
    return out;
  },
  async bulk({ host, port, bytes }) {
    const data = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
    const echoed = await timed(new Promise((ok, no) => {
      const s = net.connect({ host, port });
      const parts = [];
      s.on('data', (d) => parts.push(d));
      s.on('error', no);
      s.on('end', () => ok(Buffer.concat(parts)));
      s.on('connect', () => s.end(data));
    }), 30000, 'bulk');
    return { sent: bytes, echoed: echoed.length, same: echoed.equals(data) };
  },
  async udpTry({ host, port, ms }) {
    const { s, got } = udpOnce(host, port);
    try { return { answered: true, ...(await timed(got, ms, 'udp')) }; }
    catch { return { answered: false }; }
    finally { s.close(); }
  },
  async tcpTry({ host, port, ms }) {
    const s = net.connect({ host, port });
    s.on('error', () => {});
    const up = new Promise((ok) => s.once('connect', () => ok(true)));
    try { return { connected: await timed(up, ms, 'connect') }; }
    catch { return { connected: false }; }
    finally { s.destroy(); }
  },
};
readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const req = JSON.parse(line);
  try { console.log(JSON.stringify({ ok: true, result: await ops[req.op](req) })); }
  catch (e) { console.log(JSON.stringify({ ok: false, error: String(e) })); }
});
`;

/** Waits until `cond` holds; the deadline only guards against a hang. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

kernelSuite(
  'bpf_host NodePort with real traffic from outside the node',
  { objects: [OBJECT, BPF_LXC_OBJECT], commands: ['ip', 'nsenter', 'sysctl'] },
  () => {
    it('serves NodePort and LoadBalancer frontends from a local pod and a remote backend, eTP=Local, and source ranges', async () => {
      const pins = testPinDir();
      onTestFinished(() => pins.cleanup());
      const m = openAll(pins.dir);
      onTestFinished(() => {
        for (const x of m.all) x.close();
      });
      const id = uniq();
      const node = netns(`npn-${id}`);
      const client = netns(`npc-${id}`);
      const remote = netns(`npr-${id}`);
      const pod = netns(`npp-${id}`);
      forwarding(node);

      // The client, outside: a /24 shared with the node's first device, the LoadBalancer VIP
      // routed to the node.
      const nx = `nx${id}`;
      const ny = `ny${id}`;
      veth(node, nx, client, 'eth0');
      addr(node, nx, '192.168.61.1/24');
      addr(node, nx, '2001:db8:61::1/64');
      addr(client, 'eth0', '192.168.61.2/24');
      addr(client, 'eth0', '2001:db8:61::2/64');
      const VIP = '172.30.0.10';
      sh('ip', ['-n', client, 'route', 'add', `${VIP}/32`, 'via', '192.168.61.1']);
      // A backend on another node, behind the node's second device, routed back through it.
      veth(node, ny, remote, 'eth0');
      addr(node, ny, '192.168.62.1/24');
      addr(node, ny, '2001:db8:62::1/64');
      addr(remote, 'eth0', '192.168.62.2/24');
      addr(remote, 'eth0', '2001:db8:62::2/64');
      sh('ip', ['-n', remote, 'route', 'add', 'default', 'via', '192.168.62.1']);
      sh('ip', ['-n', remote, '-6', 'route', 'add', 'default', 'via', '2001:db8:62::1']);
      m.devices.update(
        { ifindex: linkIn(node, nx).ifindex },
        { ipv4: '192.168.61.1', ipv6: '2001:db8:61::1' },
      );
      m.devices.update(
        { ifindex: linkIn(node, ny).ifindex },
        { ipv4: '192.168.62.1', ipv6: '2001:db8:62::1' },
      );

      // A pod of the node, wired as the CNI plugin does (core/net/pod-link.ts): /32 and /128,
      // a gateway on-link with the host side's MAC, a host route and neighbour on the node.
      const hostIf = `lxh${id}`;
      veth(node, hostIf, pod, 'eth0');
      const host = linkIn(node, hostIf);
      const podLink = linkIn(pod, 'eth0');
      const POD = '10.201.0.10';
      const POD6 = 'fd00:201::10';
      for (const [ip, gw, v] of [
        [POD, '10.201.0.254', '-4'],
        [POD6, 'fd00:201::fe', '-6'],
      ] as const) {
        addr(pod, 'eth0', `${ip}/${v === '-4' ? 32 : 128}`);
        sh('ip', ['-n', pod, v, 'route', 'add', gw, 'dev', 'eth0']);
        sh('ip', ['-n', pod, v, 'route', 'add', 'default', 'via', gw, 'dev', 'eth0']);
        neigh(pod, 'eth0', gw, host.address);
        sh('ip', ['-n', node, v, 'route', 'add', ip, 'dev', hostIf]);
        neigh(node, hostIf, ip, podLink.address);
        m.lxc.update(endpointKeyOf(ip), {
          ifindex: host.ifindex,
          lxc_id: 301,
          flags: 0,
          mac: podLink.address,
          node_mac: host.address,
          sec_id: 1301,
        });
      }
      // The pod's replies to a NodePort on the node's own address leave bpf_lxc with that address
      // as their source: the node must accept a local source from the pod's device.
      inNs(node, 'sysctl', ['-qw', `net.ipv4.conf.${hostIf}.accept_local=1`]);

      // bpf_host on both devices, bpf_lxc on the pod's host side, all with the maps above.
      const attach = (object: string, hooks: string[]) => {
        const out = sh('nsenter', [
          `--net=/run/netns/${node}`,
          process.execPath,
          '--import',
          'tsx',
          ATTACH,
          pins.dir,
          object,
          ...hooks,
        ]);
        const ids = JSON.parse(out) as Record<string, number | undefined>;
        for (const h of hooks) expect(ids[h], h).toBeGreaterThan(0);
      };
      attach(OBJECT, [`cil_from_netdev:ingress:${nx}`, `cil_from_netdev:ingress:${ny}`]);
      attach(BPF_LXC_OBJECT, [
        `cil_from_container:ingress:${hostIf}`,
        `cil_to_container:egress:${hostIf}`,
      ]);

      const dir = tempDir();
      writeFileSync(join(dir, 'server.mjs'), SERVER);
      writeFileSync(join(dir, 'client.mjs'), CLIENT);
      const servers = [
        startIn(pod, join(dir, 'server.mjs'), ['pod']),
        startIn(remote, join(dir, 'server.mjs'), ['remote']),
      ];
      for (const s of servers) expect(await s.nextLine()).toBe('ready');
      const driver = startIn(client, join(dir, 'client.mjs'), []);
      const ask = async <T>(req: Record<string, unknown>): Promise<T> => {
        driver.p.stdin.write(JSON.stringify(req) + '\n');
        const a = JSON.parse(await driver.nextLine()) as { ok: boolean; result: T; error?: string };
        if (!a.ok) throw new Error(`${JSON.stringify(req)}: ${a.error}`);
        return a.result;
      };
      type Answer = { name: string; from: string; peer: string; peerPort: number }[];

      const NODE = '192.168.61.1';
      const NODE6 = '2001:db8:61::1';
      const CLIENT_IP = '192.168.61.2';
      const CLIENT6 = '2001:db8:61::2';
      const tcpBackends = [
        { id: 401, ip: POD, port: 8080 },
        { id: 402, ip: '192.168.62.2', port: 8080 },
      ];
      const udpBackends = [
        { id: 411, ip: POD, port: 5353 },
        { id: 412, ip: '192.168.62.2', port: 5353 },
      ];
      const nodePort = SVC_FLAG.ROUTABLE | SVC_FLAG.NODEPORT;
      const lb = SVC_FLAG.ROUTABLE | SVC_FLAG.LOADBALANCER;
      const services: Service[] = [
        { vip: NODE, port: 30080, proto: TCP, revNat: 41, flags: nodePort, backends: tcpBackends },
        { vip: NODE, port: 30080, proto: UDP, revNat: 42, flags: nodePort, backends: udpBackends },
        { vip: VIP, port: 80, proto: TCP, revNat: 43, flags: lb, backends: tcpBackends },
        { vip: VIP, port: 53, proto: UDP, revNat: 44, flags: lb, backends: udpBackends },
        {
          vip: NODE6,
          port: 30080,
          proto: TCP,
          revNat: 45,
          flags: nodePort,
          backends: [
            { id: 421, ip: POD6, port: 8080 },
            { id: 422, ip: '2001:db8:62::2', port: 8080 },
          ],
        },
        {
          vip: NODE6,
          port: 30080,
          proto: UDP,
          revNat: 46,
          flags: nodePort,
          backends: [
            { id: 431, ip: POD6, port: 5353 },
            { id: 432, ip: '2001:db8:62::2', port: 5353 },
          ],
        },
      ];
      for (const s of services) writeService(m, s);

      /** Both backends answer; replies come from the frontend; the pod sees the client. */
      const served = (answers: Answer, frontend: string, port: number) => {
        expect(new Set(answers.map((a) => a.name))).toEqual(new Set(['pod', 'remote']));
        for (const a of answers) {
          expect([normalizeIp(a.peer), a.peerPort]).toEqual([normalizeIp(frontend), port]);
          const v6 = frontend.includes(':');
          const seen = a.name === 'pod' ? (v6 ? CLIENT6 : CLIENT_IP) : v6 ? '2001:db8:61::1' : NODE;
          expect(normalizeIp(a.from), a.name).toBe(normalizeIp(seen));
        }
      };
      served(await ask<Answer>({ op: 'tcp', host: NODE, port: 30080, n: 40 }), NODE, 30080);
      served(await ask<Answer>({ op: 'udp', host: NODE, port: 30080, n: 30 }), NODE, 30080);
      served(await ask<Answer>({ op: 'tcp', host: VIP, port: 80, n: 40 }), VIP, 80);
      served(await ask<Answer>({ op: 'udp', host: VIP, port: 53, n: 30 }), VIP, 53);
      served(await ask<Answer>({ op: 'tcp', host: NODE6, port: 30080, n: 40 }), NODE6, 30080);
      served(await ask<Answer>({ op: 'udp', host: NODE6, port: 30080, n: 30 }), NODE6, 30080);

      // Bulk transfers both ways (large segments, offloaded checksums) to either backend.
      const bulk = [
        { vip: NODE, port: 30081, backend: { id: 441, ip: POD, port: 8081 } },
        { vip: NODE, port: 30082, backend: { id: 442, ip: '192.168.62.2', port: 8081 } },
        { vip: NODE6, port: 30081, backend: { id: 443, ip: POD6, port: 8081 } },
        { vip: NODE6, port: 30082, backend: { id: 444, ip: '2001:db8:62::2', port: 8081 } },
      ];
      for (const [i, b] of bulk.entries()) {
        writeService(m, {
          vip: b.vip,
          port: b.port,
          proto: TCP,
          revNat: 51 + i,
          flags: nodePort,
          backends: [b.backend],
        });
        const bytes = 4 << 20;
        expect(await ask({ op: 'bulk', host: b.vip, port: b.port, bytes }), b.backend.ip).toEqual({
          sent: bytes,
          echoed: bytes,
          same: true,
        });
      }

      // Every NAT entry is kept alive by its flow's CT entry, as the agent's GC finds it.
      const nat = [...m.ct4.nat.entries()];
      expect(nat.length).toBeGreaterThan(0);
      for (const [k, v] of nat) {
        const ct = ctKeyOfNat(k, v);
        const e = (ct.nexthdr === TCP ? m.ct4.tcp : m.ct4.any).lookup(ct);
        expect(e?.rev_nat_index, JSON.stringify(k)).toBeGreaterThan(0);
      }

      // externalTrafficPolicy=Local: the EXT scope holds only the node's pod.
      writeService(m, {
        ...services[0]!,
        flags: nodePort | SVC_FLAG.EXT_LOCAL_SCOPE,
        flags2: SVC_FLAG2.TWO_SCOPES,
        backends: [tcpBackends[0]!],
        internal: tcpBackends,
      });
      const local = await ask<Answer>({ op: 'tcp', host: NODE, port: 30080, n: 30 });
      expect(local.map((a) => [a.name, a.from, a.peer])).toEqual(
        local.map(() => ['pod', CLIENT_IP, NODE]),
      );

      // A source range that excludes the client: dropped at the node, counted.
      const ranged = SVC_FLAG.SOURCE_RANGE | lb;
      writeService(m, { ...services[2]!, flags: ranged });
      writeService(m, { ...services[3]!, flags: ranged });
      for (const rev of [43, 44])
        m.lb4.sourceRange.update({ prefixlen: 32 + 16, rev_nat_id: rev, addr: '10.99.0.0' }, {});
      const before = total(m.metrics, REASON.NOT_IN_SRC_RANGE, METRIC.INGRESS);
      const tried = await ask<{ answered: boolean }>({
        op: 'udpTry',
        host: VIP,
        port: 53,
        ms: 1000,
      });
      expect(tried.answered).toBe(false);
      const conn = await ask<{ connected: boolean }>({
        op: 'tcpTry',
        host: VIP,
        port: 80,
        ms: 1000,
      });
      expect(conn.connected).toBe(false);
      await until(
        () => total(m.metrics, REASON.NOT_IN_SRC_RANGE, METRIC.INGRESS) >= before + 2,
        'drops counted',
      );
      // ...and once the client's range is allowed, it is served again.
      for (const rev of [43, 44])
        m.lb4.sourceRange.update({ prefixlen: 32 + 24, rev_nat_id: rev, addr: '192.168.61.0' }, {});
      served(await ask<Answer>({ op: 'tcp', host: VIP, port: 80, n: 20 }), VIP, 80);
      served(await ask<Answer>({ op: 'udp', host: VIP, port: 53, n: 20 }), VIP, 53);
    });
  },
);
