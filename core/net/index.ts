export * from './link.js';
export * from './netlink.js';
export * from './socket.js';
