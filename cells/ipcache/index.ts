export { ipcacheCell } from './cell.js';
export { IpcacheTable, normalizePrefix, type IpcacheEntry, type IpcacheSource } from './table.js';
export { IpcacheWriter, type IpcacheUpsert } from './writer.js';
