// Cilium's policy API: PUT/GET/DELETE /v1/policy, GET /v1/policy/selectors and
// GET /v1/policy/resolve (a trace of the verdict between two label sets).
import { ApiError, type ApiRegistry, type Model } from '../../core/api/index.js';
import { normalizeLabels, RESERVED } from '../identity/index.js';
import type { PolicyEngine } from './engine.js';
import { repoError } from './engine.js';
import type { EnforcementMode } from './mapstate.js';
import { PolicyLimitError, type Repository, type StoredRule } from './repository.js';
import { labelObjects } from './rule-labels.js';
import { parseRules, PolicyError } from './rules.js';
import { decide, type DirectionResult, type L4, type Peer } from './verdict.js';

/** What the policy routes use. */
export interface PolicyRouteDeps {
  readonly routes: ApiRegistry;
  readonly engine: PolicyEngine;
  readonly repo: Repository;
  readonly mode: () => EnforcementMode;
  readonly allowLocalhost: boolean;
  /** Throws when writes are refused (the stored policy is unusable). */
  readonly guard: () => void;
}

function policyJson(rules: readonly StoredRule[]): string {
  return JSON.stringify(
    rules.map((r) => r.json),
    null,
    2,
  );
}

/** A label filter from a body; a blank label is refused (it must never mean "every rule"). */
function labelFilter(body: readonly string[] | undefined, what = 'the body'): string[] {
  const labels = (body ?? []).map((l) => l.trim());
  const blank = labels.findIndex((l) => l === '');
  if (blank >= 0) throw new ApiError(400, `label ${blank} of ${what} is blank`);
  return labels;
}

/** The most labels a trace takes on each side. */
const MAX_TRACE_LABELS = 256;

const PROTOCOLS: Readonly<Record<string, number[]>> = {
  TCP: [6],
  UDP: [17],
  SCTP: [132],
  ICMP: [1],
  ICMPV6: [58],
  ANY: [6, 17, 132],
};

/** GET /v1/policy/resolve: both directions' verdicts for each port, and why. */
export function trace(
  deps: Pick<PolicyRouteDeps, 'repo' | 'mode' | 'allowLocalhost'>,
  sel: Model<'TraceSelector'> | undefined,
): Model<'PolicyTraceResult'> {
  const from = normalizeLabels(sel?.from?.labels ?? []);
  const to = normalizeLabels(sel?.to?.labels ?? []);
  if (from.length > MAX_TRACE_LABELS || to.length > MAX_TRACE_LABELS) {
    throw new ApiError(
      400,
      `a trace takes at most ${MAX_TRACE_LABELS} labels on each side of the body (from.labels, to.labels)`,
    );
  }
  if (from.length === 0 || to.length === 0) {
    throw new ApiError(
      400,
      'a trace needs labels on both sides: the body must give from.labels and to.labels',
    );
  }
  const rules = deps.repo.rules().map((r) => r.compiled.rule);
  const peerOf = (labels: string[]): Peer => {
    const reserved = labels.find((l) => l.startsWith('reserved:'));
    const id = reserved ? (RESERVED as Record<string, number>)[reserved.slice(9)] : undefined;
    return { labels, id: id ?? 0 };
  };
  const ports: L4[] = [];
  for (const p of sel?.to?.dports ?? []) {
    const protos = PROTOCOLS[(p.protocol ?? 'ANY').toUpperCase()] ?? [6, 17, 132];
    for (const proto of protos) ports.push({ proto, port: p.port ?? 0 });
  }
  if (ports.length === 0) ports.push({ proto: 6, port: 0 }, { proto: 17, port: 0 });
  const log: string[] = [`Tracing From: ${JSON.stringify(from)} => To: ${JSON.stringify(to)}`];
  let allowed = true;
  const show = (title: string, r: DirectionResult): void => {
    log.push(title, ...r.log.map((l) => `  ${l}`), `  verdict: ${r.verdict}`);
  };
  for (const l4 of ports) {
    const common = { rules, l4, mode: deps.mode(), allowLocalhost: deps.allowLocalhost };
    const name = `${l4.port}/${Object.keys(PROTOCOLS).find((k) => PROTOCOLS[k]?.[0] === l4.proto && k !== 'ANY') ?? l4.proto}`;
    const eg = decide({ ...common, endpoint: from, peer: peerOf(to), dir: 'egress' });
    const ing = decide({ ...common, endpoint: to, peer: peerOf(from), dir: 'ingress' });
    show(`Egress of the source on ${name}:`, eg);
    show(`Ingress of the destination on ${name}:`, ing);
    if (eg.verdict !== 'allowed' || ing.verdict !== 'allowed') allowed = false;
  }
  const verdict = allowed ? 'allowed' : 'denied';
  log.push(`Final verdict: ${verdict.toUpperCase()}`);
  return { verdict, log: `${log.join('\n')}\n` };
}

/** Registers the policy operations. */
export function registerPolicyRoutes(deps: PolicyRouteDeps): void {
  const { routes, engine, repo } = deps;
  routes.handle(
    'PutPolicy',
    (req) => {
      deps.guard();
      let rules;
      try {
        rules = parseRules(req.body);
      } catch (e) {
        if (e instanceof PolicyError)
          throw new ApiError(400, `invalid policy in the body: ${e.message}`);
        if (e instanceof RangeError) {
          throw new ApiError(400, 'invalid policy in the body: it is nested too deeply');
        }
        throw e;
      }
      if (rules.length === 0)
        throw new ApiError(400, 'invalid policy in the body: it holds no rules');
      const host = rules.findIndex((r) => r.nodeSelector !== undefined);
      if (host >= 0) {
        throw new ApiError(
          400,
          `invalid policy in the body: rule ${host}: nodeSelector: host policies are not enforced by this agent (it has no host firewall), so they are refused rather than stored as if they protected the node`,
        );
      }
      const replaceWithLabels = labelFilter(
        (req.query['replace-with-labels'] ?? []).filter((l) => l.trim() !== ''),
        'replace-with-labels',
      );
      let change;
      try {
        change = engine.add(rules, { replace: req.query.replace === true, replaceWithLabels });
      } catch (e) {
        if (e instanceof PolicyLimitError) {
          throw new ApiError(400, `invalid policy in the body: ${e.message}`);
        }
        throw repoError(e);
      }
      return { status: 200, body: { revision: change.revision, policy: policyJson(change.added) } };
    },
    'policy',
  );
  routes.handle(
    'GetPolicy',
    (req) => {
      deps.guard();
      const labels = labelFilter(req.body);
      const found = repo.search(labels);
      if (labels.length > 0 && found.length === 0) {
        throw new ApiError(404, `no policy rule has the labels ${JSON.stringify(labels)}`);
      }
      return { status: 200, body: { revision: repo.revision, policy: policyJson(found) } };
    },
    'policy',
  );
  routes.handle(
    'DeletePolicy',
    (req) => {
      deps.guard();
      const labels = labelFilter(req.body);
      const found = repo.search(labels);
      if (labels.length > 0 && found.length === 0) {
        throw new ApiError(404, `no policy rule has the labels ${JSON.stringify(labels)}`);
      }
      const owners = [...new Set(found.flatMap((r) => (r.resource ? [r.resource] : [])))];
      if (labels.length > 0 && found.every((r) => r.resource !== undefined)) {
        throw new ApiError(
          403,
          `the rules with the labels ${JSON.stringify(labels)} come from Kubernetes (${owners.slice(0, 3).join(', ')}${owners.length > 3 ? ` and ${owners.length - 3} more` : ''}): the REST API cannot delete them; delete or change the object where it comes from`,
        );
      }
      let out;
      try {
        out = engine.delete(labels);
      } catch (e) {
        throw repoError(e);
      }
      return { status: 200, body: { revision: out.revision, policy: policyJson(repo.rules()) } };
    },
    'policy',
  );
  routes.handle(
    'GetPolicySelectors',
    () => {
      // Each selector's users' labels, gathered in one pass over the rules.
      const users = new Map<string, string[]>();
      for (const r of repo.rules()) {
        for (const sel of r.compiled.selectors) {
          const list = users.get(sel.key);
          if (list) list.push(...r.compiled.rule.labels);
          else users.set(sel.key, [...r.compiled.rule.labels]);
        }
      }
      return {
        status: 200,
        body: engine.cache.list().map((s) => ({
          selector: s.key,
          identities: s.selection.wildcard ? [0] : [...s.selection.ids].sort((a, b) => a - b),
          users: s.users,
          labels: labelObjects(users.get(s.key) ?? []),
        })),
      };
    },
    'policy',
  );
  routes.handle(
    'GetPolicyResolve',
    (req) => {
      deps.guard();
      return { status: 200, body: trace(deps, req.body) };
    },
    'policy',
  );
}
