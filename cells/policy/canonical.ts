// A rule as the agent stores and shows it: Cilium's rule JSON with everything its manifest
// implied written out (the namespace requirement in each selector, the derived labels, explicit
// label sources), so parsing it again as a bare rule gives the same rule.
import { labelObjects } from './rule-labels.js';
import type { PeerRule, Rule } from './rules.js';
import type { Selector } from './selector.js';

type Json = Record<string, unknown>;

/** A compiled selector as a label selector with explicit sources (`any:app`, `k8s:app`). */
export function selectorJson(sel: Selector): Json {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: Json[] = [];
  for (const r of sel.requirements) {
    const key = `${r.source}:${r.key}`;
    const only = r.values[0];
    if (r.op === 'In' && r.values.length === 1 && only !== undefined && !(key in matchLabels)) {
      matchLabels[key] = only;
      continue;
    }
    matchExpressions.push(
      r.op === 'In' || r.op === 'NotIn'
        ? { key, operator: r.op, values: [...r.values] }
        : { key, operator: r.op },
    );
  }
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}

function peerJson(pr: PeerRule, dir: 'from' | 'to'): Json {
  const out: Json = {};
  if (pr.endpoints.length > 0) out[`${dir}Endpoints`] = pr.endpoints.map(selectorJson);
  if (pr.cidrs.length > 0) {
    out[`${dir}CIDRSet`] = pr.cidrs.map((c) =>
      c.except.length > 0 ? { cidr: c.cidr, except: [...c.except] } : { cidr: c.cidr },
    );
  }
  if (pr.entities.length > 0) out[`${dir}Entities`] = [...pr.entities];
  if (pr.ports.length > 0) {
    out.toPorts = [
      {
        ports: pr.ports.map((p) => ({
          port: String(p.port),
          ...(p.port > 0 && p.endPort !== p.port ? { endPort: p.endPort } : {}),
          protocol: p.protocol,
        })),
      },
    ];
  }
  if (pr.icmps.length > 0) {
    out.icmps = [{ fields: pr.icmps.map((i) => ({ family: i.family, type: i.type })) }];
  }
  return out;
}

/** A rule as stored on disk and shown by GET /v1/policy. */
export function canonicalRule(rule: Rule): Json {
  const out: Json = {};
  if (rule.endpointSelector) out.endpointSelector = selectorJson(rule.endpointSelector);
  if (rule.nodeSelector) out.nodeSelector = selectorJson(rule.nodeSelector);
  if (rule.ingress.length > 0) out.ingress = rule.ingress.map((p) => peerJson(p, 'from'));
  if (rule.ingressDeny.length > 0)
    out.ingressDeny = rule.ingressDeny.map((p) => peerJson(p, 'from'));
  if (rule.egress.length > 0) out.egress = rule.egress.map((p) => peerJson(p, 'to'));
  if (rule.egressDeny.length > 0) out.egressDeny = rule.egressDeny.map((p) => peerJson(p, 'to'));
  if (!rule.enableDefaultDeny.ingress || !rule.enableDefaultDeny.egress) {
    out.enableDefaultDeny = { ...rule.enableDefaultDeny };
  }
  out.labels = labelObjects(rule.labels);
  if (rule.description !== '') out.description = rule.description;
  return out;
}
