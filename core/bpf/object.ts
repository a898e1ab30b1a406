import { statSync } from 'node:fs';
import { constants } from 'node:os';
import { NetlinkError, NetlinkSocket } from '../net/socket.js';
import { NLM_F, parseAttrs, strAttr } from '../net/netlink.js';
import { BpfError, check, E, type BpfTarget } from './errors.js';
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
 * agent's pinned ones), so programs and agent share them; with `onlyDeclared`, maps the object
 * does not declare are skipped instead of refused.
 */
export function loadObject(
  path: string,
  maps: readonly RawMap[] = [],
  opts: { readonly onlyDeclared?: boolean } = {},
): BpfObject {
  const lib = libbpf();
  const t: BpfTarget = { kind: 'object', name: path };
  const obj = lib.bpf_object__open_file(path, null);
  if (!obj) check(-lib.errno() || -E.EINVAL, 'open', t);
  try {
    for (const m of maps) {
      const bm = lib.bpf_object__find_map_by_name(obj, m.name);
      // `onlyDeclared`: the agent's maps offered to an object that uses some of them.
      if (!bm && opts.onlyDeclared) continue;
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

/** Where a program sits in tc: handle and priority (defaults 1 and 1, as Cilium's). */
export interface TcPlacement {
  readonly handle?: number;
  readonly priority?: number;
}

// Values from linux/pkt_sched.h and linux/rtnetlink.h.
const TC_H_CLSACT = 0xfffffff1;
const TC_H_MIN_INGRESS = 0xfff2;
const TC_H_MIN_EGRESS = 0xfff3;
const RTM_NEWQDISC = 36;
const RTM_GETTFILTER = 46;
const RTM_NEWTFILTER = 44;
const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TCA_BPF_ID = 11;
const TCMSG_LEN = 20;
const ENODEV = constants.errno.ENODEV;

const parentOf = (dir: TcDirection): number =>
  ((TC_H_CLSACT & 0xffff0000) | (dir === 'ingress' ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS)) >>> 0;

function hook(ifindex: number, dir: TcDirection) {
  return { sz: SIZES.tcHook, ifindex, attach_point: dir === 'ingress' ? 1 : 2, parent: 0 };
}

/** struct tcmsg. */
function tcmsg(ifindex: number, handle: number, parent: number): Buffer {
  const b = Buffer.alloc(TCMSG_LEN);
  b.writeInt32LE(ifindex, 4);
  b.writeUInt32LE(handle >>> 0, 8);
  b.writeUInt32LE(parent >>> 0, 12);
  return b;
}

const linkOf = (ifindex: number): BpfTarget => ({ kind: 'link', name: `ifindex ${ifindex}` });

// One NETLINK_ROUTE socket for the tc calls, opened again only when the thread has moved to
// another network namespace (ifindexes are per namespace): opening one through the guarded libc
// calls costs more than the request it serves, and a restore attaches to every endpoint.
let tcSocket: { readonly sock: NetlinkSocket; readonly netns: number } | undefined;

function withTcNetlink<T>(fn: (nl: NetlinkSocket) => T): T {
  const netns = statSync('/proc/thread-self/ns/net').ino;
  if (tcSocket?.netns !== netns) {
    tcSocket?.sock.close();
    tcSocket = undefined; // if the open below throws, the next call tries again
    tcSocket = { sock: NetlinkSocket.open(), netns };
  }
  const { sock } = tcSocket;
  try {
    return fn(sock);
  } catch (e) {
    // A refusal (BpfError) leaves the socket as good as it was; anything else may not.
    if (!(e instanceof BpfError)) {
      sock.close();
      tcSocket = undefined;
    }
    throw e;
  }
}

function netlinkFailure(e: unknown, op: string, ifindex: number): never {
  if (!(e instanceof NetlinkError)) throw e;
  throw new BpfError(e.detail ? `${op} (${e.detail})` : op, e.errno, linkOf(ifindex));
}

/**
 * Creates the interface's clsact qdisc, or leaves the one it has: CREATE|REPLACE is accepted
 * either way, where libbpf's bpf_tc_hook_create (CREATE|EXCL) makes the kernel refuse an existing
 * one with an error libbpf prints ("Exclusivity flag on, cannot modify").
 */
function ensureClsact(nl: NetlinkSocket, ifindex: number): void {
  try {
    nl.request({
      op: `RTM_NEWQDISC clsact ifindex ${ifindex}`,
      type: RTM_NEWQDISC,
      flags: NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE,
      header: tcmsg(ifindex, (TC_H_CLSACT & 0xffff0000) >>> 0, TC_H_CLSACT),
      attrs: [strAttr(TCA_KIND, 'clsact')],
    });
  } catch (e) {
    netlinkFailure(e, 'create clsact on', ifindex);
  }
}

/**
 * The id of the bpf program at a hook's handle and priority, from a filter dump: a dump of a
 * hook without clsact or without filters is empty, where libbpf's bpf_tc_query (a GET) makes the
 * kernel answer with errors libbpf prints ("Parent Qdisc doesn't exists", "Cannot find
 * specified filter chain").
 */
function queryFilter(
  nl: NetlinkSocket,
  ifindex: number,
  dir: TcDirection,
  at: TcPlacement,
): number | undefined {
  let replies;
  try {
    replies = nl.request({
      op: `RTM_GETTFILTER ifindex ${ifindex} ${dir}`,
      type: RTM_GETTFILTER,
      flags: NLM_F.DUMP,
      header: tcmsg(ifindex, 0, parentOf(dir)),
    });
  } catch (e) {
    netlinkFailure(e, `query tc ${dir} of`, ifindex);
  }
  const handle = at.handle ?? 1;
  const priority = at.priority ?? 1;
  for (const m of replies) {
    if (m.type !== RTM_NEWTFILTER || m.payload.length < TCMSG_LEN) continue;
    // tcm_info holds the priority in its upper half, the protocol in its lower.
    if (m.payload.readUInt32LE(8) !== handle || m.payload.readUInt32LE(16) >>> 16 !== priority)
      continue;
    const attrs = parseAttrs(m.payload, TCMSG_LEN);
    if (attrs.str(TCA_KIND) !== 'bpf') continue;
    return attrs.nested(TCA_OPTIONS)?.u32(TCA_BPF_ID);
  }
  return undefined;
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

/**
 * Attaches a program to an interface's clsact ingress/egress (creating clsact), replacing the
 * one at the same handle and priority atomically: traffic never sees the hook empty. Nothing
 * the kernel refuses is asked, so libbpf has nothing to print.
 */
export function tcAttach(
  ifindex: number,
  dir: TcDirection,
  progFd: number,
  at: TcPlacement = {},
): void {
  withTcNetlink((nl) => ensureClsact(nl, ifindex));
  // CREATE without EXCL: a filter already there is replaced in place, none is created.
  const opts = tcOpts(at, progFd, BPF_TC_F_REPLACE);
  check(libbpf().bpf_tc_attach(hook(ifindex, dir), opts), `attach tc ${dir} to`, linkOf(ifindex));
}

/** The id of the program attached at a tc hook, or undefined (none, no clsact, no device). */
export function tcQuery(
  ifindex: number,
  dir: TcDirection,
  at: TcPlacement = {},
): number | undefined {
  return withTcNetlink((nl) => queryFilter(nl, ifindex, dir, at));
}

/** Detaches the program at a tc hook; absent is fine (and asked first, so the kernel is quiet). */
export function tcDetach(ifindex: number, dir: TcDirection, at: TcPlacement = {}): void {
  if (tcQuery(ifindex, dir, at) === undefined) return;
  const r = libbpf().bpf_tc_detach(hook(ifindex, dir), tcOpts(at));
  // Gone between the two calls (another detach, the device deleted): what was wanted.
  if (r === -E.ENOENT || r === -E.EINVAL || r === -ENODEV) return;
  check(r, `detach tc ${dir} from`, linkOf(ifindex));
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
