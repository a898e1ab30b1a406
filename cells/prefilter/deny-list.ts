// The deny list and its revision, as Cilium's prefilter keeps them: a change names the revision it
// was based on (0 or none: any), every change bumps the revision, and a change lands whole or not
// at all — in the maps and in the state file — before it is acknowledged.
import { compareCidrs, parseDenyCidr, type DenyCidr } from './cidr.js';
import { eraseCidr, writeCidr, type DenyMaps } from './maps.js';

/** Why a change was refused; `kind` picks the API status. */
export class PrefilterError extends Error {
  override name = 'PrefilterError';

  constructor(
    readonly kind: 'invalid-cidr' | 'stale-revision' | 'not-listed' | 'full' | 'failed',
    message: string,
  ) {
    super(message);
  }
}

/** The list as the API shows it. */
export interface DenySnapshot {
  readonly revision: number;
  /** Canonical CIDRs, IPv4 first, by address. */
  readonly deny: readonly string[];
}

/** What a deny list needs: its maps, where it persists, and the maps' size. */
export interface DenyListParams {
  readonly maps: DenyMaps;
  /** Persists the list (durably) before a change is acknowledged. */
  readonly save: (s: DenySnapshot) => void;
  /** --prefilter-map-max: the most CIDRs per family. */
  readonly maxEntries: number;
  readonly initial: DenySnapshot;
}

function parseAll(cidrs: readonly string[]): DenyCidr[] {
  const out = new Map<string, DenyCidr>();
  for (const [i, raw] of cidrs.entries()) {
    const c = parseDenyCidr(raw);
    if ('problem' in c) {
      throw new PrefilterError('invalid-cidr', `deny[${i}]: invalid CIDR: ${c.problem}`);
    }
    out.set(c.text, c); // duplicates in one request count once
  }
  return [...out.values()];
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The deny list: what the maps hold, with its revision. */
export class DenyList {
  private revision: number;
  private readonly list = new Map<string, DenyCidr>();

  constructor(private readonly p: DenyListParams) {
    this.revision = p.initial.revision;
    for (const c of parseAll(p.initial.deny)) this.list.set(c.text, c);
  }

  /** The current list and revision. */
  snapshot(): DenySnapshot {
    const deny = [...this.list.values()].sort(compareCidrs).map((c) => c.text);
    return { revision: this.revision, deny };
  }

  /** How many CIDRs of each family the list holds. */
  counts(): { ipv4: number; ipv6: number } {
    let ipv4 = 0;
    for (const c of this.list.values()) if (c.family === 'ipv4') ipv4++;
    return { ipv4, ipv6: this.list.size - ipv4 };
  }

  /** Adds CIDRs (already listed ones are fine: the list keeps each once); bumps the revision. */
  add(revision: number | undefined, cidrs: readonly string[]): DenySnapshot {
    const parsed = parseAll(cidrs);
    this.checkRevision(revision);
    const fresh = parsed.filter((c) => !this.list.has(c.text));
    const n = this.counts();
    for (const family of ['ipv4', 'ipv6'] as const) {
      const after = n[family] + fresh.filter((c) => c.family === family).length;
      if (after > this.p.maxEntries) {
        throw new PrefilterError(
          'full',
          `the deny list would hold ${after} ${family === 'ipv4' ? 'IPv4' : 'IPv6'} CIDRs, more than --prefilter-map-max=${this.p.maxEntries}; nothing was changed`,
        );
      }
    }
    const written: DenyCidr[] = [];
    this.change(
      () => {
        for (const c of fresh) {
          writeCidr(this.p.maps, c);
          written.push(c);
        }
      },
      () => {
        for (const c of written) eraseCidr(this.p.maps, c);
      },
      () => {
        for (const c of fresh) this.list.set(c.text, c);
      },
      () => {
        for (const c of fresh) this.list.delete(c.text);
      },
    );
    return this.snapshot();
  }

  /** Removes CIDRs; each must be listed (Cilium refuses the whole change otherwise). */
  remove(revision: number | undefined, cidrs: readonly string[]): DenySnapshot {
    const parsed = parseAll(cidrs);
    this.checkRevision(revision);
    const missing = parsed.find((c) => !this.list.has(c.text));
    if (missing) {
      throw new PrefilterError(
        'not-listed',
        `CIDR ${missing.text} is not in the deny list (revision ${this.revision}); nothing was changed`,
      );
    }
    const erased: DenyCidr[] = [];
    this.change(
      () => {
        for (const c of parsed) {
          eraseCidr(this.p.maps, c);
          erased.push(c);
        }
      },
      () => {
        for (const c of erased) writeCidr(this.p.maps, c);
      },
      () => {
        for (const c of parsed) this.list.delete(c.text);
      },
      () => {
        for (const c of parsed) this.list.set(c.text, c);
      },
    );
    return this.snapshot();
  }

  private checkRevision(revision: number | undefined): void {
    if (revision === undefined || revision === 0 || revision === this.revision) return;
    throw new PrefilterError(
      'stale-revision',
      `the deny list is at revision ${this.revision}, not ${revision}: read it again (GET /v1/prefilter) and retry; nothing was changed`,
    );
  }

  /** Maps first, then the state file; any failure puts the maps and the list back. */
  private change(
    apply: () => void,
    undoMaps: () => void,
    commit: () => void,
    uncommit: () => void,
  ): void {
    try {
      apply();
    } catch (e) {
      this.undo(undoMaps);
      throw new PrefilterError(
        'failed',
        `cannot update the deny maps: ${message(e)}; nothing was changed`,
      );
    }
    commit();
    this.revision++;
    try {
      this.p.save(this.snapshot());
    } catch (e) {
      this.revision--;
      uncommit();
      this.undo(undoMaps);
      throw new PrefilterError(
        'failed',
        `cannot save the deny list: ${message(e)}; nothing was changed`,
      );
    }
  }

  private undo(fn: () => void): void {
    try {
      fn();
    } catch {
      // The map keeps its own last error (map list shows it); the original failure is reported.
    }
  }
}
