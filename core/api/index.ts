export * from './app.js';
export * from './registry.js';
export * from './spec.js';
export * from './types.js';
export * from './validate.js';
export * from './socket-path.js';
export * from './client.js';
export * from './gate.js';
