import { libbpf } from './libbpf.js';

/** One member of a struct as BTF describes it. */
export interface BtfMember {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

/** A struct's size and members as the compiler laid them out. */
export interface BtfStruct {
  readonly name: string;
  readonly size: number;
  readonly members: readonly BtfMember[];
}

const BTF_KIND_STRUCT = 4;

/** Reads struct layouts from the BTF of a compiled object (what clang really did). */
export function readStructs(objectPath: string, names: readonly string[]): Map<string, BtfStruct> {
  const lib = libbpf();
  const btf = lib.btf__parse_elf(objectPath, null);
  if (!btf) throw new Error(`cannot read BTF from ${objectPath} (errno ${lib.errno()})`);
  try {
    const out = new Map<string, BtfStruct>();
    for (const name of names) {
      const id = lib.btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
      if (id < 0) throw new Error(`${objectPath} has no struct ${name} in its BTF`);
      const ptr = lib.btf__type_by_id(btf, id);
      const [, info = 0, size = 0] = lib.readU32(ptr, 3);
      const vlen = info & 0xffff;
      const kindFlag = info >>> 31 === 1;
      const words = lib.readU32(ptr, 3 + 3 * vlen);
      const members: BtfMember[] = [];
      for (let i = 0; i < vlen; i++) {
        const [nameOff = 0, type = 0, off = 0] = words.slice(3 + 3 * i, 6 + 3 * i);
        const bitOffset = kindFlag ? off & 0xffffff : off;
        members.push({
          name: lib.btf__name_by_offset(btf, nameOff) ?? '',
          offset: bitOffset / 8,
          size: lib.btf__resolve_size(btf, type),
        });
      }
      out.set(name, { name, size, members });
    }
    return out;
  } finally {
    lib.btf__free(btf);
  }
}
