// The agent's BGP configuration for tests and the benchmark (no vitest here): the
// CiliumBGPPeeringPolicy file of cells/bgp/README.md and LoadBalancer services for its selector.

/** One neighbor of the agent's virtual router. */
export interface AgentNeighbor {
  readonly address: string;
  readonly asn: number;
  readonly port?: number;
  readonly passive?: boolean;
  readonly holdSec?: number;
  readonly keepaliveSec?: number;
  readonly connectRetrySec?: number;
  /** Graceful restart with this restart time; off when undefined. */
  readonly gracefulRestartSec?: number;
}

/** What the agent is started with. */
export interface BgpAgentOptions {
  readonly localAsn: number;
  readonly neighbors: readonly AgentNeighbor[];
  /** --bgp-listen-port (0: none). */
  readonly listenPort: number;
  /** --ipv4-node / --ipv6-node: the next hops it announces. */
  readonly nodeV4: string;
  readonly nodeV6?: string;
  /** Its pod CIDRs (--ipv4-range, --ipv6-range), announced with exportPodCIDR. */
  readonly podV4: string;
  readonly podV6?: string;
  /** serviceSelector.matchLabels (absent: no service is announced). */
  readonly serviceLabels?: Readonly<Record<string, string>>;
  /** More flags (e.g. --bpf-backend=memory). */
  readonly args?: readonly string[];
}

/** The CiliumBGPPeeringPolicy (JSON) for `o`. */
export function bgpPolicy(o: BgpAgentOptions): string {
  return JSON.stringify({
    apiVersion: 'cilium.io/v2alpha1',
    kind: 'CiliumBGPPeeringPolicy',
    metadata: { name: 'interop' },
    spec: {
      virtualRouters: [
        {
          localASN: o.localAsn,
          exportPodCIDR: true,
          ...(o.serviceLabels ? { serviceSelector: { matchLabels: o.serviceLabels } } : {}),
          neighbors: o.neighbors.map((n) => ({
            peerAddress: n.address.includes(':') ? `${n.address}/128` : `${n.address}/32`,
            peerASN: n.asn,
            peerPort: n.port ?? 179,
            passive: n.passive === true,
            holdTimeSeconds: n.holdSec ?? 90,
            keepAliveTimeSeconds: n.keepaliveSec ?? Math.max(1, Math.floor((n.holdSec ?? 90) / 3)),
            connectRetryTimeSeconds: n.connectRetrySec ?? 1,
            gracefulRestart:
              n.gracefulRestartSec === undefined
                ? { enabled: false }
                : { enabled: true, restartTimeSeconds: n.gracefulRestartSec },
            families: [
              { afi: 'ipv4', safi: 'unicast' },
              { afi: 'ipv6', safi: 'unicast' },
            ],
          })),
        },
      ],
    },
  });
}

/** PUT /service/{id}'s body: a LoadBalancer frontend :80 with one backend, named for selectors. */
export function lbServiceSpec(s: {
  readonly id: number;
  readonly ip: string;
  readonly name: string;
  readonly namespace: string;
  readonly backend: string;
}): object {
  return {
    id: s.id,
    'frontend-address': { ip: s.ip, port: 80, protocol: 'tcp', scope: 'external' },
    'backend-addresses': [{ ip: s.backend, port: 8080 }],
    flags: { type: 'LoadBalancer', name: s.name, namespace: s.namespace },
  };
}
