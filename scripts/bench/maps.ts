// Map update throughput through the TypeScript layer versus a C program doing the same through
// libbpf, measured in the same run: a hash map of N entries (u32 key, 16-byte value), single
// updates then batch updates. Needs root (real bpf maps), gcc and libbpf-dev.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mapSpec, MapType, openMap, struct } from '../../core/bpf/index.js';
import { type Row } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the map benchmark; returns table rows (or one row saying why it could not run). */
export function benchMaps(n: number, batch = 4096, rounds = 3): Row[] {
  if (process.getuid?.() !== 0)
    return [{ measure: 'map updates', result: 'skipped: needs root', goal: '' }];
  const bin = join(mkdtempSync(join(tmpdir(), 'cellium-bench-')), 'map-update');
  execFileSync('gcc', ['-O2', '-o', bin, join(ROOT, 'scripts/bench/map-update.c'), '-lbpf']);
  const key = struct<{ k: number }>('bench_key', [['k', 'u32']]);
  const value = struct<{ a: bigint; b: bigint }>('bench_value', [
    ['a', 'u64'],
    ['b', 'u64'],
  ]);
  const spec = mapSpec({ name: 'cellium_bench_ts', type: MapType.Hash, key, value, maxEntries: n });
  const v = { a: 0x0707070707070707n, b: 0x0707070707070707n };
  const entries = Array.from({ length: n }, (_, i) => [{ k: i }, v] as const);

  // Rounds alternate C and TypeScript on fresh maps; the median of each is reported, so a
  // burst of load from other tenants of this shared machine does not decide the ratio.
  const cs: { single_ns: number; batch_ns: number }[] = [];
  const ts: { single_ns: number; batch_ns: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    cs.push(
      JSON.parse(execFileSync(bin, [String(n), String(batch)], { encoding: 'utf8' })) as {
        single_ns: number;
        batch_ns: number;
      },
    );
    const m = openMap(spec, { backend: 'kernel' });
    const k = { k: 0 };
    let t0 = performance.now();
    for (let i = 0; i < n; i++) {
      k.k = i;
      m.update(k, v);
    }
    const single = ((performance.now() - t0) * 1e6) / n;
    t0 = performance.now();
    m.updateBatch(entries, 'any', batch);
    const batched = ((performance.now() - t0) * 1e6) / n;
    m.close();
    ts.push({ single_ns: single, batch_ns: batched });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const c = {
    single_ns: median(cs.map((x) => x.single_ns)),
    batch_ns: median(cs.map((x) => x.batch_ns)),
  };
  const single = median(ts.map((x) => x.single_ns));
  const batched = median(ts.map((x) => x.batch_ns));

  const perSec = (ns: number) => `${(1e9 / ns / 1e6).toFixed(2)} M/s`;
  return [
    {
      measure: `single update, C (libbpf), median of ${rounds} rounds`,
      result: `${c.single_ns.toFixed(0)} ns (${perSec(c.single_ns)})`,
      goal: '',
    },
    {
      measure: `single update, TypeScript (typed map)`,
      result: `${single.toFixed(0)} ns (${perSec(single)})`,
      goal: '',
    },
    {
      measure: '  TypeScript / C throughput',
      result: `${(c.single_ns / single).toFixed(2)}×`,
      goal: '≥ 0.8×',
    },
    {
      measure: `batch update (${batch}/call), C`,
      result: `${c.batch_ns.toFixed(0)} ns (${perSec(c.batch_ns)})`,
      goal: '',
    },
    {
      measure: 'batch update, TypeScript',
      result: `${batched.toFixed(0)} ns (${perSec(batched)})`,
      goal: '≥ 1 M/s',
    },
    {
      measure: '  TypeScript / C throughput',
      result: `${(c.batch_ns / batched).toFixed(2)}×`,
      goal: '',
    },
  ];
}
