import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { readStructs } from '../../core/bpf/index.js';
import { kernelSuite } from '../../core/testing/kernel.js';
import { CIDR_V4_MAP, CIDR_V6_MAP } from './maps.js';

const OBJECT =
  process.env.CELLIUM_BPF_XDP_OBJECT ||
  join(fileURLToPath(new URL('../..', import.meta.url)), 'datapath-c', 'build', 'bpf_xdp.o');

// Reading BTF needs no root; only the object, which CI must have built.
kernelSuite(
  'prefilter map layouts vs the BTF of bpf_xdp.o',
  { root: false, objects: [OBJECT] },
  () => {
    it.each(
      [CIDR_V4_MAP.key, CIDR_V6_MAP.key, CIDR_V4_MAP.element].map((l) => [l.cName, l] as const),
    )('%s has the same size and field offsets', (name, layout) => {
      const btf = readStructs(OBJECT, [name]).get(name)!;
      expect(layout.size, 'struct size').toBe(btf.size);
      expect(layout.fields.map((f) => [f.name, f.offset, f.size])).toEqual(
        btf.members.map((m) => [m.name, m.offset, m.size]),
      );
    });
  },
);
