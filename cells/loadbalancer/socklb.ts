// Socket-level load balancing (bpf_sock on the cgroup hooks of --cgroup-root): host processes'
// connections to a service go straight to a backend, translated at connect/sendmsg. The programs
// stay attached when the agent stops, as Cilium's, so sockets keep working across a restart; the
// next run attaches its own and takes the last run's off (their ids are in the state file), and a
// run with socket LB off takes them off too.
import { existsSync, lstatSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fsyncDir, mkdirDurable, readStateFile, writeFileAtomic } from '../../core/atomic-file.js';
import {
  cgroupAttach,
  cgroupDetach,
  loadObject,
  type CgroupHook,
  type RawMap,
} from '../../core/bpf/index.js';
import { errorMessage, type Health, type Lifecycle, type Logger } from '../../core/hive/index.js';

/** Each cgroup hook and bpf_sock's program for it. */
export const SOCK_PROGRAMS: readonly (readonly [CgroupHook, string])[] = [
  ['connect4', 'cil_sock4_connect'],
  ['sendmsg4', 'cil_sock4_sendmsg'],
  ['recvmsg4', 'cil_sock4_recvmsg'],
  ['getpeername4', 'cil_sock4_getpeername'],
  ['connect6', 'cil_sock6_connect'],
  ['sendmsg6', 'cil_sock6_sendmsg'],
  ['recvmsg6', 'cil_sock6_recvmsg'],
  ['getpeername6', 'cil_sock6_getpeername'],
];

/** Where the programs were attached: the cgroup and each hook's program id. */
export interface SockAttachment {
  readonly cgroup: string;
  readonly programs: Readonly<Partial<Record<CgroupHook, number>>>;
}

/** What socket LB needs. */
export interface SocketLbParams {
  readonly enabled: boolean;
  readonly objectPath: string;
  readonly stateDir: string;
  /** The kernel backend (on in-memory maps nothing is attached). */
  readonly kernel: () => boolean;
  /** The cgroup v2 root to attach to, or why there is none. */
  readonly cgroupRoot: () => { root: string } | { problem: string };
  /** The maps the object shares with the agent. */
  readonly maps: () => readonly RawMap[];
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}

function isAttachment(v: unknown): v is SockAttachment {
  if (typeof v !== 'object' || v === null) return false;
  const a = v as { cgroup?: unknown; programs?: unknown };
  if (typeof a.cgroup !== 'string' || typeof a.programs !== 'object' || a.programs === null) {
    return false;
  }
  return Object.entries(a.programs).every(
    ([hook, id]) => SOCK_PROGRAMS.some(([h]) => h === hook) && Number.isSafeInteger(id),
  );
}

/** The state file of the attachment: `<state-dir>/socket-lb.json`. */
class AttachmentStore {
  constructor(readonly path: string) {}

  load(logger: Logger): SockAttachment | undefined {
    try {
      lstatSync(this.path);
    } catch {
      return undefined;
    }
    try {
      const v: unknown = JSON.parse(readStateFile(this.path, 64 * 1024));
      if (isAttachment(v)) return v;
    } catch {
      // kept aside below
    }
    const aside = `${this.path}.invalid-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(this.path, aside);
    fsyncDir(dirname(this.path));
    logger.error(`the socket LB state file was invalid and was kept aside as ${aside}`);
    return undefined;
  }

  save(a: SockAttachment): void {
    mkdirDurable(dirname(this.path));
    writeFileAtomic(this.path, `${JSON.stringify(a)}\n`);
  }
}

/** Takes the programs of an attachment off their cgroup (a cgroup gone took them with it). */
function detachAll(a: SockAttachment, keep: ReadonlySet<number>, logger: Logger): void {
  if (!existsSync(a.cgroup)) return;
  for (const [hook, id] of Object.entries(a.programs) as [CgroupHook, number][]) {
    if (keep.has(id)) continue;
    try {
      cgroupDetach(a.cgroup, hook, id);
    } catch (e) {
      logger.warn(
        { cgroup: a.cgroup, hook, id },
        `cannot detach a socket LB program: ${errorMessage(e)}`,
      );
    }
  }
}

/** Attaches bpf_sock at start (when enabled), replacing the last run's programs. */
export function registerSocketLb(p: SocketLbParams): void {
  const store = new AttachmentStore(join(p.stateDir, 'socket-lb.json'));
  p.lifecycle.append(
    {
      onStart: () => {
        const previous = store.load(p.logger);
        if (!p.enabled) {
          if (previous && p.kernel()) {
            detachAll(previous, new Set(), p.logger);
            store.save({ cgroup: previous.cgroup, programs: {} });
            p.logger.info(
              `socket LB is off: detached the last run's programs from ${previous.cgroup}`,
            );
          }
          p.health.ok('off (--bpf-lb-sock=false, --kube-proxy-replacement=false)');
          return;
        }
        if (!p.kernel()) {
          p.health.ok('in-memory maps: no programs are attached');
          return;
        }
        const r = p.cgroupRoot();
        const root = 'root' in r ? r.root : undefined;
        const problem =
          'problem' in r
            ? r.problem
            : p.objectPath === ''
              ? 'no bpf_sock object is configured (--bpf-sock-object is empty; npm run build compiles datapath-c/build/bpf_sock.o, which needs clang)'
              : !existsSync(p.objectPath)
                ? `the bpf_sock object ${p.objectPath} (--bpf-sock-object) does not exist (npm run build compiles it)`
                : undefined;
        if (problem !== undefined || root === undefined) {
          p.health.degraded(`socket LB is on but not attached: ${problem ?? ''}`);
          return;
        }
        const attachedNow: Partial<Record<CgroupHook, number>> = {};
        try {
          const obj = loadObject(p.objectPath, p.maps(), { onlyDeclared: true });
          const programs = attachedNow;
          try {
            for (const [hook, name] of SOCK_PROGRAMS) {
              programs[hook] = cgroupAttach(root, hook, obj.program(name));
            }
          } finally {
            obj.close();
          }
          const now: SockAttachment = { cgroup: root, programs };
          // The last run's programs go once this run's are in: no connect goes untranslated.
          if (previous) detachAll(previous, new Set(Object.values(programs)), p.logger);
          store.save(now);
          p.health.ok(`bpf_sock attached to ${root} (${SOCK_PROGRAMS.length} hooks)`);
          p.logger.info({ cgroup: root, programs }, 'socket LB attached');
        } catch (e) {
          // Whatever this run attached before the failure comes off again.
          detachAll({ cgroup: root, programs: attachedNow }, new Set(), p.logger);
          p.health.degraded(`socket LB is on but not attached: ${errorMessage(e)}`, e);
          p.logger.error(`cannot attach socket LB to ${root}: ${errorMessage(e)}`);
        }
      },
    },
    'socket-lb',
  );
}
