export * from './link.js';
export * from './netlink.js';
export * from './socket.js';
export * from './netns.js';
export * from './ops.js';
export * from './pod-link.js';
export * from './undo.js';
