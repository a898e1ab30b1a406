// The peering policy file (--bgp-config): CiliumBGPPeeringPolicy objects (v2alpha1, plus
// `passive`) parsed and validated whole. Defaults are Cilium's; every refusal names the file,
// the object and the field.
import { parseAllDocuments } from 'yaml';
import { parseSelector, type LabelSelector } from './label-selector.js';
import {
  bool,
  fieldsOf,
  int,
  list,
  MAX_ASN,
  PolicyFileError,
  strings,
  type Where,
} from './policy-error.js';
import { neighbor, type Neighbor } from './policy-neighbor.js';

export type { Neighbor, PathAttributesRule } from './policy-neighbor.js';

/** Which service addresses a virtual router advertises. */
export type ServiceAdvertisement = 'LoadBalancerIP' | 'ExternalIP' | 'ClusterIP';

/** A virtual router: one local ASN, what it exports and to whom. */
export interface VirtualRouter {
  /** The policy it comes from (for errors and route policies). */
  readonly policy: string;
  readonly localAsn: number;
  readonly exportPodCidr: boolean;
  /** Undefined: no service is advertised. */
  readonly serviceSelector?: LabelSelector;
  readonly serviceAdvertisements: readonly ServiceAdvertisement[];
  readonly neighbors: readonly Neighbor[];
}

/** A CiliumBGPPeeringPolicy. */
export interface PeeringPolicy {
  readonly name: string;
  /** Undefined: every node. */
  readonly nodeSelector?: LabelSelector;
  readonly virtualRouters: readonly VirtualRouter[];
}

const SERVICE_ADS: readonly ServiceAdvertisement[] = ['LoadBalancerIP', 'ExternalIP', 'ClusterIP'];
const ROUTER_FIELDS = [
  'localASN',
  'exportPodCIDR',
  'podIPPoolSelector',
  'serviceSelector',
  'serviceAdvertisements',
  'neighbors',
];

function virtualRouter(v: unknown, w: Where, field: string, policy: string): VirtualRouter {
  const o = fieldsOf(v, w, field, ROUTER_FIELDS);
  if (o.podIPPoolSelector != null) {
    throw new PolicyFileError(
      w,
      `${field}.podIPPoolSelector`,
      'multi-pool IPAM is not supported: use exportPodCIDR',
    );
  }
  const localAsn = int(o.localASN, w, `${field}.localASN`, 1, MAX_ASN);
  const ads =
    o.serviceAdvertisements == null
      ? ['LoadBalancerIP']
      : strings(o.serviceAdvertisements, w, `${field}.serviceAdvertisements`);
  ads.forEach((a, i) => {
    if (!(SERVICE_ADS as readonly string[]).includes(a)) {
      throw new PolicyFileError(
        w,
        `${field}.serviceAdvertisements[${i}]`,
        `'${a}' is not one of ${SERVICE_ADS.join(', ')}`,
      );
    }
  });
  const neighbors = list(o.neighbors, w, `${field}.neighbors`).map((n, i) =>
    neighbor(n, w, `${field}.neighbors[${i}]`, localAsn),
  );
  const selector =
    o.serviceSelector == null
      ? undefined
      : parseSelector(o.serviceSelector, w, `${field}.serviceSelector`);
  return {
    policy,
    localAsn,
    exportPodCidr: bool(o.exportPodCIDR, w, `${field}.exportPodCIDR`),
    ...(selector ? { serviceSelector: selector } : {}),
    serviceAdvertisements: [...new Set(ads as ServiceAdvertisement[])],
    neighbors,
  };
}

function policyObject(doc: unknown, file: string, index: number): PeeringPolicy {
  let w: Where = { file, object: `object ${index + 1}` };
  const o = fieldsOf(doc, w, '', ['apiVersion', 'kind', 'metadata', 'spec']);
  if (o.kind === 'CiliumLoadBalancerIPPool') {
    throw new PolicyFileError(
      w,
      'kind',
      'CiliumLoadBalancerIPPool is not supported: Cellium has no LB IP pools (services bring their LoadBalancer IPs)',
    );
  }
  if (o.kind !== 'CiliumBGPPeeringPolicy') {
    throw new PolicyFileError(w, 'kind', `${JSON.stringify(o.kind)} is not CiliumBGPPeeringPolicy`);
  }
  if (o.apiVersion !== undefined && o.apiVersion !== 'cilium.io/v2alpha1') {
    throw new PolicyFileError(
      w,
      'apiVersion',
      `${JSON.stringify(o.apiVersion)} is not cilium.io/v2alpha1`,
    );
  }
  const meta = fieldsOf(o.metadata, w, 'metadata');
  if (typeof meta.name !== 'string' || meta.name === '') {
    throw new PolicyFileError(w, 'metadata.name', 'is required');
  }
  const name = meta.name;
  w = { file, object: `CiliumBGPPeeringPolicy ${name}` };
  const spec = fieldsOf(o.spec, w, 'spec', ['nodeSelector', 'virtualRouters']);
  const nodeSelector =
    spec.nodeSelector == null
      ? undefined
      : parseSelector(spec.nodeSelector, w, 'spec.nodeSelector');
  const routers = list(spec.virtualRouters, w, 'spec.virtualRouters').map((r, i) =>
    virtualRouter(r, w, `spec.virtualRouters[${i}]`, name),
  );
  const asns = new Set<number>();
  routers.forEach((r, i) => {
    if (asns.has(r.localAsn)) {
      throw new PolicyFileError(
        w,
        `spec.virtualRouters[${i}].localASN`,
        `${r.localAsn} is used by another virtual router`,
      );
    }
    asns.add(r.localAsn);
  });
  checkUniquePeers(routers, w);
  return { name, ...(nodeSelector ? { nodeSelector } : {}), virtualRouters: routers };
}

/** Refuses a peer address configured twice (the speaker has one session per address). */
export function checkUniquePeers(routers: readonly VirtualRouter[], w: Where): void {
  const seen = new Map<string, string>();
  for (const r of routers) {
    for (const n of r.neighbors) {
      const where = `virtual router ${r.localAsn} of ${r.policy}`;
      const prev = seen.get(n.session.address);
      if (prev !== undefined) {
        throw new PolicyFileError(
          w,
          'peerAddress',
          `${n.session.address} is a neighbor of both ${prev} and ${where}`,
        );
      }
      seen.set(n.session.address, where);
    }
  }
}

/** Parses a policy file's text: one object, several YAML documents, or a `kind: List`. */
export function parsePolicyFile(text: string, file: string): PeeringPolicy[] {
  const docs = parseAllDocuments(text);
  const objects: unknown[] = [];
  for (const [i, d] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    if (d.errors.length > 0) {
      throw new PolicyFileError(
        { file, object: `document ${i + 1}` },
        '',
        `not JSON or YAML: ${d.errors[0]?.message.split('\n')[0] ?? ''}`,
      );
    }
    let v: unknown;
    try {
      v = d.toJS();
    } catch (e) {
      // An alias bomb ("Excessive alias count ..."): the file and document are named too.
      throw new PolicyFileError({ file, object: `document ${i + 1}` }, '', (e as Error).message);
    }
    if (v === null || v === undefined) continue;
    const items =
      (v as { kind?: unknown; items?: unknown }).kind === 'List'
        ? (v as { items?: unknown }).items
        : [v];
    if (!Array.isArray(items))
      throw new PolicyFileError({ file, object: `document ${i + 1}` }, 'items', 'must be a list');
    objects.push(...(items as unknown[]));
  }
  const policies = objects.map((o, i) => policyObject(o, file, i));
  const names = new Set<string>();
  for (const p of policies) {
    if (names.has(p.name))
      throw new PolicyFileError(
        { file, object: `CiliumBGPPeeringPolicy ${p.name}` },
        'metadata.name',
        'is used by another policy',
      );
    names.add(p.name);
  }
  return policies;
}
