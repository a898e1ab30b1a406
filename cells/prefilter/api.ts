// GET, PATCH and DELETE /v1/prefilter: 461 for a CIDR that is not one (as Cilium); a stale
// revision is a 409 and deleting a CIDR that is not listed a 404, where Cilium answers 500: they
// are the client's mistakes, and its clients treat any failure status alike.
import { ApiError, type Model } from '../../core/api/index.js';
import { PrefilterError, type DenySnapshot } from './deny-list.js';
import type { Prefilter } from './prefilter.js';

const STATUS: Record<PrefilterError['kind'], number> = {
  'invalid-cidr': 461,
  'stale-revision': 409,
  'not-listed': 404,
  // More than --prefilter-map-max allows: the request asks for what the agent is set to refuse.
  full: 400,
  failed: 500,
};

/**
 * The CIDRs a change names; none is a 400: an empty change would only bump the revision and
 * make every other client's next change a conflict.
 */
export function cidrsOf(spec: Model<'PrefilterSpec'>): string[] {
  const deny = spec.deny ?? [];
  if (deny.length === 0) throw new ApiError(400, 'deny: name at least one CIDR');
  return deny;
}

/** The Prefilter model of a list: spec and realized are the same (changes land whole). */
export function prefilterModel(s: DenySnapshot): Model<'Prefilter'> {
  const spec = { revision: s.revision, deny: [...s.deny] };
  return { spec, status: { realized: { revision: s.revision, deny: [...s.deny] } } };
}

/** Runs `fn` on the prefilter, answering 501 while it is off and 503 before it has started. */
export function withPrefilter(
  pf: Prefilter,
  fn: () => DenySnapshot | undefined,
): Model<'Prefilter'> {
  if (pf.disabled !== undefined) throw new ApiError(501, pf.disabled);
  if (pf.snapshot() === undefined) {
    throw new ApiError(
      503,
      'the prefilter is not running (starting or stopping): its deny list is not loaded',
      {
        'Retry-After': '1',
      },
    );
  }
  try {
    const s = fn();
    if (!s) throw new Error('the prefilter has stopped');
    return prefilterModel(s);
  } catch (e) {
    if (e instanceof PrefilterError) throw new ApiError(STATUS[e.kind], e.message);
    throw e;
  }
}
