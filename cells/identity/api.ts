import { ApiError, shown, type Model } from '../../core/api/index.js';
import type { Identity, IdentityAllocator } from './allocator.js';
import { matchesLabels } from './labels.js';

/** An identity as the API shows it. */
export function identityModel(i: Identity): Model<'Identity'> {
  return { id: i.id, labels: [...i.labels], labelsSHA256: i.labelsSHA256 };
}

/** GET /v1/identity: every identity, or those whose labels contain all of `labels`. */
export function listIdentities(
  a: IdentityAllocator,
  labels: readonly string[] | undefined,
): Model<'Identity'>[] {
  const all = a
    .list()
    .filter((i) => !labels || labels.length === 0 || matchesLabels(i.labels, labels));
  if (all.length === 0)
    throw new ApiError(404, `no identity has the labels ${JSON.stringify(labels)}`);
  return all.map(identityModel);
}

/** GET /v1/identity/{id}. */
export function getIdentity(a: IdentityAllocator, raw: string): Model<'Identity'> {
  if (!/^\d+$/.test(raw)) throw new ApiError(400, `id: ${shown(raw)} is not a numeric identity`);
  const i = a.get(Number(raw));
  if (!i) throw new ApiError(404, `identity ${raw} not found`);
  return identityModel(i);
}

/** GET /v1/identity/endpoints: identities local endpoints use, with their reference counts. */
export function identityEndpoints(a: IdentityAllocator): Model<'IdentityEndpoints'>[] {
  return a
    .list()
    .filter((i) => a.refCount(i.id) > 0)
    .map((i) => ({ identity: identityModel(i), refCount: a.refCount(i.id) }));
}
