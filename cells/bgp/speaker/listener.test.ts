// The shared listener: an accept that fails once it listens (EMFILE when the process is out of
// descriptors) is reported and the listener goes on; unhandled, a server's 'error' event throws.
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { freePort } from '../../../core/testing/ports.js';
import { neighbor, startSpeaker, testLog, until, untilState } from './fixtures.js';
import { closeServer, listen } from './listener.js';
import { newSpeaker } from './speaker.js';

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

  it('a taken listen port: the sessions this node opens still come up', async () => {
    const NODE = '127.0.0.25';
    const ROUTER = '127.0.0.26';
    const router = await startSpeaker(ROUTER, '2.2.2.2', () => [
      neighbor({ address: NODE, port: 179, passive: true, localAsn: 65000, peerAsn: 65001 }),
    ]);
    // Another daemon holds the port the node would listen on.
    const port = await freePort();
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(port, '::', r));
    const node = newSpeaker({ restarting: false, log: testLog('node') });
    onTestFinished(() => node.stop({ graceful: false }));
    const config = {
      routerId: '1.1.1.1',
      listenPort: port,
      neighbors: [neighbor({ address: ROUTER, port: router.port, localAddress: NODE })],
    };
    await expect(node.apply(config)).rejects.toThrow(/EADDRINUSE/);
    // Before: nothing applied, no session at all until the port was free.
    await untilState(node, ROUTER, 'established');
    await closeServer(squatter);
    await node.apply(config); // the listener now
  });
});
