// The BTF bindings against the kernel: build a BTF with one struct, load it, create a map that
// names its key and value types in it, and read the layout back from the kernel by id.
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../testing/kernel.js';
import { libbpf, SIZES, type Libbpf } from './libbpf.js';
import { mapInfo } from './map.kernel.js';

const BTF_KIND_STRUCT = 4;
const BTF_INT_SIGNED = 1;
const BPF_MAP_TYPE_HASH = 1;

/** A struct type record (struct btf_type, then btf_member[vlen]) as libbpf hands it out. */
function readStruct(l: Libbpf, btf: unknown, id: number) {
  const t = l.btf__type_by_id(btf, id);
  const [nameOff = 0, info = 0, size = 0] = l.readU32(t, 3);
  const vlen = info & 0xffff;
  const words = l.readU32(t, 3 + 3 * vlen);
  const members = Array.from({ length: vlen }, (_, i) => {
    const [mName = 0, , off = 0] = words.slice(3 + 3 * i, 6 + 3 * i);
    return { name: l.btf__name_by_offset(btf, mName), bitOffset: off };
  });
  return {
    name: l.btf__name_by_offset(btf, nameOff),
    kind: (info >>> 24) & 0x1f,
    size,
    members,
  };
}

kernelSuite('BTF bindings on the kernel', {}, () => {
  it('build a struct, load it, attach it to a map and read it back by id', () => {
    const l = libbpf();
    const btf = l.btf__new_empty();
    expect(typeof btf).toBe('bigint');
    onTestFinished(() => l.btf__free(btf));
    const u32 = l.btf__add_int(btf, 'u32', 4, 0);
    const s64 = l.btf__add_int(btf, 's64', 8, BTF_INT_SIGNED);
    const u8 = l.btf__add_int(btf, 'u8', 1, 0);
    const mac = l.btf__add_array(btf, u32, u8, 6);
    const ifindex = l.btf__add_typedef(btf, 'ifindex_t', u32);
    const val = l.btf__add_struct(btf, 'cellium_btf_test', 24);
    expect([u32, s64, u8, mac, ifindex, val]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(l.btf__add_field(btf, 'index', ifindex, 0, 0)).toBe(0);
    expect(l.btf__add_field(btf, 'mac', mac, 32, 0)).toBe(0);
    expect(l.btf__add_field(btf, 'bytes', s64, 128, 0)).toBe(0);
    expect(l.btf__type_cnt(btf)).toBe(7); // type 0 is void
    expect(l.btf__load_into_kernel(btf)).toBe(0);
    const btfFd = l.btf__fd(btf);
    expect(btfFd).toBeGreaterThan(0);

    const fd = l.bpf_map_create(BPF_MAP_TYPE_HASH, 'cellium_btf_t', 4, 24, 4, {
      sz: SIZES.mapCreateOpts,
      map_flags: 0,
      btf_fd: btfFd,
      btf_key_type_id: u32,
      btf_value_type_id: val,
    });
    expect(fd, `errno ${-fd}`).toBeGreaterThan(0);
    onTestFinished(() => {
      l.close(fd);
    });
    const info = mapInfo(fd, 'cellium_btf_t');
    expect(info.btf_id).toBeGreaterThan(0);
    expect([info.btf_key_type_id, info.btf_value_type_id]).toEqual([u32, val]);

    const back = l.btf__load_from_kernel_by_id(info.btf_id);
    expect(back).not.toBeNull();
    onTestFinished(() => l.btf__free(back));
    expect(l.btf__type_cnt(back)).toBe(7);
    expect(readStruct(l, back, info.btf_value_type_id)).toEqual({
      name: 'cellium_btf_test',
      kind: BTF_KIND_STRUCT,
      size: 24,
      members: [
        { name: 'index', bitOffset: 0 },
        { name: 'mac', bitOffset: 32 },
        { name: 'bytes', bitOffset: 128 },
      ],
    });
    expect(l.btf__resolve_size(back, info.btf_key_type_id)).toBe(4);
  });

  it('report a BTF id that does not exist as null with errno', () => {
    const l = libbpf();
    expect(l.btf__load_from_kernel_by_id(0x7ffffff0)).toBeNull();
    expect(l.errno()).toBe(2); // ENOENT
  });

  it('refuse a map whose value type does not match its size (the kernel checks BTF)', () => {
    const l = libbpf();
    const btf = l.btf__new_empty();
    onTestFinished(() => l.btf__free(btf));
    const u32 = l.btf__add_int(btf, 'u32', 4, 0);
    expect(l.btf__load_into_kernel(btf)).toBe(0);
    const fd = l.bpf_map_create(BPF_MAP_TYPE_HASH, 'cellium_btf_bad', 4, 8, 4, {
      sz: SIZES.mapCreateOpts,
      map_flags: 0,
      btf_fd: l.btf__fd(btf),
      btf_key_type_id: u32,
      btf_value_type_id: u32, // 4 bytes for an 8-byte value
    });
    if (fd >= 0) l.close(fd);
    expect(fd).toBeLessThan(0);
  });
});
