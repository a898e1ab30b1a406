// The policy repository (Cilium's Repository): the imported rules, in import order, with the
// revision every change bumps. Changes are all or nothing and durable before they count: the
// new set is written to <state-dir>/policy/rules.json (atomically, fsynced) and only then
// replaces the old one; a write that fails leaves the repository as it was.
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { Subject, type Observable } from 'rxjs';
import { mkdirDurable, readStateFile, writeFileAtomic } from '../../core/atomic-file.js';
import { canonicalRule } from './canonical.js';
import { compileRule, type CompiledRule } from './mapstate.js';
import { labelsMatch, MAX_RULES, parseRuleObjects, type Rule } from './rules.js';

/** A rule in the repository. */
export interface StoredRule {
  readonly compiled: CompiledRule;
  /** Its canonical JSON (what is stored and shown). */
  readonly json: Record<string, unknown>;
  /** That JSON as text, made once (every change writes every rule). */
  readonly text: string;
  /**
   * The object the rule was made from (`NetworkPolicy/<ns>/<name>`...), for rules the Kubernetes
   * watchers own (replaced and removed with their object); undefined for the API's rules.
   */
  readonly resource?: string;
}

/** The outcome of a change. */
export interface RepoChange {
  readonly revision: number;
  readonly added: readonly StoredRule[];
  readonly removed: readonly StoredRule[];
}

/** What the state file holds. */
interface StateFile {
  readonly version: 1;
  readonly revision: number;
  readonly rules: readonly unknown[];
  readonly cidrIdentities: Readonly<Record<string, number>>;
  /** Each rule's owning resource (null: the API's), when any rule has one. */
  readonly resources?: readonly (string | null)[];
}

const MAX_STATE_BYTES = 256 * 1024 * 1024;

/** A change the repository refuses (the client's to fix: a 400). */
export class PolicyLimitError extends Error {
  override name = 'PolicyLimitError';
}

/** Why the state file could not be used (the agent starts without its rules and says so). */
export class PolicyStateError extends Error {
  override name = 'PolicyStateError';
}

/** How to replace rules when adding. */
export interface AddOptions {
  /** Remove rules whose labels equal a new rule's labels (Cilium's `replace`). */
  readonly replace?: boolean;
  /** Remove rules carrying all of these labels. */
  readonly replaceWithLabels?: readonly string[];
}

function stored(rule: Rule, resource?: string): StoredRule {
  const json = canonicalRule(rule);
  return {
    compiled: compileRule(rule),
    json,
    text: JSON.stringify(json),
    ...(resource === undefined ? {} : { resource }),
  };
}

function sameLabels(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((l) => s.has(l));
}

/** The rules, their revision, and the CIDR identities they were given (kept with them). */
export class Repository {
  private list: StoredRule[] = [];
  private rev = 1;
  /** CIDR prefix -> local identity, persisted with the rules so ids survive restarts. */
  cidrIdentities: Record<string, number> = {};
  private readonly path: string;
  private readonly changed = new Subject<RepoChange>();
  /** Each change once it is durable (the monitor's policy notifications observe it). */
  readonly changes$: Observable<RepoChange> = this.changed.asObservable();

  constructor(private readonly dir: string) {
    this.path = join(dir, 'rules.json');
  }

  get revision(): number {
    return this.rev;
  }

  rules(): readonly StoredRule[] {
    return this.list;
  }

  /** Rules carrying every label of `labels` (all rules for none). */
  search(labels: readonly string[]): StoredRule[] {
    return this.list.filter((r) => labelsMatch(r.compiled.rule.labels, labels));
  }

  /** Reads the state file; a missing file is an empty repository. Throws PolicyStateError. */
  load(): void {
    // Only a file that is not there at all means no policy: a dangling symlink, or a path
    // through something that is not a directory, is a state that cannot be read.
    try {
      lstatSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new PolicyStateError(
        `${this.path} cannot be read: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    let state: { [K in keyof StateFile]?: unknown } | null;
    try {
      state = JSON.parse(readStateFile(this.path, MAX_STATE_BYTES)) as
        | {
            [K in keyof StateFile]?: unknown;
          }
        | null;
    } catch (e) {
      throw new PolicyStateError(
        `${this.path} cannot be read: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    if (
      typeof state !== 'object' ||
      state === null ||
      state.version !== 1 ||
      typeof state.revision !== 'number' ||
      !Number.isSafeInteger(state.revision) ||
      state.revision < 1 ||
      !Array.isArray(state.rules) ||
      typeof state.cidrIdentities !== 'object' ||
      state.cidrIdentities === null
    ) {
      throw new PolicyStateError(`${this.path} is not a policy state file of this agent`);
    }
    let rules: Rule[];
    try {
      rules = parseRuleObjects(state.rules);
    } catch (e) {
      throw new PolicyStateError(
        `${this.path} holds an invalid rule: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    const cidr: Record<string, number> = {};
    for (const [prefix, id] of Object.entries(state.cidrIdentities as Record<string, unknown>)) {
      if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 1 << 24 && id < 2 ** 32) {
        cidr[prefix] = id;
      }
    }
    // Owners of rules written by an older agent (no `resources`) are unknown: the API's.
    const owners = Array.isArray(state.resources) ? (state.resources as unknown[]) : [];
    this.list = rules.map((r, i) => {
      const owner = owners[i];
      return stored(r, typeof owner === 'string' ? owner : undefined);
    });
    this.rev = state.revision;
    this.cidrIdentities = cidr;
  }

  /** Adds rules (after removing those they replace); durable before it returns. */
  add(rules: readonly Rule[], opts: AddOptions = {}): RepoChange {
    const added = rules.map((r) => stored(r));
    // Rules a Kubernetes object owns are replaced with that object only: an API import that
    // removed one would leave the object in the cluster without its rule until it changes.
    const removed = this.list.filter(
      (r) =>
        r.resource === undefined &&
        ((opts.replace === true &&
          rules.some((n) => sameLabels(n.labels, r.compiled.rule.labels))) ||
          (opts.replaceWithLabels !== undefined &&
            opts.replaceWithLabels.length > 0 &&
            labelsMatch(r.compiled.rule.labels, opts.replaceWithLabels))),
    );
    return this.replace(added, removed);
  }

  /** The resources (owners) of the rules, each with the rules it owns. */
  resources(): Map<string, StoredRule[]> {
    const out = new Map<string, StoredRule[]>();
    for (const r of this.list) {
      if (r.resource === undefined) continue;
      const have = out.get(r.resource);
      if (have) have.push(r);
      else out.set(r.resource, [r]);
    }
    return out;
  }

  /**
   * Replaces the rules of each resource in `changes` by its new rules (none: the resource's rules
   * go), in one durable change: a batch of Kubernetes objects is one write of the state file.
   */
  replaceResources(changes: ReadonlyMap<string, readonly Rule[]>): RepoChange {
    const removed = this.list.filter((r) => r.resource !== undefined && changes.has(r.resource));
    const added = [...changes].flatMap(([res, rules]) => rules.map((r) => stored(r, res)));
    return this.replace(added, removed);
  }

  private replace(added: StoredRule[], removed: StoredRule[]): RepoChange {
    const gone = new Set(removed);
    const next = [...this.list.filter((r) => !gone.has(r)), ...added];
    if (next.length > MAX_RULES) {
      throw new PolicyLimitError(
        `the repository would hold ${next.length} rules, more than ${MAX_RULES}: delete or replace some first`,
      );
    }
    // What is acknowledged must load again at restart: the stored form is read back now.
    try {
      parseRuleObjects(added.map((r) => r.json));
    } catch (e) {
      throw new PolicyLimitError(
        `its stored form would not load again: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    return this.commit(next, added, removed);
  }

  /**
   * Deletes the API's rules carrying every label of `labels` (all of them for none); rules a
   * Kubernetes object owns stay (they go with their object).
   */
  delete(labels: readonly string[]): RepoChange {
    const removed = this.search(labels).filter((r) => r.resource === undefined);
    const gone = new Set(removed);
    return this.commit(
      this.list.filter((r) => !gone.has(r)),
      [],
      removed,
    );
  }

  /** Writes the CIDR identities out with the rules (after an allocation). */
  saveIdentities(cidr: Record<string, number>): void {
    this.write(this.list, this.rev, cidr);
    this.cidrIdentities = cidr;
  }

  private commit(next: StoredRule[], added: StoredRule[], removed: StoredRule[]): RepoChange {
    const rev = this.rev + 1;
    this.write(next, rev, this.cidrIdentities);
    this.list = next;
    this.rev = rev;
    const change = { revision: rev, added, removed };
    this.changed.next(change);
    return change;
  }

  private write(
    rules: readonly StoredRule[],
    revision: number,
    cidr: Record<string, number>,
  ): void {
    mkdirDurable(this.dir);
    // The StateFile's JSON, each rule's text as it was made once.
    const head = JSON.stringify({ version: 1, revision, cidrIdentities: cidr }).slice(0, -1);
    const owned = rules.some((r) => r.resource !== undefined);
    const owners = owned
      ? `,"resources":${JSON.stringify(rules.map((r) => r.resource ?? null))}`
      : '';
    const text = `${head}${owners},"rules":[${rules.map((r) => r.text).join(',')}]}\n`;
    if (text.length > MAX_STATE_BYTES / 4) {
      throw new PolicyLimitError(
        `the stored policy would take ${text.length} bytes, more than ${MAX_STATE_BYTES / 4}: delete or replace rules first`,
      );
    }
    writeFileAtomic(this.path, text);
  }
}
