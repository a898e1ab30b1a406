// The one TCP listener all neighbors share (IPv4 and IPv6 on one dual-stack socket): a
// connection goes to the neighbor configured with its source address, anything else is closed.
import { createServer, type Server, type Socket } from 'node:net';

/**
 * Opens a listener on `port`; `route` gets each accepted socket, `failed` each error after it
 * listens (a failed accept: EMFILE, ENFILE, ENOBUFS; the listener goes on). Resolves once
 * listening.
 */
export async function listen(
  port: number,
  route: (s: Socket) => void,
  failed: (e: Error) => void,
): Promise<Server> {
  let server: Server;
  try {
    server = await bind(port, '::', route);
  } catch (e) {
    // A host without IPv6 (EAFNOSUPPORT, EADDRNOTAVAIL) still has BGP over IPv4.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw e;
    server = await bind(port, '0.0.0.0', route);
  }
  // Without a listener a server's 'error' event throws: one failed accept would end the agent.
  server.on('error', failed);
  return server;
}

function bind(port: number, host: string, route: (s: Socket) => void): Promise<Server> {
  const server = createServer(route);
  return new Promise((resolve, reject) => {
    const refused = (e: Error) => {
      reject(Object.assign(new Error(`bgp listener on port ${port}: ${e.message}`), e));
    };
    server.once('error', refused);
    server.listen({ port, host, ipv6Only: false }, () => {
      server.off('error', refused);
      resolve(server);
    });
  });
}

/** Closes a listener (sessions it accepted are the neighbors' to close). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
