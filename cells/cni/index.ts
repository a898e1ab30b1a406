export {
  cmdAdd,
  cmdCheck,
  cmdDel,
  cmdStatus,
  CniError,
  SUPPORTED_VERSIONS,
  type CniInput,
} from './plugin.js';
