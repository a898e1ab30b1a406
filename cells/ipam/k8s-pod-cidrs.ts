// IPAM mode `kubernetes` (Cilium's name): this node's pod CIDRs are its Node object's
// spec.podCIDRs, one per enabled family, as the controller-manager assigned them. Until the Node
// is there with them, IPAM waits and says what for; once taken they are kept for the life of the
// process (as in Cilium, a new podCIDR needs an agent restart), and a change is only reported.
import type { Subscription } from 'rxjs';
import type { Health, Logger } from '../../core/hive/index.js';
import type { Family } from '../../core/ip.js';
import type { K8sResource, Node } from '../k8s/index.js';
import { checkCidr, podCidrProblem } from './k8s-cidrs.js';

/** What the pod CIDR source needs. */
export interface K8sPodCidrsParams {
  readonly nodes: K8sResource<Node>;
  readonly nodeName: string;
  readonly families: readonly Family[];
  readonly health: Health;
  readonly logger: Logger;
  /** Called once, with a CIDR for each family; returns why they cannot be used, if so. */
  readonly take: (cidrs: ReadonlyMap<Family, string>) => string | undefined;
}

/** The pod CIDRs of a Node object per family, or why they cannot be taken (yet). */
export function podCidrsOf(
  node: Node | undefined,
  name: string,
  families: readonly Family[],
): { readonly cidrs: ReadonlyMap<Family, string> } | { readonly waiting: string } {
  if (!node) return { waiting: `waiting for the Node ${name}` };
  const spec: unknown = node.spec;
  const sp = (typeof spec === 'object' && spec !== null ? spec : {}) as {
    podCIDRs?: unknown;
    podCIDR?: unknown;
  };
  const listed: unknown =
    sp.podCIDRs ?? (typeof sp.podCIDR === 'string' && sp.podCIDR !== '' ? [sp.podCIDR] : []);
  if (!Array.isArray(listed)) return { waiting: `Node ${name}: spec.podCIDRs is not a list` };
  const cidrs = new Map<Family, string>();
  const problems: string[] = [];
  for (const [i, c] of listed.entries()) {
    const r = checkCidr(c);
    const bad = 'problem' in r ? r.problem : podCidrProblem(r.family, r.cidr);
    if (bad !== undefined) problems.push(`spec.podCIDRs.${i}: ${bad}`);
    else if (!('problem' in r) && !cidrs.has(r.family)) cidrs.set(r.family, r.cidr);
  }
  const missing = families.filter((f) => !cidrs.has(f));
  if (missing.length > 0) {
    const what = missing.map((f) => (f === 'ipv4' ? 'IPv4' : 'IPv6')).join(' and ');
    const bad = problems.length > 0 ? ` (${problems.join('; ')})` : '';
    return { waiting: `waiting for podCIDRs of node ${name}: no ${what} pod CIDR yet${bad}` };
  }
  return { cidrs: new Map(families.map((f) => [f, cidrs.get(f) ?? ''])) };
}

/** Follows this node's Node object until its pod CIDRs are taken, then watches for changes. */
export class K8sPodCidrs {
  private sub?: Subscription;
  private taken?: ReadonlyMap<Family, string>;
  private lastWaiting?: string;
  private lastChange?: string;
  /** Where a podCIDR change is reported (the IPAM's own health says how full the pools are). */
  private readonly changes: Health;

  constructor(private readonly p: K8sPodCidrsParams) {
    this.changes = p.health.scope('podcidrs');
  }

  /** Why the pools are not there yet, or undefined once they are. */
  waiting(): string | undefined {
    return this.taken
      ? undefined
      : (this.lastWaiting ?? `waiting for podCIDRs of node ${this.p.nodeName}`);
  }

  /** Looks at the Node now and after each change of the Node table. */
  start(): void {
    this.check();
    this.sub = this.p.nodes.table.observe().subscribe(() => this.check());
  }

  /** Stops following the Node table. */
  stop(): void {
    this.sub?.unsubscribe();
  }

  private check(): void {
    const node = this.p.nodes.table.get(this.p.nodes.table.db.readTxn(), this.p.nodeName);
    const r = podCidrsOf(node, this.p.nodeName, this.p.families);
    if (this.taken) {
      this.compare(r);
      return;
    }
    if ('waiting' in r) {
      if (r.waiting !== this.lastWaiting) this.p.logger.info(r.waiting);
      this.lastWaiting = r.waiting;
      this.p.health.ok(r.waiting);
      return;
    }
    const problem = this.p.take(r.cidrs);
    if (problem !== undefined) {
      this.lastWaiting = `podCIDRs of node ${this.p.nodeName} cannot be used: ${problem}`;
      this.p.logger.warn(this.lastWaiting);
      this.p.health.degraded(this.lastWaiting);
      return;
    }
    this.taken = r.cidrs;
    this.changes.ok(`pod CIDRs ${[...r.cidrs.values()].join(', ')} from Node ${this.p.nodeName}`);
    this.p.logger.info({ podCIDRs: [...r.cidrs.values()] }, 'pod CIDRs taken from the Node');
  }

  /** A podCIDR change while running is reported, never applied: allocations stay where they are. */
  private compare(r: ReturnType<typeof podCidrsOf>): void {
    const now = 'cidrs' in r ? [...r.cidrs.values()].join(', ') : r.waiting;
    const had = [...(this.taken?.values() ?? [])].join(', ');
    if (now === had) {
      if (this.lastChange !== undefined) {
        this.changes.ok(`pod CIDRs ${had} from Node ${this.p.nodeName}`);
      }
      this.lastChange = undefined;
      return;
    }
    if (now === this.lastChange) return;
    this.lastChange = now;
    const msg = `the podCIDRs of Node ${this.p.nodeName} changed (now: ${now}); this agent keeps allocating from ${had} until it is restarted`;
    this.p.logger.warn(msg);
    this.changes.degraded(msg);
  }
}
