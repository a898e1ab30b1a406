import { ApiError, type Model } from '../../core/api/index.js';
import type { IdentityAllocator } from '../identity/index.js';
import { matchesLabels } from '../identity/index.js';
import { hostAddressing, type Ipam } from '../ipam/index.js';
import { endpointOptions, securityLabels, type Endpoint } from './model.js';
import type { EndpointPolicyStatus } from './policy-status.js';

function health(ep: Endpoint, policy: EndpointPolicyStatus | undefined): Model<'EndpointHealth'> {
  const overall =
    ep.state === 'ready'
      ? 'OK'
      : ep.state === 'not-ready' || ep.state === 'invalid'
        ? 'Failure'
        : ep.state === 'disconnecting' || ep.state === 'disconnected'
          ? 'Disabled'
          : 'Pending';
  const bpf = ep.status.kind === 'done' ? 'OK' : ep.status.kind === 'error' ? 'Failure' : 'Pending';
  const pol = policy?.get(ep.id)?.health ?? 'OK';
  // A policy that could not be programmed (the previous one still enforced) fails the endpoint.
  const worst = pol === 'Failure' ? 'Failure' : overall;
  return { overallHealth: worst, bpf, policy: pol, connected: ep.state === 'ready' };
}

/** The Endpoint model of the API, fully populated as Cilium's clients expect it. */
export function endpointModel(
  ep: Endpoint,
  ids: IdentityAllocator,
  ipam: Ipam,
  policy?: EndpointPolicyStatus,
): Model<'Endpoint'> {
  const ident = ids.get(ep.identity);
  const security = securityLabels(ep);
  const realizedPolicy: Model<'EndpointPolicy'> = {
    // Without a policy cell: what the last regeneration realized (see the README).
    'policy-revision': ep.policyRevision ?? 0,
    id: ep.identity,
    'policy-enabled': 'none',
    build: 0,
    'allowed-ingress-identities': [],
    'allowed-egress-identities': [],
    'denied-ingress-identities': [],
    'denied-egress-identities': [],
    l4: { ingress: [], egress: [] },
    'cidr-policy': { ingress: [], egress: [] },
  };
  const pol = policy?.get(ep.id);
  return {
    id: ep.id,
    spec: {
      options: endpointOptions(ep).options,
      'label-configuration': { user: [...ep.userLabels] },
    },
    status: {
      'external-identifiers': {
        'container-id': ep.containerId,
        'container-name': ep.containerName,
        'cni-attachment-id': ep.cniAttachmentId,
        'docker-endpoint-id': ep.dockerEndpointId,
        'pod-name': ep.k8sPodName ? `${ep.k8sNamespace}/${ep.k8sPodName}` : '',
        'k8s-pod-name': ep.k8sPodName,
        'k8s-namespace': ep.k8sNamespace,
      },
      identity: {
        id: ep.identity,
        labels: [...(ident?.labels ?? security)],
        labelsSHA256: ident?.labelsSHA256 ?? '',
      },
      labels: {
        realized: { user: [...ep.userLabels] },
        'security-relevant': security,
        derived: [...ep.labels],
        disabled: [],
      },
      realized: {
        options: endpointOptions(ep).options,
        'label-configuration': { user: [...ep.userLabels] },
      },
      networking: {
        addressing: [
          { ...(ep.ipv4 ? { ipv4: ep.ipv4 } : {}), ...(ep.ipv6 ? { ipv6: ep.ipv6 } : {}) },
        ],
        'host-addressing': hostAddressing(ipam),
        mac: ep.mac,
        'host-mac': ep.hostMac,
        'interface-name': ep.ifName,
        'interface-index': ep.ifIndex,
        'container-interface-name': ep.containerInterfaceName,
      },
      policy: {
        spec: pol
          ? structuredClone(pol.spec)
          : { ...realizedPolicy, 'policy-revision': ep.revision ?? ep.policyRevision ?? 0 },
        realized: structuredClone(pol ? pol.realized : realizedPolicy),
        'proxy-policy-revision': 0,
        'proxy-statistics': [],
      },
      log: ep.log.slice(-1).map((l) => ({ ...l })),
      controllers: [],
      state: ep.state,
      health: health(ep, policy),
      namedPorts: (ep.namedPorts ?? []).map((p) => ({ ...p })),
    },
  };
}

/** GET /v1/endpoint: endpoints whose labels contain the given ones. */
export function filterEndpoints(
  eps: readonly Endpoint[],
  labels: readonly string[] | undefined,
): Endpoint[] {
  if (!labels || labels.length === 0) return [...eps];
  const hit = eps.filter((ep) => matchesLabels(securityLabels(ep), labels));
  if (hit.length === 0)
    throw new ApiError(404, `no endpoint has the labels ${JSON.stringify(labels)}`);
  return hit;
}

/** GET /v1/endpoint/{id}/healthz. */
export function endpointHealth(
  ep: Endpoint,
  policy?: EndpointPolicyStatus,
): Model<'EndpointHealth'> {
  return health(ep, policy);
}
