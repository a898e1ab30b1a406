// A map's TypeScript layouts checked against the C structs in a compiled object's BTF: the one
// declaration in each language must agree on every size and offset. Reading BTF needs no root,
// only the object, which CI must have built.
import { expect, it } from 'vitest';
import { MapType, readStructs, type Layout, type MapSpec } from '../bpf/index.js';
import { kernelSuite } from './kernel.js';

/** How the layouts are compared. */
export interface LayoutSuiteOptions {
  /** The compiled object whose BTF declares the structs. */
  readonly object: string;
  /**
   * Members the TypeScript side may leave out (padding): compared by name, every other C member
   * must be declared. Without it the member lists must be the same, in order.
   */
  readonly padding?: RegExp;
}

/** The distinct struct layouts of maps (an array's u32 key and an inner map's id have none). */
export function structLayouts(specs: readonly MapSpec<unknown, unknown>[]): Layout<unknown>[] {
  const all = specs.flatMap<Layout<unknown>>((m) => [
    ...(m.type === MapType.Array ? [] : [m.key]),
    ...(m.type === MapType.HashOfMaps || m.type === MapType.ArrayOfMaps ? [] : [m.element]),
  ]);
  return [...new Map(all.map((l) => [l.cName, l])).values()];
}

/** One test per struct: its size and each field's offset and size as the BTF says. */
export function layoutSuite(
  title: string,
  specs: readonly MapSpec<unknown, unknown>[],
  o: LayoutSuiteOptions,
): void {
  kernelSuite(title, { root: false, objects: [o.object] }, () => {
    it.each(structLayouts(specs).map((l) => [l.cName, l] as const))(
      '%s has the same size and field offsets',
      (_, layout) => {
        const btf = readStructs(o.object, [layout.cName]).get(layout.cName);
        if (!btf) throw new Error(`${layout.cName} is not in the BTF of ${o.object}`);
        expect(layout.size, 'struct size').toBe(btf.size);
        const ts = layout.fields.map((f) => [f.name, f.offset, f.size]);
        const padding = o.padding;
        if (!padding) {
          expect(ts).toEqual(btf.members.map((m) => [m.name, m.offset, m.size]));
          return;
        }
        for (const f of layout.fields) {
          const m = btf.members.find((x) => x.name === f.name);
          expect(m, `C member ${f.name}`).toBeDefined();
          expect([f.name, f.offset, f.size]).toEqual([f.name, m?.offset, m?.size]);
        }
        const data = btf.members.filter((m) => !padding.test(m.name)).map((m) => m.name);
        expect(layout.fields.map((f) => f.name)).toEqual(expect.arrayContaining(data));
      },
    );
  });
}
