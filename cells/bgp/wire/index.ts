// The BGP-4 codec: framing, decoding (never throws; RFC 7606), encoding and UPDATE packing.
export * from './types.js';
export { MessageReader, type ReadResult } from './message-reader.js';
export { decodeMessage } from './decode.js';
export { encodeOpen } from './open.js';
export { encodeKeepalive, encodeNotification, encodeRouteRefresh } from './control.js';
export { encodeUpdate, encodeEndOfRib, endOfRibFamily } from './update.js';
export { packUpdates, packWithdrawals } from './pack.js';
export { encodeAttrs } from './attrs-encode.js';
export { encodePrefix } from './nlri.js';
export { canonicalPrefix } from './addr.js';
export { prefixFamily } from './family.js';
export {
  formatCommunity,
  formatLargeCommunity,
  parseCommunity,
  parseLargeCommunity,
  WELL_KNOWN_COMMUNITIES,
} from './community.js';
