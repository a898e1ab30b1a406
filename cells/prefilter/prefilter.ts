// The prefilter at run time: at start it reads its state file, brings the deny maps in line with
// it (or, without a usable file, takes the list from the pinned maps, as Cilium's prefilter
// lists what its maps hold) and attaches bpf_xdp; then it serves changes to the list.
import { join } from 'node:path';
import { openMap, type MapRegistry, type OpenMapOptions } from '../../core/bpf/index.js';
import {
  errorMessage,
  token,
  type Health,
  type Lifecycle,
  type Logger,
} from '../../core/hive/index.js';
import type { DatapathMaps, MonitorMaps } from '../maps/index.js';
import { parseDenyCidr } from './cidr.js';
import type { PrefilterConfig } from './config.js';
import { attachXdp, detachObsolete, deviceIndex } from './datapath.js';
import { DenyList, type DenySnapshot } from './deny-list.js';
import { CIDR_V4_MAP, CIDR_V6_MAP, eraseCidr, mapCidrs, writeCidr, type DenyMaps } from './maps.js';
import { PrefilterStore, type Attachment, type PrefilterState } from './store.js';

/** Cilium's prefilter revision before any change. */
export const FIRST_REVISION = 1;

/** The prefilter as the API uses it. */
export interface Prefilter {
  /** Why the operations are refused (prefilter off, with how to turn it on), or undefined. */
  readonly disabled: string | undefined;
  /** The list, or undefined while the cell has not started (or has stopped). */
  snapshot(): DenySnapshot | undefined;
  /** Adds CIDRs; throws PrefilterError. */
  add(revision: number | undefined, cidrs: readonly string[]): DenySnapshot;
  /** Removes CIDRs; throws PrefilterError. */
  remove(revision: number | undefined, cidrs: readonly string[]): DenySnapshot;
}

/** The prefilter (its list is restored once the cell has started). */
export const Prefilter = token<Prefilter>('prefilter/Prefilter');

/** What the prefilter needs. */
export interface PrefilterParams {
  readonly config: PrefilterConfig;
  readonly stateDir: string;
  readonly maps: DatapathMaps;
  /** cellium_events and its companions: bpf_xdp reports its drops there. */
  readonly monitor: MonitorMaps;
  readonly registry: MapRegistry;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}

/** The message of the operations while the prefilter is off. */
export const DISABLED =
  'the prefilter is not enabled in this agent: start it with --prefilter-device=<device> (and --prefilter-mode=native|generic) to attach the XDP deny list to that device';

/** The list the maps hold, for a start without a usable state file. */
function fromMaps(m: DenyMaps, logger: Logger): string[] {
  const out: string[] = [];
  for (const text of mapCidrs(m)) {
    const c = parseDenyCidr(text);
    if ('problem' in c) logger.warn(`ignoring deny map entry ${text}: ${c.problem}`);
    else out.push(c.text);
  }
  return out;
}

/** Brings the maps in line with `want`: adds what is missing, removes what is not listed. */
function sync(m: DenyMaps, want: readonly string[]): { added: number; removed: number } {
  const wanted = new Set(want);
  const have = new Set(mapCidrs(m));
  let added = 0;
  let removed = 0;
  for (const text of have) {
    const c = parseDenyCidr(text);
    if (wanted.has(text) || 'problem' in c) continue;
    if (eraseCidr(m, c)) removed++;
  }
  for (const text of wanted) {
    const c = parseDenyCidr(text);
    if (have.has(text) || 'problem' in c) continue;
    writeCidr(m, c);
    added++;
  }
  return { added, removed };
}

/** Creates the prefilter and its start/stop hook. */
export function newPrefilter(p: PrefilterParams): Prefilter {
  const device = p.config.prefilterDevice;
  const store = new PrefilterStore(join(p.stateDir, 'prefilter.json'), p.config.prefilterMapMax);
  let list: DenyList | undefined;
  let maps: DenyMaps | undefined;
  let attached: Attachment | undefined;
  // On in-memory maps nothing is attached, but an attachment an earlier run on the kernel made
  // stays recorded, so a later kernel run can still find and detach it.
  let recorded: Attachment | undefined;

  const persist = (s: DenySnapshot): void => {
    const a = attached ?? recorded;
    const state: PrefilterState = { ...s, ...(a ? { attached: a } : {}) };
    store.save(state);
  };
  const report = (problem: string | undefined): void => {
    const s = list?.snapshot();
    if (!s) return;
    const where = attached
      ? `XDP (${attached.mode}, program ${attached.progId}) on ${attached.device}`
      : `in-memory maps on ${device}: no XDP program is attached`;
    const msg = `${s.deny.length} deny CIDRs at revision ${s.revision}; ${where}`;
    if (problem) p.health.degraded(`${msg}; ${problem}`);
    else p.health.ok(msg);
  };
  let startProblem: string | undefined;

  p.lifecycle.append(
    {
      onStart: () => {
        const loaded = store.load();
        startProblem = loaded.problem
          ? `the state file was invalid (${loaded.problem}) and was kept aside as ${loaded.keptAside}; the list was taken from the pinned maps`
          : undefined;
        if (startProblem) p.logger.error(startProblem);
        const kernel = p.maps.backend === 'kernel';
        const ifindex = device !== '' && kernel ? deviceIndex(device) : 0;
        const previous = loaded.state?.attached;
        recorded = kernel ? undefined : previous;
        if (kernel) {
          const note = detachObsolete(
            previous,
            device === '' ? undefined : { ifindex, mode: p.config.prefilterMode },
          );
          if (note) p.logger.info(note);
        }
        if (device === '') {
          // Off: the list and revision stay on disk for the day it is turned on again.
          if (loaded.state?.attached)
            store.save({ revision: loaded.state.revision, deny: loaded.state.deny });
          p.health.ok('off (--prefilter-device is empty)');
          return;
        }
        const opts = (name: string): OpenMapOptions => ({
          backend: p.maps.backend,
          pinDir: p.maps.pinDir,
          maxEntries: p.config.prefilterMapMax,
          log: (msg) => p.logger.info({ map: name }, msg),
        });
        const v4 = openMap(CIDR_V4_MAP, opts(CIDR_V4_MAP.name)).enableEvents();
        let m: DenyMaps;
        try {
          m = { v4, v6: openMap(CIDR_V6_MAP, opts(CIDR_V6_MAP.name)).enableEvents() };
        } catch (e) {
          v4.close();
          throw e;
        }
        try {
          const initial = loaded.state ?? { revision: FIRST_REVISION, deny: fromMaps(m, p.logger) };
          const l = new DenyList({
            maps: m,
            save: persist,
            maxEntries: p.config.prefilterMapMax,
            initial,
          });
          const counts = l.counts();
          for (const [family, n] of Object.entries(counts)) {
            if (n > p.config.prefilterMapMax) {
              throw new Error(
                `the deny list holds ${n} ${family} CIDRs, more than --prefilter-map-max=${p.config.prefilterMapMax}`,
              );
            }
          }
          const { added, removed } = sync(m, l.snapshot().deny);
          if (added + removed > 0) {
            p.logger.info({ added, removed }, 'deny maps brought in line with the saved deny list');
          }
          attached = kernel
            ? attachXdp({
                objectPath: p.config.bpfXdpObject,
                device,
                ifindex,
                mode: p.config.prefilterMode,
                maps: [m.v4.raw, m.v6.raw, p.maps.metrics.raw, ...p.monitor.programMaps()],
                previous,
              })
            : undefined;
          persist(l.snapshot());
          list = l;
        } catch (e) {
          // Not recorded anywhere (the state could not be saved): take the program off again.
          if (attached) {
            try {
              detachObsolete(attached, undefined);
            } catch (err) {
              p.logger.error({ err }, 'cannot detach the prefilter program after a failed start');
            }
            attached = undefined;
          }
          m.v4.close();
          m.v6.close();
          throw new Error(`prefilter on ${device}: ${errorMessage(e)}`);
        }
        maps = m;
        p.registry.add(m.v4);
        p.registry.add(m.v6);
        if (attached)
          p.logger.info(
            { device, mode: attached.mode, progId: attached.progId },
            'prefilter attached',
          );
        report(startProblem);
      },
      onStop: () => {
        // The program stays attached and the maps pinned: filtering goes on without the agent.
        for (const m of [maps?.v4, maps?.v6]) {
          if (!m) continue;
          p.registry.remove(m.name);
          m.close();
        }
        maps = undefined;
        list = undefined;
        if (device !== '') p.health.stopped('agent stopped; the XDP program stays attached');
      },
    },
    'prefilter',
  );

  const live = (): DenyList => {
    if (!list) throw new Error('the prefilter has not started');
    return list;
  };
  return {
    disabled: device === '' ? DISABLED : undefined,
    snapshot: () => list?.snapshot(),
    add: (revision, cidrs) => {
      const s = live().add(revision, cidrs);
      report(startProblem);
      return s;
    },
    remove: (revision, cidrs) => {
      const s = live().remove(revision, cidrs);
      report(startProblem);
      return s;
    },
  };
}
