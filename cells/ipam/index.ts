export { ipamCell } from './cell.js';
export { IpamConfig } from './config.js';
export { Ipam } from './ipam.js';
export { IpamError, type Allocation } from './pool.js';
export { hostAddressing, IPAM_STATUS } from './api.js';
export { checkCidr, checkIp, podCidrProblem } from './k8s-cidrs.js';
