import { check, E, type BpfTarget } from './errors.js';
import { libbpf, SIZES, type TcOpts } from './libbpf.js';
import type { RawMap } from './map.js';
import { mapFd } from './map.kernel.js';

/** A loaded BPF object: its programs by name; close() unloads what nothing else holds. */
export interface BpfObject {
  readonly path: string;
  /** The fd of a program (by its C function name). */
  program(name: string): number;
  close(): void;
}

/**
 * Opens and loads an ELF object. Maps named in `maps` reuse those already-open maps (the
 * agent's pinned ones), so programs and agent share them.
 */
export function loadObject(path: string, maps: readonly RawMap[] = []): BpfObject {
  const lib = libbpf();
  const t: BpfTarget = { kind: 'object', name: path };
  const obj = lib.bpf_object__open_file(path, null);
  if (!obj) check(-lib.errno() || -E.EINVAL, 'open', t);
  try {
    for (const m of maps) {
      const bm = lib.bpf_object__find_map_by_name(obj, m.name);
      if (!bm) throw new Error(`${path} has no map ${m.name}`);
      check(lib.bpf_map__reuse_fd(bm, mapFd(m)), 'reuse map', { kind: 'map', name: m.name });
    }
    check(lib.bpf_object__load(obj), 'load', t);
  } catch (e) {
    lib.bpf_object__close(obj);
    throw e;
  }
  let closed = false;
  return {
    path,
    program(name) {
      const p = lib.bpf_object__find_program_by_name(obj, name);
      if (!p) throw new Error(`${path} has no program ${name}`);
      return check(lib.bpf_program__fd(p), 'find program', { kind: 'program', name });
    },
    close() {
      if (closed) return;
      closed = true;
      lib.bpf_object__close(obj);
    },
  };
}

/** Which tc hook of an interface. */
export type TcDirection = 'ingress' | 'egress';

function hook(ifindex: number, dir: TcDirection) {
  return { sz: SIZES.tcHook, ifindex, attach_point: dir === 'ingress' ? 1 : 2, parent: 0 };
}

/** Where a program sits in tc: handle and priority (defaults 1 and 1, as Cilium's). */
export interface TcPlacement {
  readonly handle?: number;
  readonly priority?: number;
}

const BPF_TC_F_REPLACE = 1;

function tcOpts(at: TcPlacement, progFd = 0, flags = 0): TcOpts {
  return {
    sz: SIZES.tcOpts,
    prog_fd: progFd,
    flags,
    prog_id: 0,
    handle: at.handle ?? 1,
    priority: at.priority ?? 1,
  };
}

/** Attaches a program to an interface's clsact ingress/egress (creating clsact), replacing. */
export function tcAttach(
  ifindex: number,
  dir: TcDirection,
  progFd: number,
  at: TcPlacement = {},
): void {
  const lib = libbpf();
  const h = hook(ifindex, dir);
  const r = lib.bpf_tc_hook_create(h);
  if (r < 0 && r !== -E.EEXIST)
    check(r, 'create clsact on', { kind: 'link', name: `ifindex ${ifindex}` });
  const opts = tcOpts(at, progFd, BPF_TC_F_REPLACE);
  check(lib.bpf_tc_attach(h, opts), `attach tc ${dir} to`, {
    kind: 'link',
    name: `ifindex ${ifindex}`,
  });
}

/** The id of the program attached at a tc hook, or undefined. */
export function tcQuery(
  ifindex: number,
  dir: TcDirection,
  at: TcPlacement = {},
): number | undefined {
  const opts = tcOpts(at);
  const r = libbpf().bpf_tc_query(hook(ifindex, dir), opts);
  if (r === -E.ENOENT || r === -E.EINVAL) return undefined;
  check(r, `query tc ${dir} of`, { kind: 'link', name: `ifindex ${ifindex}` });
  return opts.prog_id;
}

/** Detaches the program at a tc hook; absent is fine. */
export function tcDetach(ifindex: number, dir: TcDirection, at: TcPlacement = {}): void {
  const opts = tcOpts(at);
  const r = libbpf().bpf_tc_detach(hook(ifindex, dir), opts);
  if (r === -E.ENOENT || r === -E.EINVAL) return;
  check(r, `detach tc ${dir} from`, { kind: 'link', name: `ifindex ${ifindex}` });
}

/** The result of BPF_PROG_TEST_RUN. */
export interface TestRunResult {
  readonly retval: number;
  readonly data: Buffer;
  /** The __sk_buff (or other context) after the run, when one was passed. */
  readonly ctx?: Buffer;
  /** Average per repetition, in nanoseconds. */
  readonly durationNs: number;
}

/** Runs a program on a crafted packet without attaching it (BPF_PROG_TEST_RUN). */
export function testRun(
  progFd: number,
  data: Buffer,
  opts: { repeat?: number; ctx?: Buffer } = {},
): TestRunResult {
  const out = Buffer.alloc(data.length + 256);
  const ctxOut = opts.ctx ? Buffer.alloc(opts.ctx.length) : null;
  const o = {
    sz: SIZES.testRunOpts,
    data_in: data,
    data_out: out,
    data_size_in: data.length,
    data_size_out: out.length,
    ctx_in: opts.ctx ?? null,
    ctx_out: ctxOut,
    ctx_size_in: opts.ctx?.length ?? 0,
    ctx_size_out: ctxOut?.length ?? 0,
    retval: 0,
    repeat: opts.repeat ?? 1,
    duration: 0,
    flags: 0,
    cpu: 0,
    batch_size: 0,
  };
  check(libbpf().bpf_prog_test_run_opts(progFd, o), 'test-run', {
    kind: 'program',
    name: `fd ${progFd}`,
  });
  return {
    retval: o.retval,
    data: out.subarray(0, o.data_size_out),
    ...(ctxOut ? { ctx: ctxOut } : {}),
    durationNs: o.duration,
  };
}

/** The index of a network interface (0 when there is none by that name). */
export function ifIndex(name: string): number {
  return libbpf().if_nametoindex(name);
}
