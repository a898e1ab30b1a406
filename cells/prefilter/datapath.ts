// Loading bpf_xdp and attaching it to the configured device. The program stays attached when the
// agent stops (as Cilium's prefilter: the datapath keeps filtering across agent restarts); a
// later run replaces it, or takes it off a device it is no longer configured for.
import { existsSync } from 'node:fs';
import { ifIndex, loadObject, type RawMap } from '../../core/bpf/index.js';
import { xdpAttach, xdpDetach, xdpQuery, type XdpMode } from '../../core/bpf/index.js';
import type { Attachment } from './store.js';

/** The entry point of bpf_xdp.c. */
export const XDP_PROGRAM = 'cil_xdp_entry';

/** The index of the configured device; a start error naming it when it does not exist. */
export function deviceIndex(device: string): number {
  const idx = ifIndex(device);
  if (idx === 0) throw new Error(`--prefilter-device ${device}: no such network device`);
  return idx;
}

/** Why the object cannot be used, or undefined when it exists. */
export function objectProblem(objectPath: string): string | undefined {
  if (objectPath === '') {
    return 'no bpf_xdp object is configured (--bpf-xdp-object is empty; npm run build compiles datapath-c/build/bpf_xdp.o, which needs clang)';
  }
  if (!existsSync(objectPath)) {
    return `the bpf_xdp object ${objectPath} (--bpf-xdp-object) does not exist (npm run build compiles it, which needs clang)`;
  }
  return undefined;
}

const other = (m: XdpMode): XdpMode => (m === 'native' ? 'generic' : 'native');

/** What attaching needs: the object, the device, the mode, the maps it shares, the last run's attachment. */
export interface AttachParams {
  readonly objectPath: string;
  readonly device: string;
  readonly ifindex: number;
  readonly mode: XdpMode;
  /** The deny maps and cellium_metrics, reused by the object. */
  readonly maps: readonly RawMap[];
  readonly previous: Attachment | undefined;
}

/**
 * Loads bpf_xdp with the agent's maps and attaches it, replacing the program of that mode
 * atomically. A program of the other mode is taken off only when it is the one this agent
 * attached before; anyone else's is an error naming it. The object is closed afterwards: the
 * attachment holds the program, the pins hold the maps.
 */
export function attachXdp(p: AttachParams): Attachment {
  const problem = objectProblem(p.objectPath);
  if (problem) throw new Error(problem);
  const dev = { name: p.device, ifindex: p.ifindex };
  const obj = loadObject(p.objectPath, p.maps);
  try {
    const fd = obj.program(XDP_PROGRAM);
    const foreign = xdpQuery(dev, other(p.mode));
    if (foreign !== undefined) {
      const ours = p.previous?.ifindex === p.ifindex && p.previous.progId === foreign;
      if (!ours) {
        throw new Error(
          `device ${p.device} already has an XDP program (id ${foreign}) in ${other(p.mode)} mode that the prefilter did not attach; remove it (ip link set dev ${p.device} xdp off) or use --prefilter-mode=${other(p.mode)}`,
        );
      }
      xdpDetach(dev, other(p.mode));
    }
    xdpAttach(dev, fd, p.mode);
    const progId = xdpQuery(dev, p.mode);
    if (progId === undefined)
      throw new Error(`XDP program on ${p.device} vanished after attaching`);
    return { device: p.device, ifindex: p.ifindex, mode: p.mode, progId };
  } finally {
    obj.close();
  }
}

/**
 * Takes the last run's program off its device when this run does not want it there (prefilter
 * turned off, or another device or mode). Only that very program (by id) is detached.
 * Returns what was done, for the log, or undefined when nothing was to do.
 */
export function detachObsolete(
  previous: Attachment | undefined,
  now: { readonly ifindex: number; readonly mode: XdpMode } | undefined,
): string | undefined {
  if (!previous) return undefined;
  if (now && now.ifindex === previous.ifindex) return undefined; // attachXdp replaces it
  const dev = { name: previous.device, ifindex: previous.ifindex };
  let id: number | undefined;
  try {
    id = xdpQuery(dev, previous.mode);
  } catch {
    return undefined; // the device is gone, and the program with it
  }
  if (id !== previous.progId) return undefined;
  xdpDetach(dev, previous.mode);
  return `detached the prefilter's XDP program (id ${id}, ${previous.mode}) from ${previous.device}, which it is no longer configured for`;
}
