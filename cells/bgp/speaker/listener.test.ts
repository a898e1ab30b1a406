// The shared listener: an accept that fails once it listens (EMFILE when the process is out of
// descriptors) is reported and the listener goes on; unhandled, a server's 'error' event throws.
import { connect, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { until } from './fixtures.js';
import { closeServer, listen } from './listener.js';

describe('the listener', () => {
  it('reports a failed accept and keeps accepting', async () => {
    const failed: string[] = [];
    const accepted: Socket[] = [];
    const server = await listen(
      0,
      (s) => accepted.push(s),
      (e) => failed.push(e.message),
    );
    onTestFinished(() => closeServer(server));
    // What node:net does when accept(2) fails (lib/net.js onconnection); twice: before, the
    // first went to the bind's leftover once-handler and the second threw.
    for (let i = 0; i < 2; i++) {
      server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
    }
    expect(failed).toEqual(['accept EMFILE', 'accept EMFILE']);
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const c = connect({ host: '127.0.0.1', port });
    onTestFinished(() => {
      c.destroy();
    });
    await until(() => accepted.length === 1);
    for (const s of accepted) s.destroy();
  });
});
