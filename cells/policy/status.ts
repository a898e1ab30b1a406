import type { Model } from '../../core/api/index.js';
import type { EndpointPolicyState } from '../endpoint/index.js';
import type { EndpointPolicy } from './table.js';

function enabled(row: EndpointPolicy): Model<'EndpointPolicyEnabled'> {
  if (row.ingress && row.egress) return 'both';
  if (row.ingress) return 'ingress';
  return row.egress ? 'egress' : 'none';
}

function identities(row: EndpointPolicy, dir: 0 | 1, deny: boolean): number[] {
  const out = new Set<number>();
  for (const e of row.entries.values()) if (e.dir === dir && e.deny === deny) out.add(e.id);
  return [...out].sort((a, b) => a - b);
}

/** The Endpoint model's policy section for an endpoint's row (none yet: nothing realized). */
export function endpointPolicyState(
  row: EndpointPolicy | undefined,
  identity: number,
  revisions: {
    realizedRevision(row: EndpointPolicy): number;
    specRevision(row: EndpointPolicy): number;
  },
): EndpointPolicyState {
  const empty = { ingress: [], egress: [] };
  if (!row) {
    const none: Model<'EndpointPolicy'> = {
      'policy-revision': 0,
      id: identity,
      'policy-enabled': 'none',
      build: 0,
      'allowed-ingress-identities': [],
      'allowed-egress-identities': [],
      'denied-ingress-identities': [],
      'denied-egress-identities': [],
      l4: empty,
      'cidr-policy': empty,
    };
    return { spec: none, realized: none, health: 'Pending' };
  }
  const specRev = revisions.specRevision(row);
  const realizedRev = revisions.realizedRevision(row);
  const spec: Model<'EndpointPolicy'> = {
    'policy-revision': specRev,
    id: row.identity,
    'policy-enabled': enabled(row),
    build: specRev,
    'allowed-ingress-identities': identities(row, 0, false),
    'allowed-egress-identities': identities(row, 1, false),
    'denied-ingress-identities': identities(row, 0, true),
    'denied-egress-identities': identities(row, 1, true),
    l4: empty,
    'cidr-policy': empty,
  };
  return {
    spec,
    realized: { ...spec, 'policy-revision': realizedRev, build: realizedRev },
    health: row.status.kind === 'done' ? 'OK' : row.status.kind === 'error' ? 'Failure' : 'Pending',
  };
}
