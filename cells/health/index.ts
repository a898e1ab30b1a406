export { healthCell, HealthChecker, HealthProbes } from './cell.js';
export { HealthConfig } from './config.js';
export {
  failures,
  nodeReachable,
  Prober,
  type ProbeFn,
  type ProbeRound,
  type Probes,
} from './prober.js';
export type { HealthService } from './service.js';
