export { apiCell, ApiRoutes } from './cell.js';
export { ApiServer } from './server.js';
export { ApiConfig } from './config.js';
export { SOCKET_MODE } from './socket.js';
export { ApiError, type ApiRequest, type ApiReply, type Model } from '../../core/api/index.js';
