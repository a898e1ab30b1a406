export { statedbCell, StateDB } from './cell.js';
