// Connection collision (RFC 4271 §6.8) made deterministic with a raw peer that holds both
// connections open before it sends any OPEN: the higher BGP identifier's connection stays, the
// other gets Cease 7.
import { createServer, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { freePort } from '../../../core/testing/ports.js';
import { encodeKeepalive } from '../wire/index.js';
import { MSG } from '../wire/types.js';
import { neighbor, startSpeaker, until, untilState } from './fixtures.js';
import { RawPeer, rawOpen } from './raw-peer.js';

const PEER = '127.0.0.8';

/** The speaker connects to the raw peer's listener while the raw peer connects to it. */
async function bothWays(speakerId: string) {
  const port = await freePort();
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(port, PEER, resolve));
  onTestFinished(() => {
    server.close();
  });
  const s = await startSpeaker('127.0.0.1', speakerId, () => [neighbor({ address: PEER, port })]);
  const out = RawPeer.accepted(await accepted); // the speaker's outbound connection
  onTestFinished(() => {
    out.socket.destroy();
  });
  const inb = await RawPeer.connect(s.port, PEER); // the peer's, inbound to the speaker
  await out.nextOf(MSG.OPEN);
  await inb.nextOf(MSG.OPEN);
  await until(() => s.speaker.peers()[0]?.state === 'opensent');
  return { s, out, inb };
}

describe('connection collision', () => {
  it('peer with the higher identifier: its connection stays, ours gets Cease 7', async () => {
    const { s, out, inb } = await bothWays('1.1.1.1');
    out.send(rawOpen({ bgpId: '9.9.9.9' }));
    expect(await out.notification()).toEqual({ code: 6, subcode: 7, data: [] });
    inb.send(rawOpen({ bgpId: '9.9.9.9' }));
    await inb.nextOf(MSG.KEEPALIVE);
    inb.send(encodeKeepalive());
    await untilState(s.speaker, PEER, 'established');
    await out.untilClosed();
  });

  it('peer with the lower identifier: our connection stays, its gets Cease 7', async () => {
    const { s, out, inb } = await bothWays('5.5.5.5');
    out.send(rawOpen({ bgpId: '2.2.2.2' }));
    expect(await inb.notification()).toEqual({ code: 6, subcode: 7, data: [] });
    await out.nextOf(MSG.KEEPALIVE);
    out.send(encodeKeepalive());
    await untilState(s.speaker, PEER, 'established');
    await inb.untilClosed();
    expect(s.speaker.peers()[0]?.lastError).toBeUndefined();
  });
});
