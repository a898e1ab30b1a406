import { existsSync } from 'node:fs';
import {
  BpfError,
  ifIndex,
  type RawMap,
  loadObject,
  tcAttach,
  tcDetach,
  tcQuery,
  type BpfObject,
} from '../../core/bpf/index.js';
import type { Health, Logger } from '../../core/hive/index.js';
import { PermanentError, type Operations } from '../../core/reconciler/index.js';
import { endpointInfoOf, endpointKeyOf, type DatapathMaps } from '../maps/index.js';
import { endpointDebug, endpointIps, type Endpoint } from './model.js';

/** What regeneration did for each endpoint, for endpoints (or an agent) in debug mode. */
export interface RegenerationTrace {
  /** The steps of a datapath write of `ep`: logged when debugging, kept for its status log. */
  done(ep: Endpoint, steps: readonly string[]): void;
  /** The steps of the last datapath write of endpoint `id`, forgotten once taken. */
  take(id: number): string[];
}

/**
 * Traces regeneration steps: kept for the status log of endpoints whose Debug option is on, and
 * written to the agent log at debug level for those endpoints only, or for all of them while
 * the agent's Debug option is on.
 */
export function regenerationTrace(
  logger: Logger | undefined,
  agentDebug: () => boolean,
): RegenerationTrace {
  const kept = new Map<number, string[]>();
  return {
    done: (ep, steps) => {
      const own = endpointDebug(ep);
      if (own) kept.set(ep.id, [...steps]);
      if (!logger || logger.level === 'silent' || (!own && !agentDebug())) return;
      // Its own level: the endpoint's detail shows while the rest of the agent logs at info.
      const log = logger.child({ endpoint: ep.id }, { level: 'debug' });
      for (const step of steps) log.debug(`regeneration: ${step}`);
    },
    take: (id) => {
      const steps = kept.get(id) ?? [];
      kept.delete(id);
      return steps;
    },
  };
}

/** What regeneration realized for an endpoint in this run of the agent. */
interface Realized {
  readonly ips: readonly string[];
  readonly ifName: string;
}

/** Why the bpf_lxc object cannot be used, or undefined when it can (checked without loading). */
function objectProblem(backend: string, objectPath: string): string | undefined {
  if (backend !== 'kernel') return undefined;
  if (objectPath === '') {
    return 'no bpf_lxc object is configured (--bpf-lxc-object is empty; npm run build compiles datapath-c/build/bpf_lxc.o, which needs clang)';
  }
  if (!existsSync(objectPath)) {
    return `the bpf_lxc object ${objectPath} (--bpf-lxc-object) does not exist (npm run build compiles it, which needs clang)`;
  }
  return undefined;
}

function permanentIfFull(e: unknown): unknown {
  return e instanceof BpfError && e.mapFull ? new PermanentError(e.message) : e;
}

/**
 * The lxc entries and tc programs of endpoints: what regeneration writes. An endpoint's lxc
 * entries land together or not at all; programs are (re)attached at an endpoint's first
 * regeneration in each run, so they always use this run's maps and object, and after that only
 * where missing.
 */
export function endpointOps(
  maps: DatapathMaps,
  objectPath: string,
  health: Health,
  trace: RegenerationTrace = regenerationTrace(undefined, () => false),
  /** Told how long each endpoint's tc attach (or check) took: the restore's attach phase. */
  attached?: (ms: number) => void,
  /**
   * Every map bpf_lxc shares with the agent beyond cellium_lxc, cellium_ipcache and
   * cellium_metrics (the load balancer's and conntrack's), read when the object is loaded.
   */
  programMaps: () => readonly RawMap[] = () => [],
  /** endpoint_info flags of every endpoint (ENDPOINT_F.POLICY when a policy cell manages them). */
  lxcFlags: () => number = () => 0,
): Operations<Endpoint> & { check(): void; close(): void } {
  let obj: BpfObject | undefined;
  const realized = new Map<number, Realized>();

  /** Loads the object once (reporting in health whether it can be used) and finds its programs. */
  const programs = (): { from: number; to: number } => {
    const problem = objectProblem(maps.backend, objectPath);
    if (problem) {
      health.degraded(`${problem}: endpoints with an interface cannot be ready`);
      throw new PermanentError(problem);
    }
    try {
      if (!obj) {
        obj = loadObject(objectPath, [
          maps.lxc.raw,
          maps.ipcache.raw,
          maps.metrics.raw,
          ...programMaps(),
        ]);
        health.ok(`bpf_lxc object ${objectPath} loaded`);
      }
      return { from: obj.program('cil_from_container'), to: obj.program('cil_to_container') };
    } catch (e) {
      const why = `the bpf_lxc object ${objectPath} (--bpf-lxc-object) cannot be loaded: ${e instanceof Error ? e.message : String(e)}`;
      health.degraded(`${why}: endpoints with an interface cannot be ready`);
      throw new PermanentError(why);
    }
  };

  /** Deletes the lxc entries of `ips` that still belong to endpoint `id`. */
  const dropEntries = (id: number, ips: readonly string[]): void => {
    for (const ip of ips) {
      const key = endpointKeyOf(ip);
      if (maps.lxc.lookup(key)?.lxc_id === id) maps.lxc.delete(key);
    }
  };

  const detach = (name: string): void => {
    if (maps.backend !== 'kernel' || name === '') return;
    const idx = ifIndex(name);
    if (idx === 0) return;
    tcDetach(idx, 'ingress');
    tcDetach(idx, 'egress');
  };

  return {
    update: (_, ep) => {
      const steps: string[] = [];
      const ips = endpointIps(ep);
      const value = endpointInfoOf(ep, lxcFlags());
      try {
        maps.lxc.updateAll(ips.map((ip) => [endpointKeyOf(ip), value] as const));
      } catch (e) {
        throw permanentIfFull(e);
      }
      steps.push(
        `lxc entries written for ${ips.join(', ') || '(no address)'} (identity ${ep.identity}, ifindex ${ep.ifIndex})`,
      );
      const before = realized.get(ep.id);
      const gone = before?.ips.filter((ip) => !ips.includes(ip)) ?? [];
      if (gone.length > 0) {
        dropEntries(ep.id, gone);
        steps.push(`lxc entries removed for ${gone.join(', ')}`);
      }
      if (before && before.ifName !== ep.ifName) detach(before.ifName);
      if (ep.ifName !== '' && maps.backend === 'kernel') {
        const progs = programs();
        const idx = ifIndex(ep.ifName);
        if (idx === 0) {
          throw new PermanentError(`interface ${ep.ifName} of endpoint ${ep.id} does not exist`);
        }
        // Another device under the same name (the endpoint's was renamed): not the pod's veth.
        if (ep.ifIndex !== 0 && idx !== ep.ifIndex) {
          throw new PermanentError(
            `interface ${ep.ifName} of endpoint ${ep.id} is now device ${idx}, not ${ep.ifIndex}`,
          );
        }
        // Replacing is atomic: an attached program keeps forwarding until the new one is in.
        const fresh = before?.ifName !== ep.ifName;
        const t = performance.now();
        for (const [dir, fd] of [
          ['ingress', progs.from],
          ['egress', progs.to],
        ] as const) {
          if (fresh || tcQuery(idx, dir) === undefined) {
            tcAttach(idx, dir, fd);
            steps.push(`bpf_lxc attached to ${ep.ifName} (tc ${dir})`);
          } else steps.push(`bpf_lxc checked on ${ep.ifName} (tc ${dir}): attached`);
        }
        attached?.(performance.now() - t);
      } else if (ep.ifName !== '') {
        steps.push(`no program attached to ${ep.ifName}: in-memory maps`);
      }
      realized.set(ep.id, { ips, ifName: ep.ifName });
      trace.done(ep, steps);
    },
    delete: (_, ep) => {
      const before = realized.get(ep.id);
      dropEntries(ep.id, [...new Set([...endpointIps(ep), ...(before?.ips ?? [])])]);
      detach(ep.ifName);
      if (before && before.ifName !== ep.ifName) detach(before.ifName);
      realized.delete(ep.id);
      // Steps nobody will take now: the endpoint is gone before its status was written.
      trace.take(ep.id);
    },
    prune: (_, desired) => {
      const want = new Set<string>();
      for (const ep of desired) for (const ip of endpointIps(ep)) want.add(ip);
      const stale = [...maps.lxc.keys()].filter((k) => !want.has(k.ip));
      for (const k of stale) maps.lxc.delete(k);
    },
    check: () => {
      if (maps.backend !== 'kernel') health.ok('in-memory maps: no programs are attached');
      else programs();
    },
    close: () => {
      obj?.close();
      obj = undefined;
    },
  };
}
