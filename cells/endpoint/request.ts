import { ApiError, type Model } from '../../core/api/index.js';
import { formatIp, parseIp } from '../../core/ip.js';
import { statusPending } from '../../core/reconciler/index.js';
import { DEFAULT_ENDPOINT_OPTIONS, type Endpoint } from './model.js';
import { checkInterface, type HostLinks } from './validate.js';

/** Fields a PATCH may not change: they name the endpoint's owner in IPAM. */
const IMMUTABLE = [
  ['container-id', 'containerId'],
  ['k8s-namespace', 'k8sNamespace'],
  ['k8s-pod-name', 'k8sPodName'],
] as const;

/** One spelling per address (`fd00:5:0::1` and `fd00:5::1` are the same IP). */
function canonical(ip: string): string {
  const p = parseIp(ip);
  return p ? formatIp(p.family, p.value) : ip;
}

/**
 * The endpoint a change request describes (on top of `base` for a PATCH): addresses in their
 * canonical form, the host interface checked against the node's devices when it is new.
 */
export function fromRequest(
  links: HostLinks,
  id: number,
  req: Model<'EndpointChangeRequest'>,
  base?: Endpoint,
): Endpoint {
  let ifName = req['interface-name'] ?? base?.ifName ?? '';
  const index = req['interface-index'];
  let ifIndex = index ?? base?.ifIndex ?? 0;
  if (ifName === '') {
    if (index !== undefined && index !== 0) {
      throw new ApiError(400, `interface-index: ${index} is given without an interface-name`);
    }
    ifIndex = 0;
  } else if (ifName !== base?.ifName || (index !== undefined && index !== base.ifIndex)) {
    ({ ifName, ifIndex } = checkInterface(links, ifName, index));
  }
  const ip = (f: 'ipv4' | 'ipv6'): string => {
    const v = req.addressing?.[f];
    return v === undefined ? (base?.[f] ?? '') : v === '' ? '' : canonical(v);
  };
  return {
    id,
    containerId: req['container-id'] ?? base?.containerId ?? '',
    containerName: req['container-name'] ?? base?.containerName ?? '',
    containerInterfaceName: req['container-interface-name'] ?? base?.containerInterfaceName ?? '',
    dockerEndpointId: req['docker-endpoint-id'] ?? base?.dockerEndpointId ?? '',
    cniAttachmentId:
      base?.cniAttachmentId ??
      (req['container-id']
        ? `${req['container-id']}:${req['container-interface-name'] ?? 'eth0'}`
        : ''),
    k8sNamespace: req['k8s-namespace'] ?? base?.k8sNamespace ?? '',
    k8sPodName: req['k8s-pod-name'] ?? base?.k8sPodName ?? '',
    k8sUid: req['k8s-uid'] ?? base?.k8sUid ?? '',
    ...((req.pid ?? base?.pid) ? { pid: req.pid ?? base?.pid } : {}),
    ifName,
    ifIndex,
    mac: req.mac ?? base?.mac ?? '',
    hostMac: req['host-mac'] ?? base?.hostMac ?? '',
    ipv4: ip('ipv4'),
    ipv6: ip('ipv6'),
    labels: req.labels ?? base?.labels ?? [],
    userLabels: base?.userLabels ?? [],
    // What the pod gives the endpoint (Kubernetes mode) is not the request's to change.
    ...(base?.k8sLabels ? { k8sLabels: base.k8sLabels } : {}),
    ...(base?.namedPorts ? { namedPorts: base.namedPorts } : {}),
    identity: base?.identity ?? 0,
    state: base?.state ?? 'waiting-for-identity',
    options: base?.options ?? DEFAULT_ENDPOINT_OPTIONS,
    externalIpam: req['datapath-configuration']?.['external-ipam'] ?? base?.externalIpam ?? false,
    log: base?.log ?? [],
    createdAt: base?.createdAt ?? new Date().toISOString(),
    status: statusPending(),
  };
}

/** Refuses a PATCH of what cannot change on an existing endpoint, naming the field. */
export function checkChange(old: Endpoint, req: Model<'EndpointChangeRequest'>): void {
  for (const [field, key] of IMMUTABLE) {
    const v = req[field];
    if (v !== undefined && v !== old[key]) {
      throw new ApiError(
        400,
        `${field}: cannot change from '${old[key]}' to '${v}' (delete the endpoint and create it again)`,
      );
    }
  }
  const ext = req['datapath-configuration']?.['external-ipam'];
  if (ext !== undefined && ext !== old.externalIpam) {
    throw new ApiError(
      400,
      'datapath-configuration.external-ipam: cannot change on an existing endpoint',
    );
  }
  if (req.id !== undefined && req.id !== 0 && req.id !== old.id) {
    throw new ApiError(400, `id: cannot change endpoint ${old.id}'s id to ${req.id}`);
  }
}
