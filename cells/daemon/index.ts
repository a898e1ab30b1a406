export { agentHealthCell, daemonCell } from './cell.js';
export { AgentHealthConfig } from './agent-health.js';
export { DaemonConfig } from './config.js';
export { StatusProbes, type StatusProbe } from './probes.js';
export { AgentStatus, StatusContributors, type StatusContribution } from './status.js';
