export { policyCell, Policy, PolicyTable } from './cell.js';
export { PolicyConfig } from './config.js';
export type { EndpointPolicy } from './table.js';
export { parseRules, PolicyError, type Rule } from './rules.js';
export { decide, type Peer, type Verdict } from './verdict.js';
