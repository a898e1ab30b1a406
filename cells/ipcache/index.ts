export { ipcacheCell } from './cell.js';
export {
  IpcacheTable,
  normalizePrefix,
  within,
  type IpcacheEntry,
  type IpcacheSource,
} from './table.js';
export { IpcacheWriter, type IpcacheUpsert } from './writer.js';
