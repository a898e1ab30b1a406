export { cgroupCell, Cgroups } from './cell.js';
export { type CgroupRef } from './finder.js';
