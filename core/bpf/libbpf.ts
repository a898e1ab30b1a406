// The only file that touches koffi: typed bindings to the system's libbpf.so.1 (and a few libc
// calls). Every function returns what libbpf returns; errors are turned into BpfError by the
// callers in map.kernel.ts and object.ts.
import koffi from 'koffi';

/** Whether libbpf.so.1 could be loaded, and why not. */
export interface LibbpfStatus {
  readonly ok: boolean;
  readonly error?: string;
}

const mapCreateOpts = koffi.struct('bpf_map_create_opts', {
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

const batchOpts = koffi.struct('bpf_map_batch_opts', {
  sz: 'size_t',
  elem_flags: 'uint64_t',
  flags: 'uint64_t',
});

const mapInfo = koffi.struct('bpf_map_info', {
  type: 'uint32_t',
  id: 'uint32_t',
  key_size: 'uint32_t',
  value_size: 'uint32_t',
  max_entries: 'uint32_t',
  map_flags: 'uint32_t',
  name: koffi.array('char', 16, 'String'),
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

const tcHook = koffi.struct('bpf_tc_hook', {
  sz: 'size_t',
  ifindex: 'int',
  attach_point: 'int',
  parent: 'uint32_t',
});

const tcOpts = koffi.struct('bpf_tc_opts', {
  sz: 'size_t',
  prog_fd: 'int',
  flags: 'uint32_t',
  prog_id: 'uint32_t',
  handle: 'uint32_t',
  priority: 'uint32_t',
});

const testRunOpts = koffi.struct('bpf_test_run_opts', {
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

/** Sizes libbpf needs in each options struct's `sz`. */
export const SIZES = {
  mapCreateOpts: koffi.sizeof(mapCreateOpts),
  batchOpts: koffi.sizeof(batchOpts),
  mapInfo: koffi.sizeof(mapInfo),
  tcHook: koffi.sizeof(tcHook),
  tcOpts: koffi.sizeof(tcOpts),
  testRunOpts: koffi.sizeof(testRunOpts),
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

type Ptr = unknown;

/** The libbpf and libc functions Cellium uses. */
export interface Libbpf {
  bpf_map_create(
    type: number,
    name: string,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    opts: { sz: number; map_flags: number; inner_map_fd?: number },
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
  bpf_tc_hook_destroy(hook: {
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
  bpf_tc_query(
    hook: { sz: number; ifindex: number; attach_point: number; parent: number },
    opts: TcOpts,
  ): number;
  bpf_prog_test_run_opts(fd: number, opts: TestRunOpts): number;
  btf__parse_elf(path: string, ext: null): Ptr;
  btf__free(btf: Ptr): void;
  btf__find_by_name_kind(btf: Ptr, name: string, kind: number): number;
  btf__type_by_id(btf: Ptr, id: number): Ptr;
  btf__name_by_offset(btf: Ptr, offset: number): string | null;
  btf__resolve_size(btf: Ptr, id: number): number;
  close(fd: number): number;
  if_nametoindex(name: string): number;
  mount(source: string, target: string, type: string, flags: number, data: null): number;
  /** Reads `count` u32 words at a native pointer (BTF type records). */
  readU32(ptr: Ptr, count: number): number[];
  /** The calling thread's errno after a libc call. */
  errno(): number;
}

let loaded: Libbpf | undefined;
let failure: string | undefined;

function bind(): Libbpf {
  const lib = koffi.load('libbpf.so.1');
  const libc = koffi.load('libc.so.6');
  const obj = koffi.opaque('bpf_object');
  const prog = koffi.opaque('bpf_program');
  const map = koffi.opaque('bpf_map');
  const btf = koffi.opaque('btf');
  const f = (sig: string): ((...a: unknown[]) => unknown) =>
    lib.func(sig) as (...a: unknown[]) => unknown;
  void obj;
  void prog;
  void map;
  void btf;
  const fns = {
    bpf_map_create: f(
      'int bpf_map_create(int type, const char *name, uint32_t ks, uint32_t vs, uint32_t max, const bpf_map_create_opts *opts)',
    ),
    bpf_obj_pin: f('int bpf_obj_pin(int fd, const char *path)'),
    bpf_obj_get: f('int bpf_obj_get(const char *path)'),
    bpf_obj_get_info_by_fd: f(
      'int bpf_obj_get_info_by_fd(int fd, _Out_ bpf_map_info *info, _Inout_ uint32_t *len)',
    ),
    bpf_map_lookup_elem: f('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    bpf_map_update_elem: f(
      'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
    ),
    bpf_map_delete_elem: f('int bpf_map_delete_elem(int fd, const void *key)'),
    bpf_map_get_next_key: f('int bpf_map_get_next_key(int fd, const void *key, void *next)'),
    bpf_map_lookup_batch: f(
      'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, uint32_t *count, const bpf_map_batch_opts *opts)',
    ),
    bpf_map_update_batch: f(
      'int bpf_map_update_batch(int fd, const void *keys, const void *values, uint32_t *count, const bpf_map_batch_opts *opts)',
    ),
    bpf_map_delete_batch: f(
      'int bpf_map_delete_batch(int fd, const void *keys, uint32_t *count, const bpf_map_batch_opts *opts)',
    ),
    libbpf_num_possible_cpus: f('int libbpf_num_possible_cpus()'),
    bpf_object__open_file: f('bpf_object *bpf_object__open_file(const char *path, void *opts)'),
    bpf_object__load: f('int bpf_object__load(bpf_object *obj)'),
    bpf_object__close: f('void bpf_object__close(bpf_object *obj)'),
    bpf_object__find_program_by_name: f(
      'bpf_program *bpf_object__find_program_by_name(bpf_object *obj, const char *name)',
    ),
    bpf_object__find_map_by_name: f(
      'bpf_map *bpf_object__find_map_by_name(bpf_object *obj, const char *name)',
    ),
    bpf_program__fd: f('int bpf_program__fd(bpf_program *prog)'),
    bpf_map__reuse_fd: f('int bpf_map__reuse_fd(bpf_map *map, int fd)'),
    bpf_map__fd: f('int bpf_map__fd(bpf_map *map)'),
    bpf_tc_hook_create: f('int bpf_tc_hook_create(bpf_tc_hook *hook)'),
    bpf_tc_hook_destroy: f('int bpf_tc_hook_destroy(bpf_tc_hook *hook)'),
    bpf_tc_attach: f('int bpf_tc_attach(const bpf_tc_hook *hook, _Inout_ bpf_tc_opts *opts)'),
    bpf_tc_detach: f('int bpf_tc_detach(const bpf_tc_hook *hook, const bpf_tc_opts *opts)'),
    bpf_tc_query: f('int bpf_tc_query(const bpf_tc_hook *hook, _Inout_ bpf_tc_opts *opts)'),
    bpf_prog_test_run_opts: f(
      'int bpf_prog_test_run_opts(int fd, _Inout_ bpf_test_run_opts *opts)',
    ),
    btf__parse_elf: f('btf *btf__parse_elf(const char *path, void *ext)'),
    btf__free: f('void btf__free(btf *btf)'),
    btf__find_by_name_kind: f(
      'int btf__find_by_name_kind(const btf *btf, const char *name, uint32_t kind)',
    ),
    btf__type_by_id: f('const void *btf__type_by_id(const btf *btf, uint32_t id)'),
    btf__name_by_offset: f('const char *btf__name_by_offset(const btf *btf, uint32_t offset)'),
    btf__resolve_size: f('int64_t btf__resolve_size(const btf *btf, uint32_t id)'),
    close: libc.func('int close(int fd)') as (...a: unknown[]) => unknown,
    if_nametoindex: libc.func('unsigned int if_nametoindex(const char *name)') as (
      ...a: unknown[]
    ) => unknown,
    mount: libc.func(
      'int mount(const char *source, const char *target, const char *type, unsigned long flags, const void *data)',
    ) as (...a: unknown[]) => unknown,
  };
  return {
    ...(fns as unknown as Omit<Libbpf, 'readU32' | 'errno'>),
    readU32: (ptr, count) => koffi.decode(ptr, koffi.array('uint32_t', count)) as number[],
    errno: () => koffi.errno(),
  };
}

/** The bindings, loaded once; throws with the reason if libbpf.so.1 cannot be loaded. */
export function libbpf(): Libbpf {
  if (loaded) return loaded;
  if (failure !== undefined) throw new Error(failure);
  try {
    loaded = bind();
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
