export { apiCell, ApiRoutes } from './cell.js';
export { ApiServer } from './server.js';
export { ApiConfig } from './config.js';
export {
  closeServer,
  listenOnSocket,
  listenServer,
  prepareSocketPath,
  removeSocket,
  SOCKET_MODE,
  type SocketFile,
} from './socket.js';
export { ApiError, type ApiRequest, type ApiReply, type Model } from '../../core/api/index.js';
