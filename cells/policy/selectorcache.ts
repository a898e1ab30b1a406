// The selector cache (Cilium's SelectorCache): each distinct peer selector of the rules and the
// identities it selects, kept up to date as identities come and go. An identity added or
// removed is tested against every selector once, and only the selectors it matches change;
// their keys tell the policy engine which endpoints to recompute.
import { RESERVED } from '../identity/index.js';
import { within } from '../ipcache/index.js';
import type { CidrSelector, Entity } from './rules.js';
import { labelIndex, type LabelIndex, type Selector } from './selector.js';

/** An identity as selectors see it. */
export interface IdentityInfo {
  readonly id: number;
  readonly labels: readonly string[];
  /** A local CIDR identity's prefix (normalized). */
  readonly cidr?: string;
}

/** A peer selector of a rule: endpoint labels, a CIDR (with exceptions), or an entity. */
export type PeerSelector =
  | { readonly kind: 'endpoints'; readonly key: string; readonly selector: Selector }
  | { readonly kind: 'cidr'; readonly key: string; readonly cidr: CidrSelector }
  | { readonly kind: 'entity'; readonly key: string; readonly entity: Entity };

/** What a selector selects: every identity (wildcard), or these. */
export interface Selection {
  readonly wildcard: boolean;
  readonly ids: ReadonlySet<number>;
}

const WORLD_IDS: ReadonlySet<number> = new Set([
  RESERVED.world,
  RESERVED['world-ipv4'],
  RESERVED['world-ipv6'],
]);

const ENTITY_ID: Readonly<Partial<Record<Entity, number>>> = {
  host: RESERVED.host,
  'remote-node': RESERVED['remote-node'],
  health: RESERVED.health,
  init: RESERVED.init,
  'kube-apiserver': RESERVED['kube-apiserver'],
  unmanaged: RESERVED.unmanaged,
  ingress: RESERVED.ingress,
};

/** Whether an entity names an identity (`all` is the wildcard and names none in particular). */
export function entitySelects(entity: Entity, ident: IdentityInfo): boolean {
  switch (entity) {
    case 'all':
      return true;
    case 'world':
      return WORLD_IDS.has(ident.id) || ident.cidr !== undefined;
    case 'cluster':
      return ident.cidr === undefined && ident.id !== 0 && !WORLD_IDS.has(ident.id);
    default:
      return ENTITY_ID[entity] === ident.id;
  }
}

/** Whether a CIDR selector names an identity: a CIDR identity inside it, or world for a /0. */
export function cidrSelects(sel: CidrSelector, ident: IdentityInfo): boolean {
  if (ident.cidr !== undefined) {
    return within(ident.cidr, sel.cidr) && !sel.except.some((e) => within(ident.cidr ?? '', e));
  }
  if (!sel.cidr.endsWith('/0')) return false;
  const v6 = sel.cidr.includes(':');
  return (
    ident.id === RESERVED.world ||
    ident.id === (v6 ? RESERVED['world-ipv6'] : RESERVED['world-ipv4'])
  );
}

function isWildcard(p: PeerSelector): boolean {
  return (
    (p.kind === 'endpoints' && p.selector.wildcard) || (p.kind === 'entity' && p.entity === 'all')
  );
}

interface Cached {
  readonly sel: PeerSelector;
  readonly ids: Set<number>;
  users: number;
}

interface Known {
  readonly info: IdentityInfo;
  readonly idx: LabelIndex;
}

/** Selectors and the identities each selects. */
export class SelectorCache {
  private readonly selectors = new Map<string, Cached>();
  private readonly identities = new Map<number, Known>();

  /** Adds or replaces an identity; returns the keys of the selectors whose selection changed. */
  upsertIdentity(info: IdentityInfo): string[] {
    const known = { info, idx: labelIndex(info.labels) };
    this.identities.set(info.id, known);
    const changed: string[] = [];
    for (const [key, c] of this.selectors) {
      const now = this.selects(c.sel, known);
      if (now !== c.ids.has(info.id)) {
        if (now) c.ids.add(info.id);
        else c.ids.delete(info.id);
        changed.push(key);
      }
    }
    return changed;
  }

  /** Forgets an identity; returns the keys of the selectors that had selected it. */
  deleteIdentity(id: number): string[] {
    if (!this.identities.delete(id)) return [];
    const changed: string[] = [];
    for (const [key, c] of this.selectors) if (c.ids.delete(id)) changed.push(key);
    return changed;
  }

  /** Takes a reference on a selector (computing its selection when new). */
  addUser(sel: PeerSelector): void {
    const have = this.selectors.get(sel.key);
    if (have) {
      have.users++;
      return;
    }
    const ids = new Set<number>();
    if (!isWildcard(sel)) {
      for (const k of this.identities.values()) if (this.selects(sel, k)) ids.add(k.info.id);
    }
    this.selectors.set(sel.key, { sel, ids, users: 1 });
  }

  /** Drops a reference; the selector is forgotten with its last user. */
  removeUser(key: string): void {
    const c = this.selectors.get(key);
    if (!c) return;
    if (--c.users <= 0) this.selectors.delete(key);
  }

  /** What a selector selects (nothing when unknown). */
  selection(key: string): Selection {
    const c = this.selectors.get(key);
    if (!c) return { wildcard: false, ids: new Set() };
    return { wildcard: isWildcard(c.sel), ids: c.ids };
  }

  /** Every selector with its selection and users (GET /policy/selectors). */
  list(): { key: string; selection: Selection; users: number }[] {
    return [...this.selectors.entries()]
      .map(([key, c]) => ({ key, selection: this.selection(key), users: c.users }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private selects(sel: PeerSelector, k: Known): boolean {
    switch (sel.kind) {
      case 'endpoints':
        // Endpoint selectors name workloads and the reserved identities of the cluster, never
        // the world (its identities or CIDR ones): entities and CIDRs select those.
        return (
          k.info.cidr === undefined && !WORLD_IDS.has(k.info.id) && sel.selector.matches(k.idx)
        );
      case 'cidr':
        return cidrSelects(sel.cidr, k.info);
      case 'entity':
        return entitySelects(sel.entity, k.info);
    }
  }
}
