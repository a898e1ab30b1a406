// What the monitor adds to the daemon's answers: /healthz and /config nodeMonitor (the ring's
// pages, events lost, records not understood) and /debuginfo's `policy-drops` (the last drops).
import type { Model } from '../../core/api/index.js';
import type { StatusContribution } from '../daemon/index.js';
import { summary } from './format.js';
import type { Monitor } from './monitor.js';

/** Drops /debuginfo lists. */
export const DEBUG_DROPS = 50;

function nodeMonitor(m: Monitor, base: Model<'MonitorStatus'> | undefined): Model<'MonitorStatus'> {
  const n = m.counts();
  const page = base?.pagesize ?? 4096;
  return {
    ...(base ?? { cpus: 0, pagesize: page }),
    npages: Math.ceil(n.ringBytes / page),
    lost: n.lost,
    unknown: n.unknown,
  };
}

/** The monitor's contribution to /healthz, /config and /debuginfo. */
export function monitorStatus(m: Monitor): StatusContribution {
  return {
    status: (s) => {
      s.nodeMonitor = nodeMonitor(m, s.nodeMonitor);
    },
    config: (c) => {
      c.nodeMonitor = nodeMonitor(m, c.nodeMonitor);
    },
    debug: (d) => {
      const last = m
        .recentDrops()
        .slice(-DEBUG_DROPS)
        .map((e) => summary(e));
      d.subsystem = { ...d.subsystem, 'policy-drops': last.join('\n') };
    },
  };
}
