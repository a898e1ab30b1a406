import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { HealthTree } from '../../core/hive/index.js';
import { kernelSuite } from '../../core/testing/kernel.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { apiCell } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { mapsCell } from '../maps/index.js';
import { statedbCell } from '../statedb/index.js';
import { CtGc, CtMaps, conntrackCell, TUPLE_F, type CtEntry, type CtTuple } from './index.js';
import {
  ctKeyOfNat,
  GC_MAX_LRU_MS,
  GC_MIN_MS,
  GC_START_MS,
  monotonicSeconds,
  nextInterval,
  runGc,
} from './gc.js';

function ctHive(backend: 'memory' | 'kernel', flags: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-ct-'));
  const bpfRoot =
    backend === 'kernel'
      ? `/sys/fs/bpf/cellium-ct-test-${process.pid}-${Date.now()}`
      : join(dir, 'bpf');
  onTestFinished(() => {
    rmSync(bpfRoot, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  return testHive([apiCell, statedbCell, daemonCell, mapsCell, conntrackCell], {
    flags: {
      'socket-path': join(dir, 'api.sock'),
      'state-dir': join(dir, 'state'),
      'bpf-backend': backend,
      'bpf-root': bpfRoot,
      'bpf-ct-global-tcp-max': 4096,
      'bpf-ct-global-any-max': 4096,
      'bpf-nat-global-max': 4096,
      ...flags,
    },
  });
}

const entry = (lifetime: number, extra: Partial<CtEntry> = {}): CtEntry => ({
  rx_packets: 1n,
  rx_bytes: 0n,
  tx_packets: 1n,
  tx_bytes: 0n,
  lifetime,
  flags: 0,
  rev_nat_index: 0,
  ifindex: 0,
  tx_flags_seen: 0,
  rx_flags_seen: 0,
  src_sec_id: 0,
  last_tx_report: 0,
  last_rx_report: 0,
  ...extra,
});

const tuple = (
  saddr: string,
  sport: number,
  daddr: string,
  dport: number,
  nexthdr = 6,
): CtTuple => ({
  saddr,
  sport,
  daddr,
  dport,
  nexthdr,
  flags: TUPLE_F.OUT,
});

describe('the conntrack GC interval', () => {
  it('shortens after a run that deleted much, grows after one that deleted little, as Cilium’s', () => {
    const base = { expectedMs: GC_START_MS, actualMs: GC_START_MS, maxMs: GC_MAX_LRU_MS };
    expect(nextInterval({ ...base, ratio: 0 })).toBe(GC_START_MS);
    expect(nextInterval({ ...base, ratio: 0.01 })).toBe(GC_START_MS * 1.5);
    expect(nextInterval({ ...base, ratio: 0.1 })).toBe(GC_START_MS);
    expect(nextInterval({ ...base, ratio: 0.5 })).toBe(GC_START_MS * 0.5);
    expect(nextInterval({ ...base, ratio: 0.99 })).toBe(Math.round(GC_START_MS * 0.1));
    // Never below the floor, never above the ceiling or --conntrack-gc-max-interval.
    expect(nextInterval({ ...base, expectedMs: 20_000, actualMs: 20_000, ratio: 0.9 })).toBe(
      GC_MIN_MS,
    );
    expect(
      nextInterval({ ...base, expectedMs: GC_MAX_LRU_MS, actualMs: GC_MAX_LRU_MS, ratio: 0.01 }),
    ).toBe(GC_MAX_LRU_MS);
    expect(nextInterval({ ...base, ratio: 0.01, maxMs: 60_000 })).toBe(60_000);
    // A run triggered early counts its deletions as if it had waited the full interval.
    expect(nextInterval({ ...base, actualMs: GC_START_MS / 10, ratio: 0.05 })).toBe(
      GC_START_MS * 0.5,
    );
  });

  it('keeps a NAT entry alive through the CT entry of its flow', () => {
    const out = tuple('10.0.0.1', 40000, '10.1.0.9', 8080);
    const nat = { created: 0n, needs_ct: 0n, to_saddr: '192.168.1.10', to_sport: 33000 };
    expect(ctKeyOfNat(out, nat)).toEqual(out);
    const reply = { ...tuple('10.1.0.9', 8080, '192.168.1.10', 33000), flags: TUPLE_F.IN };
    const back = { created: 0n, needs_ct: 0n, to_saddr: '10.0.0.1', to_sport: 40000 };
    expect(ctKeyOfNat(reply, back)).toEqual(out);
  });
});

function gcSuite(backend: 'memory' | 'kernel'): void {
  it(`deletes expired flows and orphaned NAT entries, keeps live ones, and reports it (${backend})`, async () => {
    const h = await ctHive(backend, { 'conntrack-gc-interval': '1h' }).requireStart();
    const { v4, v6 } = h.get(CtMaps).open;
    const now = monotonicSeconds();
    const live = tuple('10.0.0.1', 40000, '10.1.0.9', 8080);
    const dead = tuple('10.0.0.2', 40001, '10.1.0.9', 8080);
    v4.tcp.update(live, entry(now + 600));
    v4.tcp.update(dead, entry(now - 5));
    v4.any.update(tuple('10.0.0.3', 53000, '10.1.0.8', 53, 17), entry(now - 1));
    v6.tcp.update(tuple('fd00::1', 40000, 'fd00::9', 80), entry(now - 1));
    // NAT of the live flow (both directions) and of a flow no longer tracked.
    const natOf = (t: CtTuple, port: number) => {
      v4.nat.update(t, { created: 0n, needs_ct: 0n, to_saddr: '192.168.1.10', to_sport: port });
      v4.nat.update(
        {
          saddr: t.daddr,
          sport: t.dport,
          daddr: '192.168.1.10',
          dport: port,
          nexthdr: t.nexthdr,
          flags: TUPLE_F.IN,
        },
        { created: 0n, needs_ct: 0n, to_saddr: t.saddr, to_sport: t.sport },
      );
    };
    natOf(live, 33000);
    natOf(tuple('10.0.0.9', 40009, '10.1.0.9', 8080), 33001);
    const run = await runGc([v4, v6], new AbortController().signal);
    expect([...v4.tcp.keys()]).toEqual([live]);
    expect(v4.any.count()).toBe(0);
    expect(v6.tcp.count()).toBe(0);
    expect(v4.nat.count()).toBe(2);
    expect(run.maps.find((m) => m.name === 'cellium_ct4_global')).toMatchObject({
      seen: 2,
      deleted: 1,
      max: 4096,
    });
    expect(run.maps.find((m) => m.name === 'cellium_snat_v4_external')).toMatchObject({
      seen: 4,
      deleted: 2,
    });
    // The job's own first run (at start) is in health and /debuginfo's line.
    await eventually(() => h.get(CtGc).last() !== undefined);
    expect(h.get(CtGc).describe()).toMatch(
      /^last run .*: \d+ of \d+ entries deleted in \d+ ms \(max ratio [\d.]+%\); next in 60m$/,
    );
    expect(JSON.stringify(h.get(HealthTree).all())).toMatch(/entries deleted/);
  });
}

describe('conntrack GC and the datapath writing meanwhile', () => {
  it('keeps an entry a new flow took over, and the NAT entries of a flow tracked again, after the dump', async () => {
    const h = await ctHive('memory', { 'conntrack-gc-interval': '1h' }).requireStart();
    const { v4, v6 } = h.get(CtMaps).open;
    const now = monotonicSeconds();
    const reused = tuple('10.0.0.5', 40005, '10.1.0.9', 8080);
    const gone = tuple('10.0.0.6', 40006, '10.1.0.9', 8080);
    v4.tcp.update(reused, entry(now - 5));
    v4.tcp.update(gone, entry(now - 5));
    const flow = tuple('10.0.0.7', 40007, '10.1.0.9', 8080);
    v4.nat.update(flow, { created: 0n, needs_ct: 0n, to_saddr: '192.168.1.10', to_sport: 33007 });
    // The datapath re-creates the entry and the flow right after the GC has read the maps.
    const tcpDump = v4.tcp.raw.dump.bind(v4.tcp.raw);
    v4.tcp.raw.dump = function* () {
      yield* tcpDump();
      v4.tcp.update(reused, entry(now + 600));
    };
    const natEntries = v4.nat.entries.bind(v4.nat);
    v4.nat.entries = function* () {
      yield* natEntries();
      v4.tcp.update(flow, entry(now + 600));
    };
    await runGc([v4, v6], new AbortController().signal, now);
    expect([...v4.tcp.keys()].sort((a, b) => a.sport - b.sport)).toEqual([reused, flow]);
    expect(v4.nat.count()).toBe(1);
  });
});

describe('conntrack GC on in-memory maps', () => gcSuite('memory'));
kernelSuite('conntrack GC on the kernel', {}, () => gcSuite('kernel'));
