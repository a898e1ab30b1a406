// The monitor's records and maps: the TypeScript layouts are the C structs of events.h as the
// BTF of bpf_lxc.o describes them, and the constants are the header's #defines.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { readStructs } from '../../core/bpf/index.js';
import { BPF_LXC_OBJECT, kernelSuite } from '../../core/testing/kernel.js';
import { layoutSuite } from '../../core/testing/layouts.js';
import { AGGREGATION, EVENTS_LOST_MAP, MONITOR_CONFIG_MAP } from '../maps/index.js';
import {
  EVENT_LAYOUTS,
  MESSAGE,
  MONITOR_CAPTURE_LEN,
  MONITOR_VERSION,
  POLICY_MATCH,
  PROG,
  TRACE_POINT,
  TRACE_REASON,
} from './defs.js';

layoutSuite('monitor map layouts: TypeScript vs the BTF of bpf_lxc.o', [MONITOR_CONFIG_MAP], {
  object: BPF_LXC_OBJECT,
});

kernelSuite(
  'monitor records: TypeScript vs the BTF of bpf_lxc.o',
  { root: false, objects: [BPF_LXC_OBJECT] },
  () => {
    it.each(EVENT_LAYOUTS.map((l) => [l.cName, l] as const))(
      '%s has the same size and members',
      (name, layout) => {
        const btf = readStructs(BPF_LXC_OBJECT, [name]).get(name);
        if (!btf) throw new Error(`${name} is not in the BTF of ${BPF_LXC_OBJECT}`);
        expect(layout.size, 'struct size').toBe(btf.size);
        expect(layout.fields.map((f) => [f.name, f.offset, f.size])).toEqual(
          btf.members.map((m) => [m.name, m.offset, m.size]),
        );
      },
    );

    it('cellium_events_lost counts in a u64 per CPU', () => {
      expect(EVENTS_LOST_MAP.element.size).toBe(8);
    });
  },
);

function defines(file: string, prefix: string): Record<string, number> {
  const text = readFileSync(
    new URL(`../../datapath-c/include/cellium/${file}`, import.meta.url),
    'utf8',
  );
  return Object.fromEntries(
    [...text.matchAll(new RegExp(`^#define ${prefix}_([A-Z0-9_]+) (\\d+)`, 'gm'))].map(
      (m): [string, number] => [m[1] ?? '', Number(m[2])],
    ),
  );
}

it('the constants are the #defines of events.h and policy.h', () => {
  const monitor = defines('events.h', 'MONITOR');
  expect({
    DROP: monitor.DROP,
    TRACE: monitor.TRACE,
    POLICY_VERDICT: monitor.POLICY_VERDICT,
  }).toEqual({
    DROP: MESSAGE.DROP,
    TRACE: MESSAGE.TRACE,
    POLICY_VERDICT: MESSAGE.POLICY_VERDICT,
  });
  expect(monitor.VERSION).toBe(MONITOR_VERSION);
  expect(monitor.CAPTURE_LEN).toBe(MONITOR_CAPTURE_LEN);
  expect(defines('events.h', 'MONITOR_PROG')).toEqual(PROG);
  const points = Object.entries(defines('events.h', 'TRACE')).filter(
    ([k]) => !k.startsWith('REASON_'),
  );
  expect(Object.fromEntries(points)).toEqual(TRACE_POINT);
  expect(defines('events.h', 'TRACE_REASON')).toEqual(TRACE_REASON);
  expect(defines('events.h', 'MONITOR_AGG')).toEqual({
    NONE: AGGREGATION.none,
    LOW: AGGREGATION.low,
    MEDIUM: AGGREGATION.medium,
    MAXIMUM: AGGREGATION.maximum,
  });
  expect(defines('policy.h', 'POLICY_MATCH')).toEqual(POLICY_MATCH);
});
