import { expect, it } from 'vitest';
import { MapType, readStructs } from '../../core/bpf/index.js';
import { BPF_LXC_OBJECT as OBJECT, kernelSuite } from '../../core/testing/kernel.js';
import { LB_MAPS } from './maps.js';

// A map-of-maps' value is an inner map (no struct in C), an array's key a plain __u32.
const layouts = [
  ...new Map(
    LB_MAPS.flatMap((m) => [
      ...(m.type === MapType.Array ? [] : [m.key]),
      ...(m.type === MapType.HashOfMaps ? [] : [m.element]),
    ]).map((l) => [l.cName, l]),
  ).values(),
];

// Reading BTF needs no root; only the object, which CI must have built.
kernelSuite(
  'LB map layouts: TypeScript vs the BTF of bpf_lxc.o',
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
