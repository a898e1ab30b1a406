export { daemonCell } from './cell.js';
export { DaemonConfig } from './config.js';
export { StatusContributors, type StatusContribution } from './status.js';
