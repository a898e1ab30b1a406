// Maps describe their key and value layouts with BTF, and the layouts read back are the same.
import { expect, it } from 'vitest';
import { kernelSuite } from '../testing/kernel.js';
import { struct } from './codec.js';
import { libbpf, SIZES } from './libbpf.js';
import { BPF_F_NO_PREALLOC, MapType, type MapShape } from './map.js';
import { mapFd, mapInfo, openKernelMap } from './map.kernel.js';
import { sameLayout } from './migrate.js';
import { readLayoutBtf } from './layout-btf.js';

const everyType = struct('every_type', [
  ['a8', 'u8'],
  ['a16', 'u16'],
  ['a32', 'u32'],
  ['a64', 'u64'],
  ['port', 'be16'],
  ['addr', 'be32'],
  ['v4', 'ipv4'],
  ['ip', 'ip16'],
  ['mac', 'mac64'],
  ['raw', { bytes: 3 }],
  ['pad', { pad: 5 }],
]);
const key = struct('k', [
  ['prefixlen', 'u32'],
  ['ip', 'ipv4'],
]);
const u32 = struct('u32_key', [['k', 'u32']]);

function shape(type: MapType, keySize: number, flags = 0): MapShape {
  return { name: 'cellium_btf', type, keySize, valueSize: everyType.size, maxEntries: 4, flags };
}

kernelSuite('map BTF from codec layouts', {}, () => {
  it.each([
    ['hash', MapType.Hash, key, 0],
    ['lpm trie (struct key)', MapType.LpmTrie, key, BPF_F_NO_PREALLOC],
    ['array (__u32 key)', MapType.Array, u32, 0],
    ['per-CPU hash', MapType.PerCpuHash, key, 0],
  ] as const)('%s: created with BTF that reads back as its layouts', (_, type, k, flags) => {
    const m = openKernelMap(shape(type, k.size, flags), undefined, {
      layouts: { key: k, value: everyType },
    });
    try {
      const info = mapInfo(mapFd(m), 'cellium_btf');
      expect(info.btf_id).toBeGreaterThan(0);
      const read = readLayoutBtf(info.btf_id, info.btf_key_type_id, info.btf_value_type_id);
      if (!('layouts' in read)) throw new Error(`not read: ${JSON.stringify(read)}`);
      expect(read.layouts.value).toEqual({
        cName: 'every_type',
        size: everyType.size,
        fields: everyType.fields,
      });
      expect(sameLayout(read.layouts.key, k)).toBe(true);
    } finally {
      m.close();
    }
  });

  it('a map without BTF reads as none; a kernel refusing the BTF gets a map without it', () => {
    const plain = openKernelMap(shape(MapType.Hash, 8));
    const info = mapInfo(mapFd(plain), 'cellium_btf');
    expect(readLayoutBtf(info.btf_id, info.btf_key_type_id, info.btf_value_type_id)).toEqual({
      none: true,
    });
    plain.close();
    // Layouts whose sizes contradict the map's: the kernel refuses the BTF, not the map.
    const debug: string[] = [];
    const m = openKernelMap(shape(MapType.Hash, 8), undefined, {
      layouts: { key: u32, value: everyType },
      debug: (msg) => debug.push(msg),
    });
    expect(m.layouts).toBeUndefined();
    expect(debug).toEqual([
      expect.stringMatching(
        /^map cellium_btf: the kernel refused its BTF \(EINVAL\); creating it without$/,
      ),
    ]);
    m.close();
  });

  it('BTF it does not understand is reported, not guessed', () => {
    // A C object's BTF: bpf_lxc.o is not needed; a struct with a nested struct is enough.
    const lib = libbpf();
    const btf = lib.btf__new_empty();
    const u = lib.btf__add_int(btf, 'unsigned int', 4, 0);
    const inner = lib.btf__add_struct(btf, 'inner', 4);
    lib.btf__add_field(btf, 'x', u, 0, 0);
    const outer = lib.btf__add_struct(btf, 'outer', 8);
    lib.btf__add_field(btf, 'in', inner, 0, 0);
    lib.btf__add_field(btf, 'y', u, 32, 0);
    expect(lib.btf__load_into_kernel(btf)).toBe(0);
    const fd = lib.bpf_map_create(MapType.Hash, 'cellium_btf', 4, 8, 4, {
      sz: SIZES.mapCreateOpts,
      map_flags: 0,
      btf_fd: lib.btf__fd(btf),
      btf_key_type_id: u,
      btf_value_type_id: outer,
    });
    lib.btf__free(btf);
    expect(fd).toBeGreaterThanOrEqual(0);
    try {
      const info = mapInfo(fd, 'cellium_btf');
      expect(readLayoutBtf(info.btf_id, info.btf_key_type_id, info.btf_value_type_id)).toEqual({
        problem:
          'its BTF value type is not understood: field in of outer is a BTF type of kind 4 (inner)',
      });
    } finally {
      lib.close(fd);
    }
  });
});
