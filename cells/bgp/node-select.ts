// Which virtual routers this node runs: those of the policies whose nodeSelector selects its
// labels, merged. Cilium refuses more than one policy per node; Cellium merges them as long as
// they do not both define a router with the same local ASN or peer with the same address.
import { selects } from './label-selector.js';
import { checkUniquePeers, type PeeringPolicy, type VirtualRouter } from './policy-file.js';
import { PolicyFileError } from './policy-error.js';

/** The node label embedded mode gives the node (Kubernetes' well-known hostname label). */
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/** The virtual routers of the policies selecting a node with these labels. */
export function routersForNode(
  policies: readonly PeeringPolicy[],
  labels: Readonly<Record<string, string>>,
  file: string,
): VirtualRouter[] {
  const byAsn = new Map<number, VirtualRouter>();
  for (const p of policies) {
    if (p.nodeSelector && !selects(p.nodeSelector, labels)) continue;
    for (const r of p.virtualRouters) {
      const prev = byAsn.get(r.localAsn);
      if (prev) {
        throw new PolicyFileError(
          { file, object: `CiliumBGPPeeringPolicy ${p.name}` },
          'spec.virtualRouters.localASN',
          `${r.localAsn} is also a virtual router of ${prev.policy}, which selects this node too (one policy per router)`,
        );
      }
      byAsn.set(r.localAsn, r);
    }
  }
  const routers = [...byAsn.values()].sort((a, b) => a.localAsn - b.localAsn);
  checkUniquePeers(routers, { file, object: 'the policies selecting this node' });
  return routers;
}
