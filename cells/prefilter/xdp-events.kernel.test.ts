// bpf_xdp (the prefilter, the DDoS path) in the kernel, with BPF_PROG_TEST_RUN: every drop is
// counted in cellium_metrics, but written into cellium_events only while a monitor listens
// (cellium_monitor_config.listeners), so a flood nobody watches costs the agent nothing.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadObject, openMap, openRingReader, testRun, type BpfMap } from '../../core/bpf/index.js';
import { kernelSuite, testPinDir } from '../../core/testing/kernel.js';
import {
  EVENTS_LOST_MAP,
  eventsMapSpec,
  METRIC,
  METRICS_MAP,
  MONITOR_CONFIG_MAP,
  REASON,
} from '../maps/index.js';
import { dropNotify, monitorHdr, offsetOf } from '../monitor/index.js';

const XDP_OBJECT = fileURLToPath(new URL('../../datapath-c/build/bpf_xdp.o', import.meta.url));
const XDP_DROP = 1;

/** Ethernet + an IPv4 header claiming 16 bytes (IHL 4): bpf_xdp drops it as INVALID. */
function malformed(): Buffer {
  const f = Buffer.alloc(14 + 40);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x44;
  return f;
}

kernelSuite('bpf_xdp drop events', { objects: [XDP_OBJECT] }, () => {
  let pins: ReturnType<typeof testPinDir>;
  beforeAll(() => {
    pins = testPinDir();
  });
  afterAll(() => pins.cleanup());

  it('counts every drop, and writes it to the ring only while a monitor listens', () => {
    const o = { backend: 'kernel' as const, pinDir: pins.dir };
    const metrics = openMap(METRICS_MAP, o) as BpfMap<
      { reason: number; dir: number },
      { count: bigint }[]
    >;
    const ring = openMap(eventsMapSpec(64 * 1024), o);
    const config = openMap(MONITOR_CONFIG_MAP, o);
    const lost = openMap(EVENTS_LOST_MAP, o);
    const obj = loadObject(XDP_OBJECT, [metrics.raw, ring.raw, config.raw, lost.raw]);
    const records: Buffer[] = [];
    const reader = openRingReader(ring.raw, (r) => records.push(r));
    try {
      const fd = obj.program('cil_xdp_entry');
      const dropped = (): number =>
        Number(
          (metrics.lookup({ reason: REASON.INVALID, dir: METRIC.INGRESS }) ?? []).reduce(
            (n, v) => n + v.count,
            0n,
          ),
        );
      config.update({ index: 0 }, { listeners: 0, aggregation: 2 });
      expect(testRun(fd, malformed(), { repeat: 10 }).retval).toBe(XDP_DROP);
      expect(dropped()).toBe(10);
      reader.consume();
      expect(records).toHaveLength(0);

      config.update({ index: 0 }, { listeners: 1, aggregation: 2 });
      testRun(fd, malformed(), { repeat: 3 });
      expect(dropped()).toBe(13);
      reader.consume();
      expect(records).toHaveLength(3);
      // MONITOR_DROP, REASON_INVALID, the frame's first bytes captured.
      expect(records[0]?.[0]).toBe(1);
      expect(records[0]?.[1]).toBe(REASON.INVALID);
      const r = records[0] ?? Buffer.alloc(0);
      const capLen = r.readUInt16LE(offsetOf(monitorHdr, 'len_cap'));
      expect(capLen).toBe(malformed().length);
      const at = offsetOf(dropNotify, 'data');
      expect(r.subarray(at, at + capLen)).toEqual(malformed());
    } finally {
      reader.close();
      obj.close();
      for (const m of [metrics, ring, config, lost]) m.close();
    }
  });
});
