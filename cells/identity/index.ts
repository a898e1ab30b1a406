export { identityCell } from './cell.js';
export {
  IdentityAllocator,
  IdentityError,
  IdentityLabelsError,
  IdentityUnavailableError,
  type Identity,
  type IdentityChange,
} from './allocator.js';
export { RESERVED, normalizeLabels, matchesLabels } from './labels.js';
