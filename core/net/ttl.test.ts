import { connect, createServer, Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { getSocketTtl, setSocketTtl } from './ttl.js';

/** A connected TCP client on loopback (IPv4 or IPv6), closed when the test ends. */
async function connected(
  host: string,
  listenHost = host,
): Promise<{ client: Socket; accepted: Socket }> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
  const addr = server.address();
  if (addr === null || typeof addr !== 'object') throw new Error('no address');
  const client = connect({ host, port: addr.port });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const a = await accepted;
  onTestFinished(() => {
    client.destroy();
    a.destroy();
    server.close();
  });
  return { client, accepted: a };
}

describe('setSocketTtl', () => {
  it('sets the TTL of an IPv4 connection, on either end', async () => {
    const { client, accepted } = await connected('127.0.0.1');
    const before = getSocketTtl(client);
    setSocketTtl(client, before === 7 ? 9 : 7);
    expect(getSocketTtl(client)).toBe(before === 7 ? 9 : 7);
    setSocketTtl(accepted, 255);
    expect(getSocketTtl(accepted)).toBe(255);
  });

  it('sets the hop limit of an IPv6 connection, and the TTL of a v4-mapped one', async () => {
    const v6 = await connected('::1').catch(() => undefined);
    if (!v6) return; // a host without IPv6 loopback: nothing to check
    setSocketTtl(v6.client, 17);
    expect(getSocketTtl(v6.client, 'ipv6')).toBe(17);
    // A dual-stack listener's IPv4 peer: an IPv6 socket that sends IPv4 packets.
    const mapped = await connected('127.0.0.1', '::');
    setSocketTtl(mapped.accepted, 5);
    expect(getSocketTtl(mapped.accepted)).toBe(5);
    expect(getSocketTtl(mapped.accepted, 'ipv6')).toBe(5);
  });

  it('refuses a TTL out of range and a socket without fd', () => {
    const s = new Socket();
    expect(() => setSocketTtl(s, 0)).toThrow(/TTL 0 is not 1..255/);
    expect(() => setSocketTtl(s, 256)).toThrow(/TTL 256/);
    expect(() => setSocketTtl(s, 1)).toThrow(/no file descriptor/);
  });
});
