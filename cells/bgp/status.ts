// /v1/healthz `bgp` (Cilium's Status model): Disabled, Ok with the established/configured
// counts, or Warning with why the configuration is not in effect.
import type { Model } from '../../core/api/index.js';
import { peerCounts, type BgpControlPlane } from './control-plane.js';

/** The `bgp` part of /v1/healthz. */
export function bgpStatus(cp: BgpControlPlane): Model<'Status'> {
  if (cp.disabled !== undefined) return { state: 'Disabled', msg: 'Disabled' };
  const sp = cp.speaker();
  if (!sp) return { state: 'Warning', msg: 'the BGP speaker is not running' };
  const counts = peerCounts(sp);
  const problem = cp.problem();
  if (problem !== undefined) return { state: 'Warning', msg: `${counts}; ${problem}` };
  return { state: 'Ok', msg: counts };
}
