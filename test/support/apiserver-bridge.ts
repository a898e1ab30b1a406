// The API server double (on the test's 127.0.0.1) reachable from a node namespace at the URL of
// its kubeconfig: a unix-socket relay on the host side, and in the node namespace a relay that
// listens on the double's port on its own loopback. Shared by the Kubernetes kernel suites.
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { ApiServerDouble } from './apiserver.js';
import { startReady } from './ns-script.js';

// In the node namespace: 127.0.0.1:<port> → the unix socket (argv: port, socket path).
const NS_RELAY = `
const net = require('node:net');
const [port, path] = [Number(process.argv[1]), process.argv[2]];
net.createServer((c) => {
  const u = net.connect(path);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
  c.pipe(u).pipe(c);
}).listen(port, '127.0.0.1', () => console.log('ready'));`;

/**
 * Serves the double on a unix socket in `dir` (closed with the test) and returns what starts the
 * relay inside a node namespace (resolving once it listens).
 */
export async function apiServerBridge(
  api: ApiServerDouble,
  dir: string,
): Promise<(node: string) => Promise<void>> {
  const path = join(dir, 'apiserver.sock');
  const open = new Set<Socket>();
  const server = createServer((c) => {
    const u = netConnect(api.port, '127.0.0.1');
    for (const s of [c, u]) {
      open.add(s);
      s.on('close', () => open.delete(s));
    }
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
    c.pipe(u).pipe(c);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  onTestFinished(async () => {
    for (const s of open) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return (node) => startReady(node, NS_RELAY, [String(api.port), path], 'the API server relay');
}
