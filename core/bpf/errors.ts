import { constants } from 'node:os';

/** Errno values the map code checks for. */
export const E = {
  EPERM: constants.errno.EPERM,
  ENOENT: constants.errno.ENOENT,
  E2BIG: constants.errno.E2BIG,
  EBADF: constants.errno.EBADF,
  EINTR: constants.errno.EINTR,
  EACCES: constants.errno.EACCES,
  EEXIST: constants.errno.EEXIST,
  EINVAL: constants.errno.EINVAL,
  ENOSPC: constants.errno.ENOSPC,
  ENOTSUP: 524, // the kernel's ENOTSUPP, which libc does not name
} as const;

const NAMES = new Map<number, string>(
  Object.entries(constants.errno).map(([name, n]) => [n, name] as const),
);
NAMES.set(524, 'ENOTSUPP');
// libbpf's own error codes (LIBBPF_ERRNO__*), e.g. from loading an object that is not one.
for (const [n, name] of [
  [4000, 'LIBBPF_ERRNO__LIBELF: libelf failed'],
  [4001, 'LIBBPF_ERRNO__FORMAT: not a BPF ELF object'],
  [4002, 'LIBBPF_ERRNO__KVERSION: bad kernel version section'],
  [4003, 'LIBBPF_ERRNO__ENDIAN: wrong endianness'],
  [4004, 'LIBBPF_ERRNO__INTERNAL: libbpf internal error'],
  [4005, 'LIBBPF_ERRNO__RELOC: relocation failed'],
  [4006, 'LIBBPF_ERRNO__LOAD: program load failed'],
  [4007, 'LIBBPF_ERRNO__VERIFY: refused by the verifier'],
  [4008, 'LIBBPF_ERRNO__PROG2BIG: program too big'],
  [4009, 'LIBBPF_ERRNO__KVER: wrong kernel version'],
  [4010, 'LIBBPF_ERRNO__PROGTYPE: program type not supported by the kernel'],
] as const) {
  NAMES.set(n, name);
}

/** The symbolic name of an errno (`E2BIG`). */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `errno ${errno}`;
}

/** What a failed bpf operation was working on, for the message. */
export interface BpfTarget {
  readonly kind: 'map' | 'program' | 'object' | 'link' | 'pin';
  readonly name: string;
  readonly maxEntries?: number;
}

function explain(op: string, errno: number, t: BpfTarget): string {
  switch (errno) {
    case E.E2BIG:
    case E.ENOSPC: // what a full LPM trie answers
      return t.kind === 'map' && op.startsWith('update')
        ? `${t.kind} ${t.name} is full (max entries ${t.maxEntries ?? '?'})`
        : `${op} ${t.kind} ${t.name}: ${errno === E.E2BIG ? 'argument too big' : 'no space left'}`;
    case E.EPERM:
    case E.EACCES:
      return `${op} ${t.kind} ${t.name}: not permitted; bpf() needs CAP_BPF and CAP_NET_ADMIN (run as root)`;
    case E.ENOENT:
      return `${op} ${t.kind} ${t.name}: no such ${t.kind === 'pin' ? 'pinned object' : 'entry'}`;
    case E.EEXIST:
      return `${op} ${t.kind} ${t.name}: entry already exists`;
    default:
      return `${op} ${t.kind} ${t.name}: ${errnoName(errno)}`;
  }
}

/** A failed bpf() or libbpf call: the operation, what it was on, the errno and a readable message. */
export class BpfError extends Error {
  override name = 'BpfError';
  readonly code: string;

  /** Whether this is a write to a map that is full (E2BIG; ENOSPC for LPM tries). */
  get mapFull(): boolean {
    return (
      this.target.kind === 'map' &&
      this.op.startsWith('update') &&
      (this.errno === E.E2BIG || this.errno === E.ENOSPC)
    );
  }

  constructor(
    readonly op: string,
    readonly errno: number,
    readonly target: BpfTarget,
  ) {
    super(`${explain(op, errno, target)} (${errnoName(errno)})`);
    this.code = errnoName(errno);
  }
}

/** Throws BpfError when a libbpf call returned a negative errno. */
export function check(ret: number, op: string, target: BpfTarget): number {
  if (ret < 0) throw new BpfError(op, -ret, target);
  return ret;
}
