// A table row as the API shows it (RibRoute), built when asked for: encoding every route's
// attributes up front would cost the 10,000-prefix tables for nothing.
import { encodeAttrs } from '../wire/index.js';
import type { Family, PathAttrs, WireContext } from '../wire/types.js';
import { encodeNlri } from './routes.js';
import type { RibRoute } from './types.js';

/** One route of an adj-RIB as GET /bgp/routes shows it. */
export function ribRoute(
  family: Family,
  prefix: string,
  nextHop: string,
  attrs: PathAttrs,
  ctx: WireContext,
  best: boolean,
  stale: boolean,
  since: number,
): RibRoute {
  const v4 = family === 'ipv4-unicast';
  const full: PathAttrs = v4 ? { ...attrs, nextHop } : attrs;
  const encodedAttrs = v4
    ? encodeAttrs(full, ctx)
    : encodeAttrs(full, ctx, { family, nextHops: [nextHop], nlri: [prefix] });
  return {
    family,
    prefix,
    nextHop,
    attrs: full,
    encodedAttrs,
    encodedNlri: encodeNlri(prefix),
    best,
    stale,
    since,
  };
}
