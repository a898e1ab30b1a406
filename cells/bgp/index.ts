export { bgpCell, BgpControlPlane, BgpSpeakerFactory } from './cell.js';
export { BgpConfig } from './config.js';
export { BGP_DISABLED } from './control-plane.js';
export { parsePolicyFile, type PeeringPolicy, type VirtualRouter } from './policy-file.js';
export type * from './speaker/types.js';
