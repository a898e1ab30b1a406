import { createServer } from 'node:net';

/**
 * A TCP port free on 127.0.0.1 now (the kernel picks it): tests never use fixed ports. Another
 * process could take it before it is used; the kernel hands out ports in turn, so that is rare.
 */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  const addr = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  if (addr === null || typeof addr !== 'object') throw new Error('no port from the kernel');
  return addr.port;
}
