import {
  config,
  Health,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  provide,
} from '../../core/hive/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { DatapathMaps, Maps } from '../maps/index.js';
import { ctFlags, CtConfig } from './config.js';
import { CtMaps, newCtMaps } from './ctmaps.js';
import { CtGc, newCtGc } from './collector.js';

/** Connection tracking: the CT and NAT maps the datapath keeps flows in, and their GC. */
export const conntrackCell = module(
  'conntrack',
  'Connection tracking maps and their garbage collection',
  // --bpf-ct-global-tcp-max, --bpf-ct-global-any-max, --bpf-nat-global-max, --conntrack-gc-*
  config(CtConfig, ctFlags),
  // cellium_ct{4,6}_global, cellium_ct_any{4,6}_global, cellium_snat_v{4,6}_external.
  provide(
    CtMaps,
    {
      config: CtConfig,
      daemon: DaemonConfig,
      maps: DatapathMaps,
      registry: Maps,
      lifecycle: Lifecycle,
      logger: Logger,
      health: Health,
    },
    ({ daemon, ...p }) => newCtMaps({ ...p, ratio: daemon.bpfMapDynamicSizeRatio }),
  ),
  // The GC job: expired flows out, at an interval that adapts; figures in health.
  provide(
    CtGc,
    { config: CtConfig, maps: CtMaps, jobs: Jobs, health: Health, logger: Logger },
    newCtGc,
  ),
  // /debuginfo: the last GC run.
  invoke('status', { status: StatusContributors, gc: CtGc }, ({ status, gc }) => {
    status.add({
      debug: (d) => {
        d.subsystem = { ...d.subsystem, conntrack: gc.describe() };
      },
    });
  }),
);
