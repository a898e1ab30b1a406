// The only file that touches koffi: typed bindings to the system's libbpf.so.1 (and a few libc
// calls). Every function returns what libbpf returns; errors are turned into BpfError by the
// callers in map.kernel.ts and object.ts. Every function is bound through guardFfi, from one
// declaration (signature + hints) each, so a wrong-typed argument is a FfiArgumentError before
// koffi sees it, never a SIGSEGV.
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import type * as Koffi from 'koffi';
import { errnoName } from './errors.js';
import {
  FfiArgumentError,
  guardFfi,
  parseSignature,
  type FfiDecl,
  type FfiStruct,
  type FfiTypes,
} from './ffi-guard.js';

/**
 * koffi, loaded straight from its platform package's native module when that is the one this
 * process can load (glibc Linux): `require('koffi')` spends 7-10 ms resolving its packages and
 * detecting the platform before it gets there, 1.5 ms otherwise, and the CNI plugin and the
 * agent pay that at every start. Anywhere else (musl, another OS) koffi finds its own.
 */
function loadKoffi(): typeof Koffi {
  const req = createRequire(import.meta.url);
  const { platform, arch } = process;
  try {
    const native = req(
      `@koromix/koffi-${platform}-${arch}/${platform}_${arch}/koffi.node`,
    ) as typeof Koffi & { version?: string };
    // The build knows koffi's version: a native module of another one is not taken (koffi
    // itself refuses such a pair). From the sources there is no build, and no check.
    if (typeof __KOFFI_VERSION__ !== 'string' || native.version === __KOFFI_VERSION__)
      return native;
  } catch {
    // not this platform's glibc build: koffi finds its own below
  }
  return req('koffi') as typeof Koffi;
}
// Set by scripts/build.ts in the built programs.
declare const __KOFFI_VERSION__: string | undefined;
const koffi = loadKoffi();

/** Whether libbpf.so.1 could be loaded, and why not. */
export interface LibbpfStatus {
  readonly ok: boolean;
  readonly error?: string;
}

// Structs are declared through cStruct so the guard knows each field's C type too.
const structs = new Map<string, FfiStruct>();
function cStruct(name: string, fields: Record<string, string>): ReturnType<typeof koffi.struct> {
  const t = koffi.struct(name, fields);
  structs.set(name, { size: koffi.sizeof(t), fields });
  return t;
}
const opaques = new Set([
  'bpf_object',
  'bpf_program',
  'bpf_map',
  'btf',
  'btf_type',
  'va_list_tag',
  'ring_buffer',
]);
for (const o of opaques) koffi.opaque(o);
// libbpf's print callback, `int (*)(enum libbpf_print_level, const char *, va_list)`. On x86-64
// va_list is an array that decays to a pointer (tested: libbpf-log.kernel.test.ts); arm64's
// AAPCS64 passes its 32-byte struct by reference. Either way the callback gets a pointer it can
// hand on to vsnprintf unchanged.
const printFn = koffi.proto('int libbpf_print_fn(int level, const char *format, va_list_tag *ap)');
opaques.add('libbpf_print_fn'); // to the guard, a pointer koffi.register returned
// libbpf's ring buffer callback: one call per record, `data` valid only until it returns.
const sampleFn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');
opaques.add('ring_buffer_sample_fn');
const aliases = new Map([
  ['ssize_t', 'int64_t'],
  ['socklen_t', 'uint32_t'],
]);
for (const [a, t] of aliases) koffi.alias(a, t);
const types: FfiTypes = { structs, opaques, aliases };

const mapCreateOpts = cStruct('bpf_map_create_opts', {
  sz: 'size_t',
  btf_fd: 'uint32_t',
  btf_key_type_id: 'uint32_t',
  btf_value_type_id: 'uint32_t',
  btf_vmlinux_value_type_id: 'uint32_t',
  inner_map_fd: 'uint32_t',
  map_flags: 'uint32_t',
  map_extra: 'uint64_t',
  numa_node: 'uint32_t',
  map_ifindex: 'uint32_t',
});

const batchOpts = cStruct('bpf_map_batch_opts', {
  sz: 'size_t',
  elem_flags: 'uint64_t',
  flags: 'uint64_t',
});

const mapInfo = cStruct('bpf_map_info', {
  type: 'uint32_t',
  id: 'uint32_t',
  key_size: 'uint32_t',
  value_size: 'uint32_t',
  max_entries: 'uint32_t',
  map_flags: 'uint32_t',
  name: 'char[16]',
  ifindex: 'uint32_t',
  btf_vmlinux_value_type_id: 'uint32_t',
  netns_dev: 'uint64_t',
  netns_ino: 'uint64_t',
  btf_id: 'uint32_t',
  btf_key_type_id: 'uint32_t',
  btf_value_type_id: 'uint32_t',
  pad: 'uint32_t',
  map_extra: 'uint64_t',
});

const tcHook = cStruct('bpf_tc_hook', {
  sz: 'size_t',
  ifindex: 'int',
  attach_point: 'int',
  parent: 'uint32_t',
});

const tcOpts = cStruct('bpf_tc_opts', {
  sz: 'size_t',
  prog_fd: 'int',
  flags: 'uint32_t',
  prog_id: 'uint32_t',
  handle: 'uint32_t',
  priority: 'uint32_t',
});

const testRunOpts = cStruct('bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'uint32_t',
  batch_size: 'uint32_t',
});

const sockaddrNl = cStruct('sockaddr_nl', {
  nl_family: 'uint16_t',
  nl_pad: 'uint16_t',
  nl_pid: 'uint32_t',
  nl_groups: 'uint32_t',
});

/** Sizes libbpf needs in each options struct's `sz`. */
export const SIZES = {
  mapCreateOpts: koffi.sizeof(mapCreateOpts),
  batchOpts: koffi.sizeof(batchOpts),
  mapInfo: koffi.sizeof(mapInfo),
  tcHook: koffi.sizeof(tcHook),
  tcOpts: koffi.sizeof(tcOpts),
  testRunOpts: koffi.sizeof(testRunOpts),
  sockaddrNl: koffi.sizeof(sockaddrNl),
};

/** struct bpf_map_info, as libbpf fills it. */
export interface MapInfo {
  type: number;
  id: number;
  key_size: number;
  value_size: number;
  max_entries: number;
  map_flags: number;
  name: string;
  /** The id of the BTF object describing key and value (0 when the map has none). */
  btf_id: number;
  btf_key_type_id: number;
  btf_value_type_id: number;
}

/** struct bpf_tc_opts. */
export interface TcOpts {
  sz: number;
  prog_fd: number;
  flags: number;
  prog_id: number;
  handle: number;
  priority: number;
}

/** struct bpf_test_run_opts. */
export interface TestRunOpts {
  sz: number;
  data_in: Buffer | null;
  data_out: Buffer | null;
  data_size_in: number;
  data_size_out: number;
  ctx_in: Buffer | null;
  ctx_out: Buffer | null;
  ctx_size_in: number;
  ctx_size_out: number;
  retval: number;
  repeat: number;
  duration: number;
  flags: number;
  cpu: number;
  batch_size: number;
}

/** An opaque libbpf handle (a koffi 3 pointer: a bigint; null when a call failed). */
type Ptr = unknown;

/** struct sockaddr_nl: a netlink address (pid 0 is the kernel). */
export interface SockaddrNl {
  nl_family: number;
  nl_pad?: number;
  nl_pid: number;
  nl_groups: number;
}

/** struct bpf_map_create_opts (fields left out are 0). */
export interface MapCreateOpts {
  sz: number;
  map_flags: number;
  inner_map_fd?: number;
  /** A loaded BTF object's fd and the ids of the key and value types in it. */
  btf_fd?: number;
  btf_key_type_id?: number;
  btf_value_type_id?: number;
}

/** The libbpf and libc functions Cellium uses. */
export interface Libbpf {
  bpf_map_create(
    type: number,
    name: string,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    opts: MapCreateOpts,
  ): number;
  bpf_obj_pin(fd: number, path: string): number;
  bpf_obj_get(path: string): number;
  bpf_obj_get_info_by_fd(fd: number, info: MapInfo, len: number[]): number;
  bpf_map_lookup_elem(fd: number, key: Buffer | null, value: Buffer): number;
  bpf_map_update_elem(fd: number, key: Buffer, value: Buffer, flags: bigint | number): number;
  bpf_map_delete_elem(fd: number, key: Buffer): number;
  bpf_map_get_next_key(fd: number, key: Buffer | null, next: Buffer): number;
  bpf_map_lookup_batch(
    fd: number,
    inBatch: Buffer | null,
    outBatch: Buffer,
    keys: Buffer,
    values: Buffer,
    count: Uint32Array,
    opts: { sz: number; elem_flags: number; flags: number },
  ): number;
  bpf_map_update_batch(
    fd: number,
    keys: Buffer,
    values: Buffer,
    count: Uint32Array,
    opts: { sz: number; elem_flags: number; flags: number },
  ): number;
  bpf_map_delete_batch(
    fd: number,
    keys: Buffer,
    count: Uint32Array,
    opts: { sz: number; elem_flags: number; flags: number },
  ): number;
  /** An fd of the map with this id (an inner map a map-of-maps names), or -errno. */
  bpf_map_get_fd_by_id(id: number): number;
  /** An fd of the program with this id, or -errno. */
  bpf_prog_get_fd_by_id(id: number): number;
  /** Attaches a program to a cgroup (fd of its directory) at an attach point (enum bpf_attach_type). */
  bpf_prog_attach(progFd: number, targetFd: number, type: number, flags: number): number;
  /** Detaches that very program from a cgroup's attach point. */
  bpf_prog_detach2(progFd: number, targetFd: number, type: number): number;
  /**
   * The ids of the programs attached to a cgroup's attach point: `progIds` is filled and
   * `count[0]` set (it holds the capacity on the way in).
   */
  bpf_prog_query(
    targetFd: number,
    type: number,
    queryFlags: number,
    attachFlags: number[],
    progIds: Buffer,
    count: number[],
  ): number;
  libbpf_num_possible_cpus(): number;
  bpf_object__open_file(path: string, opts: null): Ptr;
  bpf_object__load(obj: Ptr): number;
  bpf_object__close(obj: Ptr): void;
  bpf_object__find_program_by_name(obj: Ptr, name: string): Ptr;
  bpf_object__find_map_by_name(obj: Ptr, name: string): Ptr;
  bpf_program__fd(prog: Ptr): number;
  bpf_map__reuse_fd(map: Ptr, fd: number): number;
  bpf_map__fd(map: Ptr): number;
  bpf_tc_hook_create(hook: {
    sz: number;
    ifindex: number;
    attach_point: number;
    parent: number;
  }): number;
  bpf_tc_attach(
    hook: { sz: number; ifindex: number; attach_point: number; parent: number },
    opts: TcOpts,
  ): number;
  bpf_tc_detach(
    hook: { sz: number; ifindex: number; attach_point: number; parent: number },
    opts: TcOpts,
  ): number;
  bpf_prog_test_run_opts(fd: number, opts: TestRunOpts): number;
  /** Attaches an XDP program (flags: XDP_FLAGS_*); replaces one in the same mode unless told not to. */
  bpf_xdp_attach(ifindex: number, progFd: number, flags: number, opts: null): number;
  bpf_xdp_detach(ifindex: number, flags: number, opts: null): number;
  /** The id of the XDP program attached in the mode `flags` names (0: none) in progId[0]. */
  bpf_xdp_query_id(ifindex: number, flags: number, progId: number[]): number;
  btf__parse_elf(path: string, ext: null): Ptr;
  btf__free(btf: Ptr): void;
  btf__find_by_name_kind(btf: Ptr, name: string, kind: number): number;
  btf__type_by_id(btf: Ptr, id: number): Ptr;
  btf__name_by_offset(btf: Ptr, offset: number): string | null;
  btf__resolve_size(btf: Ptr, id: number): number;
  btf__new_empty(): Ptr;
  btf__add_int(btf: Ptr, name: string, byteSize: number, encoding: number): number;
  btf__add_struct(btf: Ptr, name: string, size: number): number;
  btf__add_field(
    btf: Ptr,
    name: string,
    typeId: number,
    bitOffset: number,
    bitSize: number,
  ): number;
  btf__add_array(btf: Ptr, indexTypeId: number, elemTypeId: number, nrElems: number): number;
  btf__add_typedef(btf: Ptr, name: string, refTypeId: number): number;
  btf__load_into_kernel(btf: Ptr): number;
  btf__fd(btf: Ptr): number;
  btf__load_from_kernel_by_id(id: number): Ptr;
  btf__type_cnt(btf: Ptr): number;
  /** Sets libbpf's print callback (null: silence); returns the previous one. */
  libbpf_set_print(fn: Ptr): Ptr;
  /** A reader of a BPF_MAP_TYPE_RINGBUF map (mmapped) calling `sampleCb` per record; null on failure. */
  ring_buffer__new(mapFd: number, sampleCb: Ptr, ctx: null, opts: null): Ptr;
  /** Hands every record available to the callback without blocking; the count or -errno. */
  ring_buffer__consume(rb: Ptr): number;
  /** The epoll fd that becomes readable when records wait (owned by the ring buffer). */
  ring_buffer__epoll_fd(rb: Ptr): number;
  /** Unmaps and frees the reader (its callback is never called again). */
  ring_buffer__free(rb: Ptr): void;
  close(fd: number): number;
  if_nametoindex(name: string): number;
  mount(source: string, target: string, type: string, flags: number, data: null): number;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: SockaddrNl, addrLen: number): number;
  sendto(
    fd: number,
    buf: Buffer,
    len: number,
    flags: number,
    dest: SockaddrNl | null,
    destLen: number,
  ): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  /** Reads a socket option into `value`; `len` holds its size in and the length out (u32). */
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: Buffer): number;
  /** Moves the calling thread into the namespace `fd` refers to (core/net withNetns). */
  setns(fd: number, nstype: number): number;
  /** Formats a va_list that libbpf handed to the print callback (usable once). */
  vsnprintf(str: Buffer, size: number, format: string, ap: Ptr): number;
  /** Reads `count` u32 words at a native pointer (BTF type records). */
  readU32(ptr: Ptr, count: number): number[];
  /** The calling thread's errno after a libc call. */
  errno(): number;
}

// One declaration per C function: the koffi signature, and the hints the guard needs beyond it.
// Parameter names are the C headers' (they appear in error messages).
const PATH = { maxBytes: 4095 }; // PATH_MAX includes the NUL
const LIBBPF: Record<Exclude<keyof Libbpf, LibcName | 'readU32' | 'errno'>, FfiDecl> = {
  bpf_map_create: {
    sig: 'int bpf_map_create(int map_type, const char *map_name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const bpf_map_create_opts *opts)',
  },
  bpf_obj_pin: { sig: 'int bpf_obj_pin(int fd, const char *pathname)', hints: { pathname: PATH } },
  bpf_obj_get: { sig: 'int bpf_obj_get(const char *pathname)', hints: { pathname: PATH } },
  bpf_obj_get_info_by_fd: {
    sig: 'int bpf_obj_get_info_by_fd(int bpf_fd, _Out_ bpf_map_info *info, _Inout_ uint32_t *info_len)',
    hints: { info_len: { sizeOf: 'info' } },
  },
  bpf_map_lookup_elem: {
    sig: 'int bpf_map_lookup_elem(int fd, const void *key, void *value)',
    hints: { key: { nullable: true } },
  },
  bpf_map_update_elem: {
    sig: 'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
  },
  bpf_map_delete_elem: { sig: 'int bpf_map_delete_elem(int fd, const void *key)' },
  bpf_map_get_next_key: {
    sig: 'int bpf_map_get_next_key(int fd, const void *key, void *next_key)',
    hints: { key: { nullable: true } },
  },
  bpf_map_lookup_batch: {
    sig: 'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, uint32_t *count, const bpf_map_batch_opts *opts)',
    hints: { in_batch: { nullable: true } },
  },
  bpf_map_update_batch: {
    sig: 'int bpf_map_update_batch(int fd, const void *keys, const void *values, uint32_t *count, const bpf_map_batch_opts *opts)',
  },
  bpf_map_delete_batch: {
    sig: 'int bpf_map_delete_batch(int fd, const void *keys, uint32_t *count, const bpf_map_batch_opts *opts)',
  },
  bpf_map_get_fd_by_id: { sig: 'int bpf_map_get_fd_by_id(uint32_t id)' },
  bpf_prog_get_fd_by_id: { sig: 'int bpf_prog_get_fd_by_id(uint32_t id)' },
  bpf_prog_attach: {
    sig: 'int bpf_prog_attach(int prog_fd, int attachable_fd, int type, unsigned int flags)',
  },
  bpf_prog_detach2: {
    sig: 'int bpf_prog_detach2(int prog_fd, int attachable_fd, int type)',
  },
  bpf_prog_query: {
    // prog_ids holds prog_cnt u32s: callers size it at 4 bytes per id (the guard checks bytes).
    sig: 'int bpf_prog_query(int target_fd, int type, uint32_t query_flags, _Out_ uint32_t *attach_flags, void *prog_ids, _Inout_ uint32_t *prog_cnt)',
    hints: { prog_cnt: { sizeOf: 'prog_ids' } },
  },
  libbpf_num_possible_cpus: { sig: 'int libbpf_num_possible_cpus()' },
  bpf_object__open_file: {
    sig: 'bpf_object *bpf_object__open_file(const char *path, void *opts)',
    hints: { path: PATH, opts: { nullOnly: true } },
  },
  bpf_object__load: { sig: 'int bpf_object__load(bpf_object *obj)' },
  bpf_object__close: { sig: 'void bpf_object__close(bpf_object *obj)' },
  bpf_object__find_program_by_name: {
    sig: 'bpf_program *bpf_object__find_program_by_name(bpf_object *obj, const char *name)',
  },
  bpf_object__find_map_by_name: {
    sig: 'bpf_map *bpf_object__find_map_by_name(bpf_object *obj, const char *name)',
  },
  bpf_program__fd: { sig: 'int bpf_program__fd(bpf_program *prog)' },
  bpf_map__reuse_fd: { sig: 'int bpf_map__reuse_fd(bpf_map *map, int fd)' },
  bpf_map__fd: { sig: 'int bpf_map__fd(bpf_map *map)' },
  bpf_tc_hook_create: { sig: 'int bpf_tc_hook_create(bpf_tc_hook *hook)' },
  bpf_tc_attach: { sig: 'int bpf_tc_attach(const bpf_tc_hook *hook, _Inout_ bpf_tc_opts *opts)' },
  bpf_tc_detach: { sig: 'int bpf_tc_detach(const bpf_tc_hook *hook, const bpf_tc_opts *opts)' },
  bpf_prog_test_run_opts: {
    sig: 'int bpf_prog_test_run_opts(int prog_fd, _Inout_ bpf_test_run_opts *opts)',
  },
  // Cellium never passes bpf_xdp_attach_opts (old_prog_fd): replacing is unconditional.
  bpf_xdp_attach: {
    sig: 'int bpf_xdp_attach(int ifindex, int prog_fd, uint32_t flags, void *opts)',
    hints: { opts: { nullOnly: true } },
  },
  bpf_xdp_detach: {
    sig: 'int bpf_xdp_detach(int ifindex, uint32_t flags, void *opts)',
    hints: { opts: { nullOnly: true } },
  },
  bpf_xdp_query_id: {
    sig: 'int bpf_xdp_query_id(int ifindex, int flags, _Out_ uint32_t *prog_id)',
  },
  btf__parse_elf: {
    sig: 'btf *btf__parse_elf(const char *path, void *btf_ext)',
    hints: { path: PATH, btf_ext: { nullOnly: true } },
  },
  btf__free: { sig: 'void btf__free(btf *btf)', hints: { btf: { nullable: true } } },
  btf__find_by_name_kind: {
    sig: 'int btf__find_by_name_kind(const btf *btf, const char *type_name, uint32_t kind)',
  },
  btf__type_by_id: { sig: 'const btf_type *btf__type_by_id(const btf *btf, uint32_t id)' },
  btf__name_by_offset: {
    sig: 'const char *btf__name_by_offset(const btf *btf, uint32_t offset)',
  },
  btf__resolve_size: { sig: 'int64_t btf__resolve_size(const btf *btf, uint32_t type_id)' },
  btf__new_empty: { sig: 'btf *btf__new_empty()' },
  btf__add_int: {
    sig: 'int btf__add_int(btf *btf, const char *name, size_t byte_sz, int encoding)',
  },
  btf__add_struct: { sig: 'int btf__add_struct(btf *btf, const char *name, uint32_t sz)' },
  btf__add_field: {
    sig: 'int btf__add_field(btf *btf, const char *name, int field_type_id, uint32_t bit_offset, uint32_t bit_size)',
  },
  btf__add_array: {
    sig: 'int btf__add_array(btf *btf, int index_type_id, int elem_type_id, uint32_t nr_elems)',
  },
  btf__add_typedef: {
    sig: 'int btf__add_typedef(btf *btf, const char *name, int ref_type_id)',
  },
  btf__load_into_kernel: { sig: 'int btf__load_into_kernel(btf *btf)' },
  btf__fd: { sig: 'int btf__fd(const btf *btf)' },
  btf__load_from_kernel_by_id: { sig: 'btf *btf__load_from_kernel_by_id(uint32_t id)' },
  btf__type_cnt: { sig: 'uint32_t btf__type_cnt(const btf *btf)' },
  libbpf_set_print: {
    sig: 'libbpf_print_fn *libbpf_set_print(libbpf_print_fn *fn)',
    hints: { fn: { nullable: true } },
  },
  // Cellium passes no ctx (each callback is its own closure) and no ring_buffer_opts.
  ring_buffer__new: {
    sig: 'ring_buffer *ring_buffer__new(int map_fd, ring_buffer_sample_fn *sample_cb, void *ctx, void *opts)',
    hints: { ctx: { nullOnly: true }, opts: { nullOnly: true } },
  },
  ring_buffer__consume: { sig: 'int ring_buffer__consume(ring_buffer *rb)' },
  ring_buffer__epoll_fd: { sig: 'int ring_buffer__epoll_fd(const ring_buffer *rb)' },
  ring_buffer__free: { sig: 'void ring_buffer__free(ring_buffer *rb)' },
};

type LibcName =
  | 'close'
  | 'if_nametoindex'
  | 'mount'
  | 'socket'
  | 'bind'
  | 'sendto'
  | 'recv'
  | 'setsockopt'
  | 'getsockopt'
  | 'setns'
  | 'vsnprintf';

const LIBC: Record<LibcName, FfiDecl> = {
  close: { sig: 'int close(int fd)' },
  // IFNAMSIZ is 16 including the NUL.
  if_nametoindex: {
    sig: 'unsigned int if_nametoindex(const char *name)',
    hints: { name: { maxBytes: 15 } },
  },
  mount: {
    sig: 'int mount(const char *source, const char *target, const char *filesystemtype, unsigned long mountflags, const void *data)',
    hints: { source: PATH, target: PATH, data: { nullOnly: true } },
  },
  socket: { sig: 'int socket(int domain, int type, int protocol)' },
  bind: {
    sig: 'int bind(int sockfd, const sockaddr_nl *addr, socklen_t addrlen)',
    hints: { addrlen: { sizeOf: 'addr' } },
  },
  sendto: {
    sig: 'ssize_t sendto(int sockfd, const void *buf, size_t len, int flags, const sockaddr_nl *dest_addr, socklen_t addrlen)',
    hints: {
      len: { sizeOf: 'buf' },
      dest_addr: { nullable: true },
      addrlen: { sizeOf: 'dest_addr' },
    },
  },
  recv: {
    sig: 'ssize_t recv(int sockfd, void *buf, size_t len, int flags)',
    hints: { len: { sizeOf: 'buf' } },
  },
  setsockopt: {
    sig: 'int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen)',
    hints: { optlen: { sizeOf: 'optval' } },
  },
  // optlen is a value-result socklen_t: a 4-byte Buffer.
  getsockopt: {
    sig: 'int getsockopt(int sockfd, int level, int optname, void *optval, void *optlen)',
  },
  setns: { sig: 'int setns(int fd, int nstype)' },
  vsnprintf: {
    sig: 'int vsnprintf(void *str, size_t size, const char *format, va_list_tag *ap)',
    hints: { size: { sizeOf: 'str' } },
  },
};

/** The declarations the guard checks arguments against (for tests of the guard itself). */
export const DECLARATIONS = { libbpf: LIBBPF, libc: LIBC, types };

type Fn = (...args: never[]) => unknown;

function bindAll(
  lib: ReturnType<typeof koffi.load>,
  decls: Record<string, FfiDecl>,
): Record<string, Fn> {
  const out: Record<string, Fn> = {};
  for (const [name, decl] of Object.entries(decls)) {
    if (parseSignature(decl.sig).name !== name)
      throw new Error(`declaration ${name} binds another function: ${decl.sig}`);
    out[name] = guardFfi(decl, types, lib.func(decl.sig) as Fn);
  }
  return out;
}

/** The libc calls alone (netlink sockets, setns, mount...): what the CNI plugin needs. */
export type Libc = Pick<Libbpf, LibcName | 'errno'>;

let loadedLibc: Libc | undefined;

/**
 * The libc bindings without libbpf.so.1: binding only these costs a fraction of libbpf() (the
 * CNI plugin, which never touches a map or program, loads nothing else). Throws if libc.so.6
 * cannot be loaded.
 */
export function libc(): Libc {
  loadedLibc ??= {
    ...(bindAll(koffi.load('libc.so.6'), LIBC) as unknown as Omit<Libc, 'errno'>),
    errno: () => koffi.errno(),
  };
  return loadedLibc;
}

let loaded: Libbpf | undefined;
let failure: string | undefined;

function bind(): Libbpf {
  const fns = {
    ...bindAll(koffi.load('libbpf.so.1'), LIBBPF),
    ...libc(),
  } as unknown as Omit<Libbpf, 'readU32'>;
  // koffi.decode dereferences any address it is given, so it is guarded as a C function is.
  const readU32 = guardFfi(
    { sig: 'void readU32(const btf_type *ptr, uint32_t count)' },
    types,
    (ptr: unknown, count: number) => koffi.decode(ptr, koffi.array('uint32_t', count)) as number[],
  );
  return { ...fns, readU32 };
}

/** The bindings, loaded once; throws with the reason if libbpf.so.1 cannot be loaded. */
export function libbpf(): Libbpf {
  if (loaded) return loaded;
  if (failure !== undefined) throw new Error(failure);
  try {
    loaded = bind();
    installPrint(loaded);
    return loaded;
  } catch (e) {
    failure = `cannot load libbpf.so.1: ${e instanceof Error ? e.message : String(e)}`;
    throw new Error(failure);
  }
}

/** Whether libbpf.so.1 loads on this machine. */
export function libbpfStatus(): LibbpfStatus {
  try {
    libbpf();
    return { ok: true };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** Where libbpf's messages go: `wants` is asked first, so unwanted ones are never formatted. */
export interface PrintSink {
  /** Whether a message of this level (enum libbpf_print_level: 0 warn, 1 info, 2 debug) is kept. */
  wants(level: number): boolean;
  /** One formatted message, as libbpf wrote it (prefix and newline included). */
  print(level: number, message: string): void;
}

let printSink: PrintSink | undefined;
// Registered once and never unregistered: libbpf keeps the pointer for the life of the process,
// and this module variable keeps the JS function reachable, so it is never collected under C.
let printTrampoline: bigint | undefined;
let libbpfOwnPrint: unknown;
const printBuf = Buffer.alloc(8192);

function onPrint(level: number, format: string | null, ap: unknown): number {
  // Whatever goes wrong stays here: an exception must not unwind into libbpf.
  try {
    const sink = printSink;
    if (!sink?.wants(level)) return 0;
    let message = format ?? '';
    try {
      // Once only: the va_list is consumed by the first vsnprintf and cannot be re-read.
      const n = loaded?.vsnprintf(printBuf, printBuf.length, message, ap) ?? -1;
      if (n >= 0) {
        const end = Math.min(n, printBuf.length - 1);
        message = printBuf.toString('utf8', 0, end) + (n > end ? '…' : '');
      }
    } catch {
      // A message libbpf could not let us format still says which message it was.
    }
    sink.print(level, message);
  } catch {
    // The sink failed: the message is lost, the process is not.
  }
  return 0;
}

function installPrint(lib: Libbpf): void {
  if (printSink) {
    printTrampoline ??= koffi.register(onPrint, koffi.pointer(printFn));
    const previous = lib.libbpf_set_print(printTrampoline);
    if (previous !== printTrampoline) libbpfOwnPrint = previous;
  } else if (printTrampoline !== undefined && libbpfOwnPrint !== undefined) {
    lib.libbpf_set_print(libbpfOwnPrint);
    libbpfOwnPrint = undefined;
  }
}

/**
 * Routes libbpf's messages to `sink` (undefined: back to libbpf's own stderr printer). Takes
 * effect when libbpf.so.1 loads if it is not loaded yet; never throws when it cannot load.
 */
export function setPrintSink(sink: PrintSink | undefined): void {
  printSink = sink;
  if (loaded) installPrint(loaded);
}

/** A ring_buffer_sample_fn registered with koffi: unregister() once its ring buffer is freed. */
export interface RingSampleFn {
  readonly ptr: bigint;
  unregister(): void;
}

/**
 * Registers a ring buffer callback. `onSample` gets a copy of each record (libbpf reuses the
 * ring's memory once the callback returns); what it returns goes back to libbpf (negative stops
 * ring_buffer__consume, which returns it). A throw never unwinds into libbpf: it goes to
 * `onError` and stops the consume with -ECANCELED.
 */
export function registerRingSample(
  onSample: (data: Buffer) => number,
  onError: (e: unknown) => void,
): RingSampleFn {
  const ptr = koffi.register((_ctx: unknown, data: unknown, size: number | bigint): number => {
    try {
      const n = Number(size);
      return onSample(n === 0 ? Buffer.alloc(0) : Buffer.from(new Uint8Array(koffi.view(data, n))));
    } catch (e) {
      try {
        onError(e);
      } catch {
        // Nowhere left to report it; the consume still stops.
      }
      return -constants.errno.ECANCELED;
    }
  }, koffi.pointer(sampleFn));
  let registered = true;
  return {
    ptr,
    unregister() {
      if (!registered) return;
      registered = false;
      koffi.unregister(ptr);
    },
  };
}

type AsyncFn = {
  async(...args: [...unknown[], (err: unknown, res: unknown) => void]): void;
};
let epollWaitFn: AsyncFn | undefined;

/** epoll_wait(2) returned -1; `errno` says why (EINTR: a signal came first, nothing is wrong). */
export class EpollWaitError extends Error {
  override name = 'EpollWaitError';
  readonly code: string;

  constructor(readonly errno: number) {
    super(`epoll_wait failed (${errnoName(errno)})`);
    this.code = errnoName(errno);
  }
}

/**
 * epoll_wait(2) on one of libuv's worker threads (koffi's async call), so the event loop never
 * blocks: resolves with the number of ready fds (0 at the timeout), or rejects with an
 * EpollWaitError carrying the errno (koffi restores the worker thread's errno for the callback).
 * The ring reader waits this way on a ring buffer's epoll fd: no CPU while nothing arrives.
 */
export function epollWait(epfd: number, timeoutMs: number): Promise<number> {
  if (!Number.isInteger(epfd) || epfd < 0) {
    return Promise.reject(new FfiArgumentError('epoll_wait', 'epfd', 'an fd', String(epfd)));
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 2 ** 31 - 1) {
    return Promise.reject(
      new FfiArgumentError('epoll_wait', 'timeout', '0..2^31-1 ms', String(timeoutMs)),
    );
  }
  libbpf(); // koffi loaded, and libc with it
  epollWaitFn ??= koffi
    .load('libc.so.6')
    .func(
      'int epoll_wait(int epfd, void *events, int maxevents, int timeout)',
    ) as unknown as AsyncFn;
  return new Promise((resolve, reject) => {
    // One struct epoll_event (12 bytes packed on x86-64, 16 elsewhere), in native memory of its
    // own: the worker thread writes it while JavaScript runs, so it must be neither a Buffer
    // koffi copies nor anything the garbage collector sees.
    const events: unknown = koffi.alloc('uint8_t', 16);
    epollWaitFn?.async(epfd, events, 1, timeoutMs, (err: unknown, res: unknown) => {
      koffi.free(events);
      if (err) reject(err instanceof Error ? err : new Error('epoll_wait failed', { cause: err }));
      else if ((res as number) < 0) reject(new EpollWaitError(koffi.errno()));
      else resolve(res as number);
    });
  });
}
