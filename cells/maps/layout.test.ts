import { expect, it } from 'vitest';
import { readStructs, type Layout } from '../../core/bpf/index.js';
import { BPF_LXC_OBJECT as OBJECT, kernelSuite } from '../../core/testing/kernel.js';
import { readFileSync } from 'node:fs';
import { AGENT_MAPS, METRIC, REASON } from './defs.js';

const layouts: Layout<unknown>[] = AGENT_MAPS.flatMap(
  (m) => [m.key, m.element] as Layout<unknown>[],
);
const PADDING = /^(pad\d*|reserved|unused)$/;

// Reading BTF needs no root; only the object, which CI must have built.
kernelSuite(
  'map layouts: TypeScript vs the BTF of bpf_lxc.o',
  { root: false, objects: [OBJECT] },
  () => {
    it.each(layouts.map((l) => [l.cName, l] as const))(
      '%s has the same size and field offsets',
      (_, layout) => {
        const btf = readStructs(OBJECT, [layout.cName]).get(layout.cName)!;
        expect(layout.size, 'struct size').toBe(btf.size);
        for (const f of layout.fields) {
          const m = btf.members.find((x) => x.name === f.name);
          expect(m, `C member ${f.name}`).toBeDefined();
          expect([f.name, f.offset, f.size]).toEqual([f.name, m!.offset, m!.size]);
        }
        const data = btf.members.filter((m) => !PADDING.test(m.name)).map((m) => m.name);
        expect(layout.fields.map((f) => f.name)).toEqual(expect.arrayContaining(data));
      },
    );
  },
);

// The metrics' directions and reasons: the TypeScript constants are the header's #defines.
it('METRIC and REASON are the #defines of maps.h', () => {
  const header = readFileSync(
    new URL('../../datapath-c/include/cellium/maps.h', import.meta.url),
    'utf8',
  );
  const defines = (prefix: string): Record<string, number> =>
    Object.fromEntries(
      [...header.matchAll(new RegExp(`^#define ${prefix}_([A-Z0-9_]+) (\\d+)`, 'gm'))].map(
        (m): [string, number] => [m[1] ?? '', Number(m[2])],
      ),
    );
  expect(defines('METRIC')).toEqual(METRIC);
  expect(defines('REASON')).toEqual(REASON);
});
