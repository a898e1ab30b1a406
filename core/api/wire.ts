// HTTP/1.1 over the agent's unix socket, written straight on node:net: what the CLI and the CNI
// plugin need (one request at a time per connection, kept alive; a reply sized by
// content-length, chunked, or ending with the connection). node:http does the same at several
// times the cost in a fresh process (the CNI plugin's first request took 9 ms through it, 3 ms
// like this), and a short-lived process pays that on every run.
import { connect, type Socket } from 'node:net';

/** One reply, its body whole. */
export interface WireReply {
  readonly status: number;
  /** Header names in lower case; a repeated header's values joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** The socket could not be reached, or the connection broke before the reply was whole. */
export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    message: string,
    /** The errno name (`ENOENT`, `ECONNREFUSED`), or `EPROTO` for a reply that is not HTTP. */
    readonly code: string,
    /** Nothing of a reply had come when it failed. */
    readonly beforeReply = false,
  ) {
    super(message);
  }
}

/** Header section limit: a reply whose headers do not end within it is not the agent's. */
const MAX_HEAD = 64 * 1024;

/** Parses a reply incrementally; `feed` returns the reply once it is whole. */
export class ReplyParser {
  private buf: Buffer = Buffer.alloc(0);
  private head?: { status: number; headers: Record<string, string> };
  private readonly chunks: Buffer[] = [];
  /** Bytes of body still expected (content-length), or of the current chunk. */
  private remaining = 0;
  private mode: 'length' | 'chunked' | 'close' | 'none' = 'none';
  private chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size';

  constructor(private readonly method: string) {}

  /** Adds bytes; the reply when it is complete, else undefined. Throws EPROTO on bad input. */
  feed(data: Buffer): WireReply | undefined {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    while (!this.head) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > MAX_HEAD) throw protocol('reply headers exceed 64 KiB');
        return undefined;
      }
      const head = parseHead(this.buf.subarray(0, end).toString('latin1'));
      this.buf = this.buf.subarray(end + 4);
      const s = head.status;
      // An interim reply (100 Continue, 103 Early Hints) precedes the real one.
      if (s >= 100 && s < 200 && s !== 101) continue;
      this.head = head;
      const h = head.headers;
      if (this.method === 'HEAD' || s === 204 || s === 304 || s === 101) {
        this.mode = 'none';
      } else if (/\bchunked\b/i.test(h['transfer-encoding'] ?? '')) {
        this.mode = 'chunked';
      } else if (h['content-length'] !== undefined) {
        if (!/^\d{1,15}$/.test(h['content-length']))
          throw protocol(`bad content-length ${JSON.stringify(h['content-length'])}`);
        this.mode = 'length';
        this.remaining = Number(h['content-length']);
      } else {
        this.mode = 'close';
      }
    }
    return this.body();
  }

  /** The connection ended: the reply, if ending it was how its body ends. */
  end(): WireReply | undefined {
    if (this.head && this.mode === 'close') return this.reply();
    return undefined;
  }

  /**
   * Whether the connection can carry another request after this reply: not when the agent said
   * close, and not when more bytes came than the reply (nothing else was asked).
   */
  get reusable(): boolean {
    return (
      this.mode !== 'close' &&
      this.buf.length === 0 &&
      !/\bclose\b/i.test(this.head?.headers.connection ?? '')
    );
  }

  /** Moves up to `remaining` bytes of body out of the buffer (so a large body is never copied again). */
  private take(): void {
    const n = Math.min(this.remaining, this.buf.length);
    if (n > 0) this.chunks.push(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
    this.remaining -= n;
  }

  private body(): WireReply | undefined {
    switch (this.mode) {
      case 'none':
        return this.reply();
      case 'close':
        if (this.buf.length > 0) this.chunks.push(this.buf);
        this.buf = Buffer.alloc(0);
        return undefined;
      case 'length':
        this.take();
        return this.remaining === 0 ? this.reply() : undefined;
      case 'chunked':
        return this.chunked();
    }
  }

  private chunked(): WireReply | undefined {
    for (;;) {
      if (this.chunkState === 'data') {
        this.take();
        if (this.remaining > 0) return undefined;
        this.chunkState = 'crlf';
        continue;
      }
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) {
        if (this.buf.length > MAX_HEAD) throw protocol('chunk header exceeds 64 KiB');
        return undefined;
      }
      const line = this.buf.subarray(0, eol).toString('latin1');
      this.buf = this.buf.subarray(eol + 2);
      if (this.chunkState === 'crlf') {
        if (line !== '') throw protocol('chunk data not followed by CRLF');
        this.chunkState = 'size';
      } else if (this.chunkState === 'trailer') {
        if (line === '') return this.reply();
      } else {
        const size = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(line)?.[1];
        if (size === undefined) throw protocol(`bad chunk size ${JSON.stringify(line)}`);
        this.remaining = parseInt(size, 16);
        this.chunkState = this.remaining === 0 ? 'trailer' : 'data';
      }
    }
  }

  private reply(): WireReply {
    const head = this.head ?? { status: 0, headers: {} };
    return { status: head.status, headers: head.headers, body: Buffer.concat(this.chunks) };
  }
}

function protocol(why: string): WireError {
  return new WireError(`the agent's reply is not HTTP/1.1: ${why}`, 'EPROTO');
}

function parseHead(text: string): { status: number; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) throw protocol(`status line ${JSON.stringify(statusLine.slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw protocol(`header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(m[1]), headers };
}

/** A request: method, full path (`/v1/config`), headers, body. */
export interface WireRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /**
   * Called once the request has left for the kernel: work done in it (and in the microtasks
   * it queues) overlaps with the agent's handling of the request.
   */
  readonly onSent?: () => void;
}

function encode(r: WireRequest): string {
  const headers: Record<string, string> = { host: 'localhost', ...r.headers };
  if (r.body !== undefined) headers['content-length'] = String(Buffer.byteLength(r.body));
  if (!/^[A-Z]+$/.test(r.method)) throw new TypeError(`bad method ${JSON.stringify(r.method)}`);
  if (!/^\/[\x21-\x7e]*$/.test(r.path))
    throw new TypeError(`path ${JSON.stringify(r.path)} must be printable ASCII without spaces`);
  let text = `${r.method} ${r.path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v))
      throw new TypeError(`header ${JSON.stringify(k)} has a line break`);
    text += `${k}: ${v}\r\n`;
  }
  return `${text}\r\n${r.body ?? ''}`;
}

/**
 * Connections to one unix socket: a request takes an idle kept-alive connection or opens one,
 * and gives it back once its reply is whole. close() ends them all.
 */
export class WirePool {
  /** Idle connections, each with the listener that drops it if the agent speaks unasked. */
  private readonly idle = new Map<Socket, () => void>();
  private readonly open = new Set<Socket>();

  constructor(readonly socketPath: string) {}

  /** Sends one request and resolves with its whole reply. */
  send(r: WireRequest): Promise<WireReply> {
    let text: string;
    try {
      text = encode(r);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new TypeError(String(e)));
    }
    const reused = this.takeIdle();
    const once = this.attempt(r, text, reused ?? this.connect());
    // A kept-alive connection the agent closed just as it was taken fails before any byte of
    // a reply: a GET (which changes nothing) is asked again on a fresh one.
    if (!reused || (r.method !== 'GET' && r.method !== 'HEAD')) return once;
    return once.catch((e: unknown) => {
      if (!(e instanceof WireError) || !e.beforeReply) throw e;
      return this.attempt(r, text, this.connect());
    });
  }

  private attempt(r: WireRequest, text: string, sock: Socket): Promise<WireReply> {
    let replied = false;
    return new Promise((resolve, reject) => {
      const parser = new ReplyParser(r.method);
      const done = (fn: () => void): void => {
        sock.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
        fn();
      };
      const onData = (d: Buffer): void => {
        replied = true;
        let reply: WireReply | undefined;
        try {
          reply = parser.feed(d);
        } catch (e) {
          sock.destroy();
          done(() => reject(e instanceof Error ? e : new Error(String(e))));
          return;
        }
        if (!reply) return;
        const keep = parser.reusable;
        done(() => {
          if (keep) this.park(sock);
          else sock.destroy();
          resolve(reply);
        });
      };
      const onEnd = (): void => {
        const reply = parser.end();
        sock.destroy();
        done(() =>
          reply
            ? resolve(reply)
            : reject(
                new WireError('the agent closed the connection mid-reply', 'ECONNRESET', !replied),
              ),
        );
      };
      const onError = (e: NodeJS.ErrnoException): void =>
        done(() => reject(new WireError(e.message, e.code ?? 'EIO', !replied)));
      const onClose = (): void =>
        done(() =>
          reject(new WireError('the connection closed mid-reply', 'ECONNRESET', !replied)),
        );
      sock.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
      sock.write(text, r.onSent && ((e) => e || r.onSent?.()));
    });
  }

  /** Destroys every connection. */
  close(): void {
    for (const s of this.open) s.destroy();
    this.open.clear();
    this.idle.clear();
  }

  private connect(): Socket {
    const sock = connect(this.socketPath);
    this.open.add(sock);
    // A request reports its own errors; an idle connection that breaks is just dropped.
    sock.on('error', () => undefined);
    sock.once('close', () => {
      this.open.delete(sock);
      this.idle.delete(sock);
    });
    return sock;
  }

  private takeIdle(): Socket | undefined {
    for (const [sock, unasked] of this.idle) {
      this.idle.delete(sock);
      sock.off('data', unasked);
      // Closed by the agent (its FIN may be in before the socket is destroyed): not reusable.
      if (sock.destroyed || sock.readableEnded || !sock.writable) {
        sock.destroy();
        continue;
      }
      sock.ref();
      return sock;
    }
    return undefined;
  }

  private park(sock: Socket): void {
    if (sock.destroyed) return;
    // Nothing is asked on an idle connection: whatever comes is not ours.
    const unasked = (): void => {
      sock.destroy();
    };
    sock.on('data', unasked);
    this.idle.set(sock, unasked);
    // An idle connection does not keep the process alive (the agent closes it when it likes).
    sock.unref();
  }
}
