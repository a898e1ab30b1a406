// Tunnel mode's device and program: cellium_vxlan (VXLAN in external mode: bpf_lxc sets each
// packet's tunnel key; learning off; --tunnel-port) with bpf_overlay on its tc ingress. A device
// of that name from an earlier run is adopted when it is what this run wants, made again when it
// is not (another port, not external), and removed in native mode. Device and program outlive the
// agent, so pods keep reaching other nodes while it restarts.
import { existsSync } from 'node:fs';
import { loadObject, tcAttach, tcQuery, type RawMap } from '../../core/bpf/index.js';
import {
  addVxlan,
  delLink,
  getLinkOn,
  setLinkUp,
  vxlanInfo,
  withNetlink,
} from '../../core/net/index.js';

/** The tunnel device (Cilium's is cilium_vxlan). */
export const TUNNEL_DEVICE = 'cellium_vxlan';

/** bpf_overlay's entry point. */
export const OVERLAY_PROGRAM = 'cil_from_overlay';

/** What tunnel mode needs of the kernel. */
export interface TunnelParams {
  readonly port: number;
  /** The compiled bpf_overlay (--bpf-overlay-object). */
  readonly objectPath: string;
  /** The agent maps bpf_overlay shares (cellium_lxc, cellium_metrics, the monitor's). */
  readonly maps: () => readonly RawMap[];
  /**
   * The id of the bpf_overlay this agent attached before: still attached to an adopted device,
   * it is kept (no load of the object, no verifier run at every sync).
   */
  readonly attached?: number;
}

/** The device as found or made. */
export interface TunnelDevice {
  readonly ifindex: number;
  /** What was done: 'adopted' (kept as it was), 'created', or 'replaced' (made again). */
  readonly how: 'adopted' | 'created' | 'replaced';
  /** The id of the bpf_overlay program on its ingress. */
  readonly programId: number | undefined;
}

/** The tunnel device's ifindex when it is there (and a VXLAN), else undefined. */
export function tunnelIndex(): number | undefined {
  return withNetlink((s) => vxlanInfo(s, TUNNEL_DEVICE)?.index);
}

/** Why bpf_overlay cannot be attached, or undefined. */
export function overlayObjectProblem(path: string): string | undefined {
  if (path === '')
    return 'no bpf_overlay object is configured (--bpf-overlay-object is empty; npm run build compiles datapath-c/build/bpf_overlay.o, which needs clang)';
  if (!existsSync(path))
    return `the bpf_overlay object ${path} (--bpf-overlay-object) does not exist (npm run build compiles it, which needs clang)`;
  return undefined;
}

/** Finds or makes cellium_vxlan, up, and attaches bpf_overlay to its ingress (atomically replaced). */
export function ensureTunnel(p: TunnelParams): TunnelDevice {
  const problem = overlayObjectProblem(p.objectPath);
  if (problem) throw new Error(problem);
  const dev = withNetlink((s): TunnelDevice => {
    const info = vxlanInfo(s, TUNNEL_DEVICE);
    const fits = info && info.external && !info.learning && info.port === p.port;
    if (info && fits) {
      setLinkUp(s, info.index);
      return { ifindex: info.index, how: 'adopted', programId: undefined };
    }
    // The name is the agent's (cellium_*): whatever has it and is not what is wanted goes.
    const there = info !== undefined || getLinkOn(s, TUNNEL_DEVICE) !== undefined;
    if (there) delLink(s, TUNNEL_DEVICE, { missingOk: true });
    const made = addVxlan(s, { name: TUNNEL_DEVICE, port: p.port });
    setLinkUp(s, made.index);
    return { ifindex: made.index, how: there ? 'replaced' : 'created', programId: undefined };
  });
  if (dev.how === 'adopted' && p.attached !== undefined) {
    if (tcQuery(dev.ifindex, 'ingress') === p.attached) return { ...dev, programId: p.attached };
  }
  const obj = loadObject(p.objectPath, p.maps(), { onlyDeclared: true });
  try {
    tcAttach(dev.ifindex, 'ingress', obj.program(OVERLAY_PROGRAM));
  } finally {
    obj.close(); // the attachment holds the program, the pins the maps
  }
  return { ...dev, programId: tcQuery(dev.ifindex, 'ingress') };
}

/** Removes cellium_vxlan (native mode after a tunnel run); whether there was one. */
export function removeTunnel(): boolean {
  return withNetlink((s) =>
    vxlanInfo(s, TUNNEL_DEVICE) !== undefined
      ? delLink(s, TUNNEL_DEVICE, { missingOk: true })
      : false,
  );
}
