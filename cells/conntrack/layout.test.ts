import { expect, it } from 'vitest';
import { readStructs } from '../../core/bpf/index.js';
import { BPF_LXC_OBJECT as OBJECT, kernelSuite } from '../../core/testing/kernel.js';
import { CT_MAPS } from './maps.js';

const layouts = [
  ...new Map(CT_MAPS.flatMap((m) => [m.key, m.element]).map((l) => [l.cName, l])).values(),
];

// Reading BTF needs no root; only the object, which CI must have built.
kernelSuite(
  'CT map layouts: TypeScript vs the BTF of bpf_lxc.o',
  { root: false, objects: [OBJECT] },
  () => {
    it.each(layouts.map((l) => [l.cName, l] as const))(
      '%s has the same size and field offsets',
      (_, layout) => {
        const btf = readStructs(OBJECT, [layout.cName]).get(layout.cName)!;
        expect(layout.size, 'struct size').toBe(btf.size);
        expect(layout.fields.map((f) => [f.name, f.offset, f.size])).toEqual(
          btf.members.map((m) => [m.name, m.offset, m.size]),
        );
      },
    );
  },
);
