// NodePort, LoadBalancer and ExternalIPs from outside the node: bpf_host on tc ingress of each
// device of --devices, with the devices' addresses in cellium_lb_devices (the source a flow to a
// backend on another node leaves with). IP forwarding is turned on, as Cilium's agent does: a
// local backend's replies go back out through the host stack. The programs stay attached when the
// agent stops, so services keep working while it restarts; a later run replaces them, and takes
// them off devices it is no longer configured for (their ids are in the state file).
import { existsSync, lstatSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fsyncDir, mkdirDurable, readStateFile, writeFileAtomic } from '../../core/atomic-file.js';
import {
  ifIndex,
  loadObject,
  tcAttach,
  tcDetach,
  tcQuery,
  type RawMap,
} from '../../core/bpf/index.js';
import { errorMessage, type Health, type Lifecycle, type Logger } from '../../core/hive/index.js';
import { writeSysctl } from '../../core/net/index.js';
import type { LbDevice } from './devices.js';
import type { LbMapSet } from './lbmaps.js';

/** bpf_host's entry program. */
export const HOST_PROGRAM = 'cil_from_netdev';

/** A device bpf_host was attached to: its name, index and the program's id. */
interface HostAttachment {
  readonly device: string;
  readonly ifindex: number;
  readonly progId: number;
}

/** What NodePort needs. */
export interface NodePortParams {
  readonly enabled: boolean;
  readonly objectPath: string;
  readonly stateDir: string;
  readonly kernel: () => boolean;
  /** The devices of --devices, found at start. */
  readonly devices: () => readonly LbDevice[];
  readonly lbMaps: () => LbMapSet;
  /** Every map bpf_host shares with the agent (the agent's, the LB's, conntrack's). */
  readonly maps: () => readonly RawMap[];
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}

function isAttachments(v: unknown): v is HostAttachment[] {
  return (
    Array.isArray(v) &&
    v.every(
      (a: unknown) =>
        typeof a === 'object' &&
        a !== null &&
        typeof (a as HostAttachment).device === 'string' &&
        Number.isSafeInteger((a as HostAttachment).ifindex) &&
        Number.isSafeInteger((a as HostAttachment).progId),
    )
  );
}

/** `<state-dir>/nodeport.json`: where bpf_host was attached. */
class HostAttachmentStore {
  constructor(readonly path: string) {}

  load(logger: Logger): HostAttachment[] {
    try {
      lstatSync(this.path);
    } catch {
      return [];
    }
    try {
      const v: unknown = JSON.parse(readStateFile(this.path, 64 * 1024));
      if (isAttachments(v)) return v;
    } catch {
      // kept aside below
    }
    const aside = `${this.path}.invalid-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(this.path, aside);
    fsyncDir(dirname(this.path));
    logger.error(`the NodePort state file was invalid and was kept aside as ${aside}`);
    return [];
  }

  save(a: readonly HostAttachment[]): void {
    mkdirDurable(dirname(this.path));
    writeFileAtomic(this.path, `${JSON.stringify(a)}\n`);
  }
}

/** Takes the last run's program off a device this run does not serve (only that very program). */
function detachStale(a: HostAttachment, logger: Logger): void {
  const idx = ifIndex(a.device);
  if (idx === 0 || idx !== a.ifindex) return; // the device is gone, and the program with it
  if (tcQuery(idx, 'ingress') !== a.progId) return;
  tcDetach(idx, 'ingress');
  logger.info(
    { device: a.device, progId: a.progId },
    'detached bpf_host from a device no longer in --devices',
  );
}

/** Attaches bpf_host at start to every device of --devices (when NodePort is on). */
export function registerNodePort(p: NodePortParams): void {
  const store = new HostAttachmentStore(join(p.stateDir, 'nodeport.json'));
  p.lifecycle.append(
    {
      onStart: () => {
        const previous = p.kernel() ? store.load(p.logger) : [];
        const devices = p.enabled ? p.devices() : [];
        const keep = new Set(devices.map((d) => d.index));
        for (const a of previous) {
          if (keep.has(a.ifindex)) continue;
          try {
            detachStale(a, p.logger);
          } catch (e) {
            p.logger.warn({ device: a.device }, `cannot detach bpf_host: ${errorMessage(e)}`);
          }
        }
        if (!p.enabled) {
          if (previous.length > 0) store.save([]);
          p.health.ok('off (--enable-node-port=false, --kube-proxy-replacement=false)');
          return;
        }
        if (devices.length === 0) {
          p.health.ok(
            'on, but --devices names no device: NodePorts are served to pods and host processes only',
          );
          return;
        }
        // The devices' addresses, for the source of flows to backends on other nodes.
        const m = p.lbMaps().devices;
        for (const d of devices) {
          m.update(
            { ifindex: d.index },
            {
              ipv4: d.addresses.find((a) => !a.includes(':')) ?? '0.0.0.0',
              ipv6: d.addresses.find((a) => a.includes(':')) ?? '::',
            },
          );
        }
        for (const [k] of [...m.entries()]) if (!keep.has(k.ifindex)) m.delete(k);
        if (!p.kernel()) {
          p.health.ok(
            `in-memory maps: no program is attached to ${devices.map((d) => d.name).join(', ')}`,
          );
          return;
        }
        const problem =
          p.objectPath === ''
            ? 'no bpf_host object is configured (--bpf-host-object is empty; npm run build compiles datapath-c/build/bpf_host.o, which needs clang)'
            : !existsSync(p.objectPath)
              ? `the bpf_host object ${p.objectPath} (--bpf-host-object) does not exist (npm run build compiles it)`
              : undefined;
        if (problem !== undefined) {
          p.health.degraded(`NodePort is on but not attached: ${problem}`);
          return;
        }
        try {
          writeSysctl('net.ipv4.ip_forward', 1);
          writeSysctl('net.ipv6.conf.all.forwarding', 1);
        } catch (e) {
          p.logger.warn(`cannot turn on IP forwarding: ${errorMessage(e)}`);
        }
        const attached: HostAttachment[] = [];
        try {
          const obj = loadObject(p.objectPath, p.maps(), { onlyDeclared: true });
          try {
            const fd = obj.program(HOST_PROGRAM);
            for (const d of devices) {
              tcAttach(d.index, 'ingress', fd);
              const progId = tcQuery(d.index, 'ingress') ?? 0;
              attached.push({ device: d.name, ifindex: d.index, progId });
            }
          } finally {
            obj.close();
          }
          store.save(attached);
          p.health.ok(`bpf_host attached to ${devices.map((d) => d.name).join(', ')}`);
          p.logger.info({ devices: attached }, 'NodePort attached');
        } catch (e) {
          if (attached.length > 0) store.save(attached);
          p.health.degraded(`NodePort is on but not attached: ${errorMessage(e)}`, e);
          p.logger.error(`cannot attach bpf_host: ${errorMessage(e)}`);
        }
      },
    },
    'nodeport',
  );
}
