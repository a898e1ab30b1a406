export * from './operations.js';
export * from './reconciler.js';
