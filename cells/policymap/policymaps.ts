// The policy maps at run time: cellium_policy (an endpoint's host-side ifindex -> its policy map),
// opened at the cell's start beside the agent's maps; each endpoint's own
// cellium_policy_<epid>, opened on demand (its pin reused, entries kept) and pinned, so bpf_lxc
// keeps enforcing every endpoint's policy while the agent restarts.
import { readdirSync } from 'node:fs';
import {
  deleteInnerMap,
  openMap,
  setInnerMap,
  unpin,
  unpinMemoryMap,
  type BpfMap,
  type MapRegistry,
  type RawMap,
} from '../../core/bpf/index.js';
import { token, type Health, type Lifecycle, type Logger } from '../../core/hive/index.js';
import { openOwnedMaps, type DatapathMaps, type OwnedMaps } from '../maps/index.js';
import {
  POLICY_OUTER_MAP,
  policyMapId,
  policyMapSpec,
  type PolicyEntry,
  type PolicyKey,
} from './maps.js';

/** The policy maps, open while the cell runs. */
export interface PolicyMaps {
  readonly running: boolean;
  /** Entries of each endpoint's map at most (--bpf-policy-map-max). */
  readonly maxEntries: number;
  /** What bpf_lxc is loaded with: cellium_policy. Throws while not running. */
  programMaps(): RawMap[];
  /** Endpoint `id`'s map: its pin reopened (entries kept) or a new one pinned. */
  endpointMap(id: number): BpfMap<PolicyKey, PolicyEntry>;
  /** Makes bpf_lxc enforce endpoint `id`'s map for the interface `ifindex` (one atomic update). */
  attach(ifindex: number, id: number): void;
  /** bpf_lxc stops enforcing anything for `ifindex`. */
  detach(ifindex: number): void;
  /** The interfaces cellium_policy names. */
  attached(): number[];
  /** Closes and unpins endpoint `id`'s map (after detach: the datapath may still hold it). */
  remove(id: number): void;
  /** Endpoints with a map pinned (from earlier runs, too). */
  pinned(): number[];
}

/** The policy maps. */
export const PolicyMaps = token<PolicyMaps>('policymap/PolicyMaps');

/** Opens the shared maps at start; endpoints' maps on demand; closes everything (pins kept) at stop. */
export function newPolicyMaps(p: {
  readonly maxEntries: number;
  readonly maps: DatapathMaps;
  readonly registry: MapRegistry;
  readonly lifecycle: Lifecycle;
  readonly logger: Logger;
  readonly health: Health;
}): PolicyMaps {
  let owned: OwnedMaps | undefined;
  const endpoints = new Map<number, BpfMap<PolicyKey, PolicyEntry>>();

  let stopped = false;
  // Opened by the start hook, or earlier by whoever needs them first (bpf_lxc is loaded by the
  // endpoint cell, which may start before this one): never loaded without them.
  const open = (): OwnedMaps => {
    if (owned) return owned;
    if (stopped) throw new Error('the policy maps are closed: the policymap cell has stopped');
    const o = openOwnedMaps({
      ...p,
      specs: [
        // Its inner maps (each endpoint's) are sized by --bpf-policy-map-max; it has one per endpoint.
        { spec: POLICY_OUTER_MAP, innerMaxEntries: p.maxEntries },
      ],
    });
    owned = o;
    return o;
  };
  const outer = (): BpfMap<{ ifindex: number }, { id: number }> => open().get(POLICY_OUTER_MAP);
  const ifKey = (ifindex: number): Buffer => {
    const b = Buffer.alloc(POLICY_OUTER_MAP.key.size);
    POLICY_OUTER_MAP.key.encode({ ifindex }, b);
    return b;
  };
  const closeAll = (): void => {
    for (const m of endpoints.values()) {
      p.registry.remove(m.name);
      m.close();
    }
    endpoints.clear();
    owned?.close();
    owned = undefined;
  };

  p.lifecycle.append(
    {
      onStart: () => {
        stopped = false;
        open();
      },
      onStop: () => {
        stopped = true;
        closeAll();
      },
    },
    'policy-maps',
  );

  return {
    get running() {
      return owned !== undefined;
    },
    maxEntries: p.maxEntries,
    programMaps: () => [outer().raw],
    endpointMap: (id) => {
      outer();
      let m = endpoints.get(id);
      if (m) return m;
      m = openMap(policyMapSpec(id, p.maxEntries), {
        backend: p.maps.backend,
        pinDir: p.maps.pinDir,
        log: (msg, outcome, r) => {
          const fields = { map: m?.name ?? `endpoint ${id}`, outcome };
          if (r.problem === undefined) p.logger.debug(fields, msg);
          else p.logger.warn(fields, `${msg} (sized by --bpf-policy-map-max)`);
        },
      });
      endpoints.set(id, m);
      p.registry.add(m);
      return m;
    },
    attach: (ifindex, id) => {
      const m = endpoints.get(id);
      if (!m) throw new Error(`the policy map of endpoint ${id} is not open`);
      setInnerMap(outer().raw, ifKey(ifindex), m.raw);
    },
    detach: (ifindex) => {
      deleteInnerMap(outer().raw, ifKey(ifindex));
    },
    attached: () => [...outer().keys()].map((k) => k.ifindex),
    remove: (id) => {
      const m =
        endpoints.get(id) ??
        openMap(policyMapSpec(id, p.maxEntries), {
          backend: p.maps.backend,
          pinDir: p.maps.pinDir,
        });
      endpoints.delete(id);
      p.registry.remove(m.name);
      const pin = m.raw.pinPath;
      m.close();
      if (pin !== undefined) {
        if (p.maps.backend === 'kernel') unpin(pin);
        else unpinMemoryMap(pin);
      }
    },
    pinned: () => {
      outer();
      const ids = new Set(endpoints.keys());
      if (p.maps.backend === 'kernel') {
        for (const name of readdirSync(p.maps.pinDir)) {
          const id = policyMapId(name);
          if (id !== undefined) ids.add(id);
        }
      }
      return [...ids].sort((a, b) => a - b);
    },
  };
}
