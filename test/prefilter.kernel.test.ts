// The XDP prefilter on the real kernel: crafted packets through BPF_PROG_TEST_RUN, then a real
// agent with --prefilter-device on the node side of a veth pair, real pings from the pod side
// denied and allowed again through `cellium prefilter`, and the deny list (and the attached
// program) across agent restarts. Root only (core/testing/kernel.ts).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { loadObject, openMap, testRun, type BpfMap, type BpfObject } from '../core/bpf/index.js';
import { kernelSuite, testPinDir } from '../core/testing/kernel.js';
import {
  METRIC,
  METRICS_MAP,
  REASON,
  type MetricsKey,
  type MetricsValue,
} from '../cells/maps/index.js';
import { CIDR_V4_MAP, CIDR_V6_MAP, REASON_PREFILTER_DENIED } from '../cells/prefilter/index.js';
import { inNs, nodeAndPod, sh } from './support/netns.js';
import { ipv4Udp, ipv6Udp, malformedIpv4, otherFrame } from './support/packets.js';
import { program, ROOT, run, startAgent, tempDir, testBpfRoot } from './support/procs.js';

const OBJECT = process.env.CELLIUM_BPF_XDP_OBJECT || join(ROOT, 'datapath-c', 'build', 'bpf_xdp.o');
const XDP_DROP = 1;
const XDP_PASS = 2;

function total(m: BpfMap<MetricsKey, MetricsValue[]>, key: MetricsKey): number {
  return (m.lookup(key) ?? []).reduce((s, v) => s + Number(v.count), 0);
}

/** The frame with an 802.1Q tag (VLAN 7) after the MAC addresses. */
function vlanTagged(frame: Buffer): Buffer {
  const tag = Buffer.from([0x81, 0x00, 0x00, 0x07]);
  return Buffer.concat([frame.subarray(0, 12), tag, frame.subarray(12)]);
}

kernelSuite('bpf_xdp (the prefilter) on crafted packets', { objects: [OBJECT] }, () => {
  let pins: ReturnType<typeof testPinDir>;
  let obj: BpfObject;
  let v4: BpfMap<{ prefixlen: number; addr: string }, { flags: number }>;
  let v6: BpfMap<{ prefixlen: number; addr: Buffer }, { flags: number }>;
  let metrics: BpfMap<MetricsKey, MetricsValue[]>;

  beforeAll(() => {
    pins = testPinDir();
    v4 = openMap(CIDR_V4_MAP, { backend: 'kernel', pinDir: pins.dir });
    v6 = openMap(CIDR_V6_MAP, { backend: 'kernel', pinDir: pins.dir });
    metrics = openMap(METRICS_MAP, { backend: 'kernel', pinDir: pins.dir });
    obj = loadObject(OBJECT, [v4.raw, v6.raw, metrics.raw]);
  });
  afterAll(() => {
    obj.close();
    for (const m of [v4, v6, metrics]) m.close();
    pins.cleanup();
  });

  it('drops sources in a deny CIDR (longest prefix), passes the rest, and counts drops', () => {
    const prog = obj.program('cil_xdp_entry');
    const verdict = (pkt: Buffer) => testRun(prog, pkt).retval;
    const denied = { reason: REASON_PREFILTER_DENIED, dir: METRIC.INGRESS };
    expect(verdict(ipv4Udp('10.1.2.3', '10.9.9.9'))).toBe(XDP_PASS);
    v4.update({ prefixlen: 16, addr: '10.1.0.0' }, { flags: 0 });
    const addr = Buffer.alloc(16);
    addr.writeUInt32BE(0x20010db8, 0);
    v6.update({ prefixlen: 32, addr }, { flags: 0 });

    const pkt = ipv4Udp('10.1.2.3', '10.9.9.9');
    expect(verdict(pkt)).toBe(XDP_DROP);
    expect(verdict(vlanTagged(pkt))).toBe(XDP_DROP);
    expect(verdict(ipv4Udp('10.2.0.1', '10.9.9.9'))).toBe(XDP_PASS);
    expect(verdict(ipv4Udp('10.9.9.9', '10.1.2.3'))).toBe(XDP_PASS); // only the source counts
    expect(verdict(ipv6Udp('2001:db8::1', 'fd00::1'))).toBe(XDP_DROP);
    expect(verdict(ipv6Udp('2001:db9::1', 'fd00::1'))).toBe(XDP_PASS);
    expect(verdict(otherFrame())).toBe(XDP_PASS);
    expect(verdict(malformedIpv4())).toBe(XDP_DROP);
    expect(total(metrics, denied)).toBe(3);
    expect(total(metrics, { reason: REASON.INVALID, dir: METRIC.INGRESS })).toBe(1);
  });
});

/** Whether a ping from the pod reaches the node (any of a few echoes answered). */
function pings(pod: string, ip: string): boolean {
  try {
    inNs(pod, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', ip]);
    return true;
  } catch {
    return false;
  }
}

kernelSuite(
  'the prefilter cell with a real agent and real traffic',
  { objects: [OBJECT], commands: ['ip', 'nsenter', 'ping'] },
  () => {
    it('denies a netns address, lists the revision, allows it again, and survives restarts', async () => {
      const net = nodeAndPod();
      const bpfRoot = testBpfRoot();
      const dir = tempDir();
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
      const pinDir = join(bpfRoot, 'tc', 'globals');
      const xdpOf = () => sh('ip', ['-n', net.node, '-d', 'link', 'show', net.hostIf]);

      // Native XDP where the kernel has it on veth, generic otherwise.
      const start = async (mode: string) =>
        startAgent({
          netns: net.node,
          dir,
          bpfRoot,
          args: [`--prefilter-device=${net.hostIf}`, `--prefilter-mode=${mode}`],
        });
      let mode = 'native';
      let agent = await start(mode).catch(async (e: unknown) => {
        if (!String(e).includes('no native XDP support')) throw e;
        mode = 'generic';
        return start(mode);
      });
      expect(xdpOf()).toMatch(mode === 'native' ? /\bxdp\b/ : /\bxdpgeneric\b/);
      expect(pings(net.pod, net.nodeIp)).toBe(true);

      const cli = (...args: string[]) =>
        run([...program('cellium'), '-H', `unix://${agent.socket}`, ...args]);
      const listJson = async () => {
        const r = await cli('-o', 'json', 'prefilter', 'list');
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as {
          spec: { revision: number; deny: string[] };
          status: { realized: { revision: number; deny: string[] } };
        };
      };
      expect((await listJson()).spec).toEqual({ revision: 1, deny: [] });

      const metrics = openMap(METRICS_MAP, { backend: 'kernel', pinDir });
      onTestFinished(() => metrics.close());
      const dropped = () =>
        total(metrics, { reason: REASON_PREFILTER_DENIED, dir: METRIC.INGRESS });
      const before = dropped();

      const cidr = `${net.podIp}/32`;
      const up = await cli('prefilter', 'update', '--cidr', cidr);
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toContain('Updated 1 prefilter entries (revision 2)');
      expect(pings(net.pod, net.nodeIp)).toBe(false);
      expect(dropped()).toBeGreaterThan(before);

      const table = await cli('prefilter', 'list');
      expect(table.stdout).toMatch(/^Revision: 2\n/);
      expect(table.stdout).toContain(cidr);
      const listed = await listJson();
      expect(listed.spec).toEqual({ revision: 2, deny: [cidr] });
      expect(listed.status.realized).toEqual(listed.spec);

      // A change based on an old revision is refused, naming both.
      const stale = await cli('prefilter', 'delete', '--cidr', cidr, '--revision', '1');
      expect(stale.code).toBe(1);
      expect(stale.stderr).toContain('revision 2, not 1');

      // The datapath keeps filtering while the agent is down, and the list comes back with it.
      expect(await agent.kill('SIGTERM')).toBe(0);
      expect(xdpOf()).toMatch(/\bxdp/);
      expect(pings(net.pod, net.nodeIp)).toBe(false);
      agent = await start(mode);
      expect((await listJson()).spec).toEqual({ revision: 2, deny: [cidr] });
      expect(pings(net.pod, net.nodeIp)).toBe(false);

      const del = await cli('prefilter', 'delete', '--cidr', cidr, '--revision', '2');
      expect(del.code, del.stderr).toBe(0);
      expect(del.stdout).toContain('Deleted 1 prefilter entries (revision 3)');
      expect(pings(net.pod, net.nodeIp)).toBe(true);
      expect((await listJson()).spec).toEqual({ revision: 3, deny: [] });

      // Turned off: the program comes off the device; the list waits on disk.
      await cli('prefilter', 'update', '--cidr', cidr);
      expect(await agent.kill('SIGTERM')).toBe(0);
      agent = await startAgent({ netns: net.node, dir, bpfRoot });
      expect(xdpOf()).not.toMatch(/\bxdp/);
      expect(pings(net.pod, net.nodeIp)).toBe(true);
      const off = await cli('prefilter', 'list');
      expect(off.code).toBe(1);
      expect(off.stderr).toContain('--prefilter-device');
      await agent.kill('SIGTERM');
      agent = await start(mode);
      expect((await listJson()).spec).toEqual({ revision: 4, deny: [cidr] });
      expect(pings(net.pod, net.nodeIp)).toBe(false);
    });
  },
);
