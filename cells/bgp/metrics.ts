// The bgp cell's metrics, read from the speaker at scrape time (Cilium has no BGP metrics in v1;
// the names follow GoBGP's exporter: a session state gauge and route counts per neighbor).
import type { Metrics } from '../metrics/index.js';
import type { BgpControlPlane } from './control-plane.js';
import type { SessionState } from './speaker/types.js';

const STATES: readonly SessionState[] = [
  'idle',
  'connect',
  'active',
  'opensent',
  'openconfirm',
  'established',
];

/** Registers cellium_bgp_session_state and cellium_bgp_{advertised,received}_routes. */
export function registerBgpMetrics(metrics: Metrics, cp: BgpControlPlane): void {
  metrics.gaugeFrom({
    name: 'cellium_bgp_session_state',
    help: 'BGP session state per neighbor: 1 for the state the session is in, 0 for the others',
    labelNames: ['neighbor', 'peer_asn', 'local_asn', 'state'],
    read: () =>
      (cp.speaker()?.peers() ?? []).flatMap((p) =>
        STATES.map(
          (s) =>
            [
              {
                neighbor: p.config.address,
                peer_asn: p.config.peerAsn,
                local_asn: p.config.localAsn,
                state: s,
              },
              p.state === s ? 1 : 0,
            ] as const,
        ),
      ),
  });
  for (const [name, help, pick] of [
    [
      'cellium_bgp_advertised_routes',
      'Routes advertised to a BGP neighbor, per family',
      'advertised',
    ],
    ['cellium_bgp_received_routes', 'Routes received from a BGP neighbor, per family', 'received'],
  ] as const) {
    metrics.gaugeFrom({
      name,
      help,
      labelNames: ['neighbor', 'family'],
      read: () =>
        (cp.speaker()?.peers() ?? []).flatMap((p) =>
          p.families.map(
            (f) => [{ neighbor: p.config.address, family: f.family }, f[pick]] as const,
          ),
        ),
    });
  }
}
