// Kubernetes Node objects as nodes of the list (source 'k8s'), as Cilium's ParseNode reads them:
// InternalIP/ExternalIP addresses, spec.podCIDRs (else the network.cilium.io/ipvX-pod-cidr
// annotation), the health IPs of the network.cilium.io/ipvX-health-ip annotations. Every value
// comes from the API server and is checked: a bad value is skipped, a node without a usable
// address is skipped whole, each named in health; nothing already listed is lost to a bad object.
import type { Subscription } from 'rxjs';
import type { Health, Logger } from '../../core/hive/index.js';
import { parseIp, type Family } from '../../core/ip.js';
import { checkCidr, checkIp, podCidrProblem } from '../ipam/index.js';
import type { K8sResource, Node } from '../k8s/index.js';
import type { NodeIds } from './ids.js';
import {
  K8S_SOURCE,
  KVSTORE_SOURCE,
  setNodesWithIds,
  STATIC_SOURCE,
  type NodeList,
} from './registry.js';
import type { StaticNode } from './static-nodes.js';

/** Cilium's node annotations (pkg/annotation), each with its older `io.cilium.network.` alias. */
export const NODE_ANNOTATIONS = {
  ipv4PodCidr: ['network.cilium.io/ipv4-pod-cidr', 'io.cilium.network.ipv4-pod-cidr'],
  ipv6PodCidr: ['network.cilium.io/ipv6-pod-cidr', 'io.cilium.network.ipv6-pod-cidr'],
  ipv4HealthIp: ['network.cilium.io/ipv4-health-ip', 'io.cilium.network.ipv4-health-ip'],
  ipv6HealthIp: ['network.cilium.io/ipv6-health-ip', 'io.cilium.network.ipv6-health-ip'],
  ipv4CiliumHost: ['network.cilium.io/ipv4-cilium-host', 'io.cilium.network.ipv4-cilium-host'],
  ipv6CiliumHost: ['network.cilium.io/ipv6-cilium-host', 'io.cilium.network.ipv6-cilium-host'],
} as const;

/** A Node object that gives no usable node (bad name, no valid address). */
export class K8sNodeError extends Error {
  override readonly name = 'K8sNodeError';
}

/** A Node object read: the node, and the values skipped in it (field: reason). */
export interface ParsedK8sNode {
  readonly node: StaticNode;
  readonly skipped: readonly string[];
}

/** A DNS-1123 subdomain, as Kubernetes names nodes. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const shown = (v: unknown): string => {
  // JSON.stringify gives undefined for undefined, whatever its type says.
  const json = (JSON.stringify as (x: unknown) => string | undefined)(v);
  const s = json ?? 'undefined';
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
};

/**
 * Why `ip` cannot be a node's address (it becomes a tunnel endpoint and a remote-node entry of the
 * ipcache): unspecified, loopback, multicast or broadcast; undefined for a unicast address.
 */
function notUnicast(ip: string): string | undefined {
  const p = parseIp(ip);
  if (!p) return 'not an IP address';
  if (p.family === 'ipv4') {
    const first = Number(p.value >> 24n);
    if (first === 0) return 'an unspecified ("this network") address';
    if (first === 127) return 'a loopback address';
    if (first >= 224 && first < 240) return 'a multicast address';
    if (p.value === 0xffffffffn) return 'the broadcast address';
    return undefined;
  }
  if (p.value === 0n) return 'the unspecified address';
  if (p.value === 1n) return 'a loopback address';
  if (p.value >> 120n === 0xffn) return 'a multicast address';
  return undefined;
}

function annotation(o: Node, keys: readonly string[]): [string, unknown] | undefined {
  const a: unknown = o.metadata.annotations;
  if (typeof a !== 'object' || a === null) return undefined;
  for (const k of keys) {
    const v = (a as Record<string, unknown>)[k];
    if (v !== undefined) return [k, v];
  }
  return undefined;
}

/**
 * Reads a Node object as a remote node named `<cluster>/<name>`: its primary address per family
 * is the first valid InternalIP, else ExternalIP (Cilium's choice); pod CIDRs from
 * spec.podCIDRs (spec.podCIDR on older objects), else the pod CIDR annotations, the first of
 * each family; health IPs from the annotations. Throws K8sNodeError when no node can be made.
 */
export function parseK8sNode(o: Node, cluster: string): ParsedK8sNode {
  const name: unknown = o.metadata.name;
  if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    throw new K8sNodeError(`metadata.name: ${shown(name)} is not a node name`);
  }
  const skipped: string[] = [];
  const status: unknown = o.status;
  const addrs: unknown = typeof status === 'object' && status !== null ? o.status?.addresses : [];
  const found: { type: string; ip: string }[] = [];
  if (addrs !== undefined && addrs !== null && !Array.isArray(addrs)) {
    skipped.push('status.addresses: not a list');
  } else {
    for (const [i, a] of (addrs ?? []).entries()) {
      const e = (typeof a === 'object' && a !== null ? a : {}) as {
        type?: unknown;
        address?: unknown;
      };
      if (e.type !== 'InternalIP' && e.type !== 'ExternalIP') continue; // hostnames and the like
      const ip = checkIp(e.address);
      if (ip === undefined) {
        skipped.push(`status.addresses.${i}.address: ${shown(e.address)} is not an IP address`);
        continue;
      }
      const bad = notUnicast(ip);
      if (bad !== undefined) {
        skipped.push(`status.addresses.${i}.address: ${ip} is ${bad}`);
        continue;
      }
      found.push({ type: e.type, ip });
    }
  }
  const primary = (v6: boolean): string | undefined => {
    const fam = found.filter((a) => a.ip.includes(':') === v6);
    return (fam.find((a) => a.type === 'InternalIP') ?? fam[0])?.ip;
  };
  const ipv4 = primary(false);
  const ipv6 = primary(true);
  if (ipv4 === undefined && ipv6 === undefined) {
    const why = skipped.length > 0 ? ` (${skipped.join('; ')})` : '';
    throw new K8sNodeError(`status.addresses: no InternalIP or ExternalIP${why}`);
  }

  const cidrs = new Map<Family, string>();
  const spec: unknown = o.spec;
  const sp = (typeof spec === 'object' && spec !== null ? spec : {}) as {
    podCIDRs?: unknown;
    podCIDR?: unknown;
  };
  const listed: unknown =
    sp.podCIDRs ?? (sp.podCIDR !== undefined && sp.podCIDR !== '' ? [sp.podCIDR] : []);
  if (!Array.isArray(listed)) {
    skipped.push('spec.podCIDRs: not a list');
  } else {
    const field = sp.podCIDRs !== undefined ? 'spec.podCIDRs' : 'spec.podCIDR';
    for (const [i, c] of listed.entries()) {
      const r = checkCidr(c);
      if ('problem' in r) skipped.push(`${field}.${i}: ${r.problem}`);
      else if (podCidrProblem(r.family, r.cidr) !== undefined) {
        skipped.push(`${field}.${i}: ${podCidrProblem(r.family, r.cidr)}`);
      } else if (!cidrs.has(r.family)) cidrs.set(r.family, r.cidr);
    }
  }
  // The annotations Cilium writes stand in for a family spec.podCIDRs does not have.
  for (const [family, keys] of [
    ['ipv4', NODE_ANNOTATIONS.ipv4PodCidr],
    ['ipv6', NODE_ANNOTATIONS.ipv6PodCidr],
  ] as const) {
    if (cidrs.has(family)) continue;
    const a = annotation(o, keys);
    if (!a) continue;
    const r = checkCidr(a[1]);
    if ('problem' in r || r.family !== family) {
      skipped.push(`annotation ${a[0]}: ${'problem' in r ? r.problem : `not an ${family} CIDR`}`);
    } else if (podCidrProblem(family, r.cidr) !== undefined) {
      skipped.push(`annotation ${a[0]}: ${podCidrProblem(family, r.cidr)}`);
    } else cidrs.set(family, r.cidr);
  }
  const health = (family: Family, keys: readonly string[]): string | undefined => {
    const a = annotation(o, keys);
    if (!a) return undefined;
    const ip = checkIp(a[1], family);
    if (ip === undefined) {
      skipped.push(`annotation ${a[0]}: ${shown(a[1])} is not an ${family} address`);
    }
    return ip;
  };
  const healthIpv4 = health('ipv4', NODE_ANNOTATIONS.ipv4HealthIp);
  const healthIpv6 = health('ipv6', NODE_ANNOTATIONS.ipv6HealthIp);
  return {
    node: {
      name: `${cluster}/${name}`,
      ...(ipv4 !== undefined ? { ipv4 } : {}),
      ...(ipv6 !== undefined ? { ipv6 } : {}),
      podCidrs: [...cidrs.values()],
      ...(healthIpv4 !== undefined ? { healthIpv4 } : {}),
      ...(healthIpv6 !== undefined ? { healthIpv6 } : {}),
    },
    skipped,
  };
}

/** What the Kubernetes node source needs. */
export interface K8sNodesParams {
  readonly nodes: K8sResource<Node>;
  readonly list: NodeList;
  readonly ids: NodeIds;
  readonly cluster: string;
  readonly health: Health;
  readonly logger: Logger;
}

/** How many objects health names (the rest are counted). */
const NAMED = 5;

/** Follows the reflected Node table while started: every other Node is a node of the list. */
export class K8sNodes {
  /** The nodes read, by object key. */
  private readonly nodes = new Map<string, StaticNode>();
  /** Per object key: what was skipped (a whole object, or values in it). */
  private readonly notes = new Map<string, string>();
  private idErrors: string[] = [];
  private sub?: Subscription;
  private abort?: AbortController;

  constructor(private readonly p: K8sNodesParams) {}

  /** Reads the table as it is, then each change. */
  start(): void {
    this.abort = new AbortController();
    this.sub = this.p.nodes.table.observe().subscribe((batch) => {
      for (const c of batch) {
        const key = c.object.metadata.name;
        if (c.deleted) {
          this.nodes.delete(key);
          this.notes.delete(key);
        } else this.read(key, c.object);
      }
      this.apply();
    });
    this.p.nodes.waitSynced(this.abort.signal).then(
      () => this.report(),
      () => undefined, // stopped first
    );
    this.report();
  }

  /** Stops following the table; the nodes listed stay until the list goes. */
  stop(): void {
    this.sub?.unsubscribe();
    this.abort?.abort();
    this.p.health.stopped('stopped');
  }

  private read(key: string, o: Node): void {
    let parsed: ParsedK8sNode;
    try {
      parsed = parseK8sNode(o, this.p.cluster);
      const local = new Set(this.p.ids.localIps);
      const n = parsed.node;
      const claimed = [n.ipv4, n.ipv6].filter((ip) => ip !== undefined && local.has(ip));
      if (claimed.length > 0 && n.name !== this.p.list.self) {
        throw new K8sNodeError(`claims this node's IP ${claimed.join(', ')}`);
      }
    } catch (e) {
      if (!(e instanceof K8sNodeError)) throw e;
      this.p.logger.warn({ node: key, reason: e.message }, 'Kubernetes node skipped');
      this.notes.set(key, `skipped: ${e.message}`);
      // A node whose object turned bad is no longer known by its old one.
      this.nodes.delete(key);
      return;
    }
    if (parsed.skipped.length > 0) {
      this.p.logger.warn({ node: key, skipped: parsed.skipped }, 'Kubernetes node values skipped');
      this.notes.set(key, parsed.skipped.join('; '));
    } else this.notes.delete(key);
    this.nodes.set(key, parsed.node);
  }

  private apply(): void {
    if (this.abort?.signal.aborted !== false) return; // stopped (the ids are closed)
    this.idErrors = setNodesWithIds(this.p.list, this.p.ids, K8S_SOURCE, [...this.nodes.values()]);
    this.report();
  }

  private report(): void {
    const others = [...this.nodes.values()].filter((n) => n.name !== this.p.list.self).length;
    const synced = this.p.nodes.synced() ? '' : ' (listing)';
    const shadow = [
      ...this.p.list
        .shadowedBy(K8S_SOURCE, KVSTORE_SOURCE)
        .map((n) => `${n} in both Kubernetes and the kvstore: the kvstore's entries are used`),
      ...this.p.list
        .shadowedBy(STATIC_SOURCE, K8S_SOURCE)
        .map((n) => `${n} in both the nodes file and Kubernetes: Kubernetes' entries are used`),
    ];
    const msg = [`${others} other nodes from Kubernetes${synced}`, ...shadow].join('; ');
    const problems: string[] = [];
    if (this.notes.size > 0) {
      const named = [...this.notes].slice(0, NAMED).map(([k, r]) => `node ${k}: ${r}`);
      const more = this.notes.size > NAMED ? ` and ${this.notes.size - NAMED} more` : '';
      problems.push(`invalid values skipped: ${named.join('; ')}${more}`);
    }
    if (this.idErrors.length > 0) problems.push(`no node id for ${this.idErrors.join('; ')}`);
    if (problems.length > 0) this.p.health.degraded(`${msg}; ${problems.join('; ')}`);
    else this.p.health.ok(msg);
  }
}
