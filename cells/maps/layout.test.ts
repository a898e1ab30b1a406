import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readStructs, type Layout } from '../../core/bpf/index.js';
import { AGENT_MAPS } from './defs.js';

const OBJECT = fileURLToPath(new URL('../../datapath-c/build/bpf_lxc.o', import.meta.url));
const built = existsSync(OBJECT);
const layouts: Layout<unknown>[] = AGENT_MAPS.flatMap(
  (m) => [m.key, m.element] as Layout<unknown>[],
);
const PADDING = /^(pad\d*|reserved|unused)$/;

describe(
  built
    ? 'map layouts: TypeScript vs the BTF of bpf_lxc.o'
    : 'map layouts (skipped: datapath-c not built; run npm run build, which needs clang)',
  () => {
    it.skipIf(!built).each(layouts.map((l) => [l.cName, l] as const))(
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
