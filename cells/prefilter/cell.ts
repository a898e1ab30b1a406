import {
  config,
  Health,
  invoke,
  Lifecycle,
  Logger,
  module,
  provide,
} from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { DaemonConfig } from '../daemon/index.js';
import { DatapathMaps, Maps, MonitorMaps } from '../maps/index.js';
import { cidrsOf, withPrefilter } from './api.js';
import { prefilterFlags, PrefilterConfig } from './config.js';
import { newPrefilter, Prefilter } from './prefilter.js';

/** The XDP prefilter: a deny list of CIDRs dropped on one device before the stack sees them. */
export const prefilterCell = module(
  'prefilter',
  'XDP deny list of CIDRs on one device',
  // --prefilter-device (empty: off), --prefilter-mode, --prefilter-map-max, --bpf-xdp-object
  config(PrefilterConfig, prefilterFlags),
  // cellium_cidr_v{4,6}_dyn opened and brought in line with <state-dir>/prefilter.json at start,
  // bpf_xdp attached; at stop the maps stay pinned and the program attached.
  provide(
    Prefilter,
    {
      config: PrefilterConfig,
      daemon: DaemonConfig,
      maps: DatapathMaps,
      monitor: MonitorMaps,
      registry: Maps,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
    },
    ({ daemon, ...p }) => newPrefilter({ ...p, stateDir: daemon.stateDir }),
  ),
  // GET/PATCH/DELETE /v1/prefilter (501 while off, saying how to turn it on).
  invoke('routes', { routes: ApiRoutes, pf: Prefilter }, ({ routes, pf }) => {
    routes.handle(
      'GetPrefilter',
      () => ({ status: 200, body: withPrefilter(pf, () => pf.snapshot()) }),
      'prefilter',
    );
    routes.handle(
      'PatchPrefilter',
      (req) => ({
        status: 200,
        body: withPrefilter(pf, () => pf.add(req.body.revision, cidrsOf(req.body))),
      }),
      'prefilter',
    );
    routes.handle(
      'DeletePrefilter',
      (req) => ({
        status: 200,
        body: withPrefilter(pf, () => pf.remove(req.body.revision, cidrsOf(req.body))),
      }),
      'prefilter',
    );
  }),
);
