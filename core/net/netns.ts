// Entering a network namespace from this process, and sysctls of the namespace one is in.
//
// setns(CLONE_NEWNET) moves only the calling thread. Node runs JavaScript on one thread, so
// while a synchronous function runs nothing else runs on that thread: no timer, no socket
// callback, no other request can observe the borrowed namespace, and the thread is back in its
// own before the event loop turns again. What runs on that thread meanwhile lives in the
// entered namespace: sockets created there (a NETLINK_ROUTE socket stays bound to the namespace
// it was created in, even after the thread leaves), synchronous fs calls (they run on the
// calling thread, so /proc/sys/net opened there is that namespace's), and children spawned
// synchronously. An await would break all of this: the rest of the function would run in
// whatever namespace the thread is in by then, and any callback that ran in between (the API
// server, a timer) would run inside the pod's namespace; asynchronous fs calls run on libuv's
// thread pool, which never entered it. So withNetns refuses a function that returns a promise.
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { errnoName } from '../bpf/errors.js';
import { libc } from '../bpf/libbpf.js';

const CLONE_NEWNET = 0x40000000;

/** The calling thread's own namespace (/proc/self is the thread group, not this thread). */
const OWN_NETNS = '/proc/thread-self/ns/net';

/** A failed namespace switch, naming the namespace and the errno. */
export class NetnsError extends Error {
  override readonly name = 'NetnsError';
  /** The errno's symbolic name (`ENOENT`, `EINVAL` for a file that is not a netns). */
  readonly code: string;

  constructor(
    /** What was being done (`enter /run/netns/pod1`). */
    readonly op: string,
    readonly errno: number,
  ) {
    super(`netns ${op}: ${errnoName(errno)}`);
    this.code = errnoName(errno);
  }
}

function open(path: string, op: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new NetnsError(op, Math.abs(err.errno ?? 0));
  }
}

function setns(fd: number, op: string): void {
  const lib = libc();
  if (lib.setns(fd, CLONE_NEWNET) < 0) throw new NetnsError(op, lib.errno());
}

/** A function withNetns accepts: synchronous (see the comment at the top of this file). */
type Sync<T> = T extends PromiseLike<unknown> ? never : T;

/**
 * Runs `fn` with the calling thread inside the network namespace at `path` (`/run/netns/x`,
 * `/proc/<pid>/ns/net`, a CNI_NETNS), and returns the thread to its own namespace afterwards,
 * also when fn throws. fn must be synchronous: a returned promise is refused (a TypeError).
 */
export function withNetns<T>(path: string, fn: () => Sync<T>): Sync<T> {
  const own = open(OWN_NETNS, `open ${OWN_NETNS}`);
  try {
    const target = open(path, `open ${path}`);
    try {
      setns(target, `enter ${path}`);
    } finally {
      closeSync(target);
    }
    let result: Sync<T>;
    try {
      result = fn();
    } finally {
      // Cannot fail in practice (own is an open nsfs file and we are root); if it did, this
      // thread would run everything after in the pod's namespace: say so loudly.
      setns(own, `return from ${path} to this thread's own namespace (the thread is stranded)`);
    }
    if (typeof (result as { then?: unknown } | null)?.then === 'function')
      throw new TypeError(
        `withNetns ${path}: the function returned a promise; it must be synchronous (an await would leave the namespace)`,
      );
    return result;
  } finally {
    closeSync(own);
  }
}

/** `net.ipv4.conf.eth0.rp_filter` or its segments (`['net','ipv4','conf','eth0.100','rp_filter']`). */
export type SysctlKey = string | readonly string[];

/** The /proc/sys file of a sysctl; segments keep dots (a VLAN device's name) in one component. */
export function sysctlPath(key: SysctlKey): string {
  const parts = typeof key === 'string' ? key.split('.') : key;
  if (
    parts.length === 0 ||
    parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('/'))
  )
    throw new TypeError(
      `sysctl key must be non-empty segments without '/', got ${JSON.stringify(key)}`,
    );
  return `/proc/sys/${parts.join('/')}`;
}

function sysctlError(op: string, path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  return new Error(`sysctl ${op} ${path}: ${code}`, { cause: e });
}

/**
 * Writes a sysctl of the namespace the calling thread is in (inside withNetns: the entered
 * one; /proc/sys/net is looked up per thread at open time). Errors name the file and errno.
 */
export function writeSysctl(key: SysctlKey, value: string | number): void {
  const path = sysctlPath(key);
  try {
    writeFileSync(path, `${value}\n`);
  } catch (e) {
    throw sysctlError('write', path, e);
  }
}

/** Reads a sysctl of the calling thread's namespace, trimmed; undefined when it does not exist. */
export function readSysctl(key: SysctlKey): string | undefined {
  const path = sysctlPath(key);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw sysctlError('read', path, e);
  }
}
