export * from './table.js';
export * from './txn.js';
