// The HTTP/1.1 client of the CLI and CNI plugin: the reply parser fed every way a stream can
// split a reply, and the connection pool against a real unix-socket server that answers with
// hand-written bytes (keep-alive, close, chunked, a reset mid-reply, a missing socket).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplyParser, WireError, WirePool, type WireReply } from './wire.js';

/** Feeds `raw` to a parser in pieces of `step` bytes; the reply and the bytes fed until it came. */
function parse(raw: string, step: number, method = 'GET'): WireReply | undefined {
  const p = new ReplyParser(method);
  const bytes = Buffer.from(raw, 'latin1');
  for (let i = 0; i < bytes.length; i += step) {
    const r = p.feed(bytes.subarray(i, i + step));
    if (r) return r;
  }
  return p.end();
}

const bodyOf = (r: WireReply | undefined): string | undefined => r?.body.toString();

describe('ReplyParser', () => {
  const chunked =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n' +
    '5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: t\r\n\r\n';

  it('reads content-length, chunked and close-delimited bodies, however the bytes arrive', () => {
    for (const step of [1, 2, 3, 7, 1000]) {
      expect(bodyOf(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', step))).toBe(
        'hello',
      );
      const c = parse(chunked, step);
      expect(bodyOf(c)).toBe('hello world!');
      expect(c?.headers).toMatchObject({ 'transfer-encoding': 'chunked', 'x-a': '1, 2' });
      expect(bodyOf(parse('HTTP/1.0 200 OK\r\n\r\nuntil the end', step))).toBe('until the end');
    }
  });

  it('skips interim replies (100, 103) and reads a large body fed in small pieces', () => {
    const interim =
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n' +
      'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok';
    for (const step of [1, 5, 1000]) {
      const r = parse(interim, step);
      expect([r?.status, bodyOf(r)]).toEqual([201, 'ok']);
    }
    const big = Buffer.alloc(8 * 1024 * 1024, 'x');
    const p = new ReplyParser('GET');
    let reply = p.feed(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`));
    for (let i = 0; i < big.length; i += 16 * 1024) reply = p.feed(big.subarray(i, i + 16 * 1024));
    expect(reply?.body.equals(big)).toBe(true);
  });

  it('has no body for HEAD, 204 and 304, and knows when a connection can be reused', () => {
    const p = new ReplyParser('HEAD');
    expect(p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n'))).toMatchObject({
      status: 200,
    });
    expect(p.reusable).toBe(true);
    expect(parse('HTTP/1.1 204 No Content\r\n\r\n', 1)?.status).toBe(204);
    const close = new ReplyParser('GET');
    close.feed(Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'));
    expect(close.reusable).toBe(false);
  });

  it('refuses what is not HTTP/1.1, naming what was wrong (EPROTO)', () => {
    const bad: [string, RegExp][] = [
      ['SSH-2.0-OpenSSH\r\n\r\n', /status line "SSH-2.0-OpenSSH"/],
      ['HTTP/1.1 200 OK\r\nno colon\r\n\r\n', /header line "no colon"/],
      ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /bad content-length "-1"/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size "zz"/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n', /not followed by CRLF/],
    ];
    for (const [raw, why] of bad) {
      let error: unknown;
      try {
        parse(raw, 1000);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(WireError);
      expect((error as WireError).code).toBe('EPROTO');
      expect((error as Error).message).toMatch(why);
    }
    expect(() => new ReplyParser('GET').feed(Buffer.alloc(70 * 1024, 'a'))).toThrow(
      /headers exceed 64 KiB/,
    );
  });
});

describe('WirePool', () => {
  let server: Server | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A server that answers each request (head up to CRLFCRLF) with what `reply` says. */
  async function serve(
    reply: (req: string, conn: number, sock: Socket) => string | undefined,
  ): Promise<{ path: string; connections: () => number }> {
    dir = mkdtempSync(join(tmpdir(), 'cellium-wire-'));
    const path = join(dir, 's.sock');
    let conns = 0;
    server = createServer((sock) => {
      const conn = ++conns;
      let buf = '';
      sock.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
          const head = buf.slice(0, end);
          const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (buf.length < end + 4 + len) return;
          const req = buf.slice(0, end + 4 + len);
          buf = buf.slice(end + 4 + len);
          const out = reply(req, conn, sock);
          if (out !== undefined) sock.write(out);
        }
      });
    });
    await new Promise<void>((r) => server?.listen(path, r));
    return { path, connections: () => conns };
  }

  const ok = (body: string, extra = ''): string =>
    `HTTP/1.1 200 OK\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

  it('keeps a connection alive across requests and sends what it was given', async () => {
    const seen: string[] = [];
    const s = await serve((req, conn) => {
      seen.push(Buffer.from(req, 'latin1').toString('utf8'));
      return ok(`conn ${conn}`);
    });
    const pool = new WirePool(s.path);
    const a = await pool.send({ method: 'GET', path: '/v1/a' });
    const b = await pool.send({
      method: 'PUT',
      path: '/v1/b',
      headers: { 'content-type': 'application/json' },
      body: '{"x":"é"}',
    });
    pool.close();
    expect([bodyOf(a), bodyOf(b)]).toEqual(['conn 1', 'conn 1']);
    expect(s.connections()).toBe(1);
    expect(seen[1]).toBe(
      'PUT /v1/b HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n' +
        'content-length: 10\r\n\r\n{"x":"é"}',
    );
  });

  it('opens a new connection after `connection: close`, a close-delimited reply or an idle close', async () => {
    let n = 0;
    const s = await serve((_req, conn, sock) => {
      n++;
      if (n === 1) return ok('a', 'Connection: close\r\n');
      if (n === 2) {
        sock.end(`HTTP/1.1 200 OK\r\n\r\nb`);
        return undefined;
      }
      if (n === 3) {
        sock.write(ok('c'));
        setImmediate(() => sock.end()); // the agent drops the idle connection
        return undefined;
      }
      return ok(`d on ${conn}`);
    });
    const pool = new WirePool(s.path);
    const got: string[] = [];
    for (let i = 0; i < 3; i++)
      got.push(bodyOf(await pool.send({ method: 'GET', path: '/' })) ?? '');
    await new Promise((r) => setTimeout(r, 20)); // let the idle close arrive
    got.push(bodyOf(await pool.send({ method: 'GET', path: '/' })) ?? '');
    pool.close();
    expect(got).toEqual(['a', 'b', 'c', 'd on 4']);
  });

  it('runs concurrent requests on separate connections', async () => {
    const s = await serve((req, conn) => ok(`${req.split(' ')[1] ?? ''} on ${conn}`));
    const pool = new WirePool(s.path);
    const replies = await Promise.all(
      ['/1', '/2', '/3'].map((path) => pool.send({ method: 'GET', path })),
    );
    pool.close();
    expect(replies.map(bodyOf).sort()).toEqual(['/1 on 1', '/2 on 2', '/3 on 3']);
  });

  it('reports a missing socket, a reset mid-reply and unasked bytes on an idle connection', async () => {
    const missing = new WirePool('/nonexistent/cellium-wire.sock');
    await expect(missing.send({ method: 'GET', path: '/' })).rejects.toMatchObject({
      code: 'ENOENT',
    });
    let n = 0;
    const s = await serve((_req, _conn, sock) => {
      n++;
      if (n === 1) {
        sock.write(ok('first'));
        sock.write('HTTP/1.1 200 OK\r\n'); // unasked: the pool must not hand this connection out
        return undefined;
      }
      if (n === 2) {
        sock.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort');
        return undefined;
      }
      return ok('third');
    });
    const pool = new WirePool(s.path);
    expect(bodyOf(await pool.send({ method: 'GET', path: '/' }))).toBe('first');
    await new Promise((r) => setTimeout(r, 20));
    await expect(pool.send({ method: 'GET', path: '/' })).rejects.toMatchObject({
      code: 'ECONNRESET',
      message: 'the agent closed the connection mid-reply',
    });
    expect(bodyOf(await pool.send({ method: 'GET', path: '/' }))).toBe('third');
    pool.close();
    expect(s.connections()).toBe(3);
  });

  it('asks a GET again when a kept-alive connection was closed as it was taken, not a POST', async () => {
    let n = 0;
    const s = await serve((req, conn, sock) => {
      n++;
      // Every second request on a connection finds it closed without a reply.
      if (n % 2 === 0) {
        sock.destroy();
        return undefined;
      }
      return ok(`${req.split(' ')[0] ?? ''} on ${conn}`);
    });
    const pool = new WirePool(s.path);
    expect(bodyOf(await pool.send({ method: 'GET', path: '/' }))).toBe('GET on 1');
    expect(bodyOf(await pool.send({ method: 'GET', path: '/' }))).toBe('GET on 2');
    await expect(pool.send({ method: 'POST', path: '/', body: '{}' })).rejects.toMatchObject({
      code: 'ECONNRESET',
      beforeReply: true,
    });
    pool.close();
  });

  it('refuses a header value with a line break (no request smuggling)', async () => {
    const s = await serve(() => ok(''));
    const pool = new WirePool(s.path);
    await expect(
      pool.send({ method: 'GET', path: '/', headers: { 'x-a': 'b\r\nx-b: c' } }),
    ).rejects.toThrow(/header "x-a" has a line break/);
    pool.close();
  });
});
