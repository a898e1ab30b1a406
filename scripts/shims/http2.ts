// node:http2 as the agent's bundle sees it (scripts/build.ts): @hono/node-server only asks
// whether a request is an HTTP/2 one, and the agent serves HTTP/1.1 on its unix socket, so it
// never is. Loading the real module is ~8 ms of every start.
export class Http2ServerRequest {}
export class Http2ServerResponse {}
export const constants = { NGHTTP2_NO_ERROR: 0 };
