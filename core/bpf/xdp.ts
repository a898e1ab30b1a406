// XDP attach, detach and query through libbpf (netlink underneath). Modes are Cilium's
// --prefilter-mode names: native (the driver's hook, before an skb exists) and generic (the
// stack's hook, on skbs: slower, but every device has it).
import { constants } from 'node:os';
import { BpfError, E } from './errors.js';
import { libbpf } from './libbpf.js';

/** Where an XDP program runs: in the driver (native) or in the stack on skbs (generic). */
export type XdpMode = 'native' | 'generic';

/** The XDP modes, as --prefilter-mode accepts them. */
export const XDP_MODES: readonly XdpMode[] = ['native', 'generic'];

// XDP_FLAGS_* of linux/if_link.h.
const XDP_FLAGS_SKB_MODE = 1 << 1;
const XDP_FLAGS_DRV_MODE = 1 << 2;

function modeFlag(mode: XdpMode): number {
  return mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
}

/** A device as errors name it: its name and index. */
export interface XdpDevice {
  readonly name: string;
  readonly ifindex: number;
}

function target(dev: XdpDevice) {
  return { kind: 'link' as const, name: `${dev.name} (ifindex ${dev.ifindex})` };
}

const ERRNO = constants.errno;

// The kernel's netlink answers are terse; say what they mean for XDP.
function hintFor(errno: number, mode: XdpMode): string | undefined {
  switch (errno) {
    case ERRNO.EEXIST:
    case ERRNO.EBUSY:
      return `a program is attached in the other mode (${mode === 'native' ? 'generic' : 'native'})`;
    case ERRNO.EOPNOTSUPP:
    case E.ENOTSUP:
      return mode === 'native'
        ? 'the driver has no native XDP support; use --prefilter-mode=generic'
        : 'the kernel has no generic XDP support';
    case ERRNO.ENODEV:
      return 'no such device';
    case ERRNO.ERANGE:
      return 'the device MTU is too large for native XDP';
    default:
      return undefined;
  }
}

/** A BpfError naming the device and errno, with what the errno means for XDP. */
function xdpError(op: string, dev: XdpDevice, mode: XdpMode, ret: number): BpfError {
  const e = new BpfError(op.replace('XDP', `XDP (${mode})`), -ret, target(dev));
  const hint = hintFor(e.errno, mode);
  if (hint !== undefined) e.message = `${e.message}: ${hint}`;
  return e;
}

/**
 * Attaches `progFd` to the device's XDP hook in `mode`, replacing whatever program that mode had
 * (atomically: traffic never runs without a program in between).
 */
export function xdpAttach(dev: XdpDevice, progFd: number, mode: XdpMode): void {
  const r = libbpf().bpf_xdp_attach(dev.ifindex, progFd, modeFlag(mode), null);
  if (r < 0) throw xdpError('attach XDP to', dev, mode, r);
}

/** Detaches the XDP program of `mode` from the device; none attached is fine. */
export function xdpDetach(dev: XdpDevice, mode: XdpMode): void {
  const r = libbpf().bpf_xdp_detach(dev.ifindex, modeFlag(mode), null);
  if (r < 0 && r !== -E.ENOENT) throw xdpError('detach XDP from', dev, mode, r);
}

/** The id of the XDP program attached to the device in `mode`, or undefined. */
export function xdpQuery(dev: XdpDevice, mode: XdpMode): number | undefined {
  const id = [0];
  const r = libbpf().bpf_xdp_query_id(dev.ifindex, modeFlag(mode), id);
  if (r < 0) throw xdpError('query XDP of', dev, mode, r);
  return id[0] === 0 ? undefined : id[0];
}
