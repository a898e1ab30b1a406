export { cgroupCell, Cgroups } from './cell.js';
export { CgroupConfig } from './config.js';
export { type CgroupRef } from './finder.js';
