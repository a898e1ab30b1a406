// bpf_lxc on the real kernel: crafted packets through BPF_PROG_TEST_RUN, then real traffic
// between two network namespaces. Root only (core/testing/kernel.ts).
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  loadObject,
  openMap,
  readStructs,
  testRun,
  type BpfObject,
  type BpfMap,
} from '../core/bpf/index.js';
import { BPF_LXC_OBJECT as OBJECT, kernelSuite, testPinDir } from '../core/testing/kernel.js';
import {
  endpointKeyOf,
  ipcacheKeyOf,
  IPCACHE_MAP,
  LXC_MAP,
  METRIC,
  METRICS_MAP,
  REASON,
  type MetricsKey,
  type MetricsValue,
} from '../cells/maps/index.js';
import { inNs, nodeAndPod, sh } from './support/netns.js';
import {
  arpRequest,
  ipv4HeaderChecksum,
  ipv4Udp,
  ipv6Udp,
  malformedIpv4,
  otherFrame,
} from './support/packets.js';
import { ROOT } from './support/procs.js';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

function total(
  m: BpfMap<MetricsKey, MetricsValue[]>,
  key: MetricsKey,
): { count: number; bytes: number } {
  const per = m.lookup(key) ?? [];
  return {
    count: per.reduce((s, v) => s + Number(v.count), 0),
    bytes: per.reduce((s, v) => s + Number(v.bytes), 0),
  };
}

kernelSuite(
  'bpf_lxc on the kernel',
  { objects: [OBJECT], commands: ['ip', 'nsenter', 'ping'] },
  () => {
    let pins: ReturnType<typeof testPinDir>;
    let obj: BpfObject;
    let lxc: ReturnType<typeof openLxc>;
    let ipcache: ReturnType<typeof openIpcache>;
    let metrics: ReturnType<typeof openMetrics>;
    const openLxc = () => openMap(LXC_MAP, { backend: 'kernel', pinDir: pins.dir });
    const openIpcache = () => openMap(IPCACHE_MAP, { backend: 'kernel', pinDir: pins.dir });
    const openMetrics = () => openMap(METRICS_MAP, { backend: 'kernel', pinDir: pins.dir });

    beforeAll(() => {
      pins = testPinDir();
      lxc = openLxc();
      ipcache = openIpcache();
      metrics = openMetrics();
      obj = loadObject(OBJECT, [lxc.raw, ipcache.raw, metrics.raw]);
    });
    afterAll(() => {
      obj.close();
      for (const m of [lxc, ipcache, metrics]) m.close();
      pins.cleanup();
    });

    it('classifies crafted IPv4, IPv6, ARP and malformed frames, and counts them', () => {
      const info = (id: number) => ({
        sec_identity: id,
        tunnel_endpoint: '0.0.0.0',
        node_id: 0,
        key: 0,
        flags: 0,
      });
      ipcache.update(ipcacheKeyOf('10.0.0.0/24'), info(1000));
      ipcache.update(ipcacheKeyOf('10.0.0.5/32'), info(1005));
      ipcache.update(ipcacheKeyOf('fd00::/64'), info(2000));
      lxc.update(endpointKeyOf('10.0.0.7'), {
        ifindex: 9,
        lxc_id: 77,
        flags: 0,
        mac: '02:00:00:00:00:07',
        node_mac: '02:00:00:00:00:01',
        sec_id: 1000,
      });
      const skb = readStructs(OBJECT, ['__sk_buff']).get('__sk_buff')!;
      const cbOff = skb.members.find((m) => m.name === 'cb')!.offset;
      const from = obj.program('cil_from_container');
      let out: Buffer = Buffer.alloc(0);
      const run = (pkt: Buffer) => {
        const r = testRun(from, pkt, { ctx: Buffer.alloc(skb.size) });
        const cb = [0, 1, 2].map((i) => r.ctx!.readUInt32LE(cbOff + 4 * i));
        out = r.data;
        return { retval: r.retval, cb };
      };
      // To a local endpoint: redirected to its veth, MACs rewritten, TTL 64 -> 63, checksum kept.
      const v4 = ipv4Udp('10.0.0.5', '10.0.0.7');
      expect(run(v4)).toEqual({ retval: TC_ACT_REDIRECT, cb: [1005, 1000, 77] });
      expect(out.subarray(0, 12).toString('hex')).toBe('020000000007' + '020000000001');
      expect(out[22]).toBe(63);
      expect(ipv4HeaderChecksum(out)).toBe(0);
      // Elsewhere: to the host stack.
      const v6 = ipv6Udp('fd00::1', '2001:db8::1');
      expect(run(v6)).toEqual({ retval: TC_ACT_OK, cb: [2000, 10, 0] }); // world-ipv6
      // ARP from an endpoint for its gateway: answered with the host-side MAC.
      expect(run(arpRequest('10.0.0.7', '02:00:00:00:00:07', '10.0.0.1')).retval).toBe(
        TC_ACT_REDIRECT,
      );
      expect(out.readUInt16BE(20)).toBe(2); // ARP reply
      expect(out.subarray(22, 28).toString('hex')).toBe('020000000001'); // sender: the host side
      expect([...out.subarray(28, 32)].join('.')).toBe('10.0.0.1');
      expect(out.subarray(0, 6).toString('hex')).toBe('020000000007');
      expect(run(otherFrame()).retval).toBe(TC_ACT_OK);
      expect(run(malformedIpv4()).retval).toBe(TC_ACT_SHOT);

      expect(total(metrics, { reason: REASON.FORWARDED, dir: METRIC.EGRESS })).toEqual({
        count: 2,
        bytes: v4.length + v6.length,
      });
      expect(total(metrics, { reason: REASON.NOT_IP, dir: METRIC.EGRESS }).count).toBe(2);
      expect(total(metrics, { reason: REASON.INVALID, dir: METRIC.EGRESS }).count).toBe(1);
      expect(total(metrics, { reason: REASON.FORWARDED, dir: METRIC.INGRESS }).count).toBe(0);
    });

    it('counts the packets of a real ping between two namespaces', () => {
      const before = {
        out: total(metrics, { reason: REASON.FORWARDED, dir: METRIC.EGRESS }).count,
        in: total(metrics, { reason: REASON.FORWARDED, dir: METRIC.INGRESS }).count,
      };
      const net = nodeAndPod();
      const attached = sh('nsenter', [
        `--net=/run/netns/${net.node}`,
        process.execPath,
        '--import',
        'tsx',
        `${ROOT}test/support/attach-lxc.ts`,
        pins.dir,
        net.hostIf,
        OBJECT,
      ]);
      const ids = JSON.parse(attached) as { ingress?: number; egress?: number };
      expect(ids.ingress).toBeGreaterThan(0);
      expect(ids.egress).toBeGreaterThan(0);
      const out = inNs(net.pod, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', net.nodeIp]);
      expect(out).toMatch(/5 packets transmitted, 5 received/);
      // Echo requests leave the pod (tc ingress of the host side); replies enter it (tc egress).
      expect(
        total(metrics, { reason: REASON.FORWARDED, dir: METRIC.EGRESS }).count - before.out,
      ).toBeGreaterThanOrEqual(5);
      expect(
        total(metrics, { reason: REASON.FORWARDED, dir: METRIC.INGRESS }).count - before.in,
      ).toBeGreaterThanOrEqual(5);
    });
  },
);
