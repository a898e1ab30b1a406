// One TCP connection of a session: framing (the codec's MessageReader), writes that respect
// the socket's backpressure, and the hold and keepalive timers. The FSM lives in neighbor.ts.
import type { Socket } from 'node:net';
import { encodeKeepalive, encodeNotification, MessageReader } from '../wire/index.js';
import type { WireError } from '../wire/types.js';

/** The per-connection FSM states (Idle/Connect/Active belong to the neighbor). */
export type ConnState = 'connect' | 'opensent' | 'openconfirm' | 'established';

/** What a connection reports to its neighbor. */
export interface ConnEvents {
  message(c: Connection, type: number, body: Uint8Array): void;
  /** The byte stream broke the framing rules; the NOTIFICATION is the neighbor's to send. */
  frameError(c: Connection, e: WireError): void;
  /** The peer closed the connection, it failed, or connecting failed. */
  lost(c: Connection, reason: string): void;
  holdExpired(c: Connection): void;
  /** Everything queued was written: more UPDATEs may be sent. */
  drained(c: Connection): void;
}

/** How long a closing connection may take to flush its NOTIFICATION before it is destroyed. */
const CLOSE_FLUSH_MS = 2000;
/** The OpenSent hold time (RFC 4271 §8.2.2 suggests 4 minutes). */
export const OPEN_HOLD_SEC = 240;

/** A TCP connection carrying BGP messages. */
export class Connection {
  state: ConnState;
  /** Set once close() ran or the peer went: no more events. */
  closed = false;
  private readonly reader = new MessageReader();
  private queue: Uint8Array[] = [];
  /** The next message of `queue` to write (shift() would be quadratic on long queues). */
  private head = 0;
  private hold?: NodeJS.Timeout;
  private keepalive?: NodeJS.Timeout;
  private holdSec = 0;

  constructor(
    readonly socket: Socket,
    /** This speaker opened the connection (collision resolution keeps one by direction). */
    readonly outbound: boolean,
    private readonly ev: ConnEvents,
  ) {
    this.state = outbound ? 'connect' : 'opensent';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.pump();
      if (this.idle && !this.closed) this.ev.drained(this);
    });
    socket.on('error', (e) => this.lose(e.message));
    socket.on('close', () => this.lose('connection closed by peer'));
    socket.on('end', () => this.lose('connection closed by peer'));
  }

  /** Queues a message; it is written when the socket takes more. */
  send(msg: Uint8Array): void {
    if (this.closed) return;
    this.queue.push(msg);
    this.pump();
  }

  /** Nothing is waiting to be written: the neighbor may pack more UPDATEs. */
  get idle(): boolean {
    return this.head === this.queue.length && !this.socket.writableNeedDrain;
  }

  /** (Re)starts the hold timer with a new hold time; 0 disables it. */
  startHold(sec: number): void {
    clearTimeout(this.hold);
    this.hold = undefined;
    this.holdSec = sec;
    this.restartHold();
  }

  /** Any message from the peer shows it is alive (§4.4). */
  restartHold(): void {
    if (this.holdSec === 0 || this.closed) return;
    // refresh() re-arms the same timer: no new one per UPDATE of a 10,000-route burst.
    if (this.hold) {
      this.hold.refresh();
      return;
    }
    this.hold = setTimeout(() => {
      if (!this.closed) this.ev.holdExpired(this);
    }, this.holdSec * 1000);
    this.hold.unref();
  }

  /** Sends a KEEPALIVE every `sec` seconds; 0 disables them. */
  startKeepalive(sec: number): void {
    clearInterval(this.keepalive);
    this.keepalive = undefined;
    if (sec === 0) return;
    this.keepalive = setInterval(() => {
      // Written past the queue: it must reach the peer even when UPDATEs are backed up.
      if (!this.closed) this.socket.write(encodeKeepalive());
    }, sec * 1000);
    this.keepalive.unref();
  }

  /**
   * Closes the connection, first sending a NOTIFICATION when given (after what is queued is
   * dropped: the session is over). Resolves once the socket is gone.
   */
  close(notification?: { code: number; subcode: number; data?: Uint8Array }): Promise<void> {
    this.closed = true;
    this.stopTimers();
    this.queue = [];
    this.head = 0;
    const s = this.socket;
    if (s.destroyed) return Promise.resolve();
    const gone = new Promise<void>((resolve) => s.once('close', () => resolve()));
    if (notification && s.writable && !s.connecting) {
      s.end(encodeNotification(notification.code, notification.subcode, notification.data));
      const t = setTimeout(() => s.destroy(), CLOSE_FLUSH_MS);
      t.unref();
      s.once('close', () => clearTimeout(t));
    } else {
      s.destroy();
    }
    return gone;
  }

  private stopTimers(): void {
    clearTimeout(this.hold);
    clearInterval(this.keepalive);
    this.hold = undefined;
    this.keepalive = undefined;
  }

  private pump(): void {
    while (this.head < this.queue.length && !this.socket.writableNeedDrain && !this.closed) {
      const msg = this.queue[this.head++];
      if (msg) this.socket.write(msg);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
  }

  private onData(chunk: Buffer): void {
    // Closing (a NOTIFICATION being flushed for up to CLOSE_FLUSH_MS): what the peer still
    // sends is never read, so it must not pile up in the reader's buffer.
    if (!this.closed) this.reader.push(chunk);
    // A message handler may close the connection: what follows it is not read.
    while (!this.closed) {
      const m = this.reader.next();
      if (m === undefined) return;
      if ('error' in m) {
        this.ev.frameError(this, m.error);
        return;
      }
      this.ev.message(this, m.type, m.body);
    }
  }

  private lose(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    this.queue = [];
    this.head = 0;
    this.socket.destroy();
    this.ev.lost(this, reason);
  }
}
