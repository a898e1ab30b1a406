export * from './table.js';
export * from './txn.js';
export * from './wait.js';
