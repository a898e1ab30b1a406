// The monitor socket: newline-delimited JSON events for each client that has sent its filter
// line, filtered here. Each client has a bounded queue: an event that finds it full is dropped
// for that client and counted, and the client is told how many it lost (a `lost` notice) as
// soon as its queue has room again. A slow client never grows the agent's memory.
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../core/hive/index.js';
import {
  closeServer,
  listenOnSocket,
  prepareSocketPath,
  removeSocket,
  type SocketFile,
} from '../api/index.js';
import type { LostNotice, MonitorEvent } from './decode.js';
import { matches, parseFilter, type MonitorFilter } from './filter.js';

/** The longest filter line a client may send. */
export const MAX_LINE = 64 * 1024;

/** Clients the socket serves at once (Cilium's monitor agent has the same bound). */
export const MAX_CLIENTS = 64;

/** What the server needs. */
export interface MonitorServerParams {
  readonly path: string;
  /** Events a client may have waiting (written, not yet taken by the kernel). */
  readonly queueSize: number;
  readonly logger: Logger;
  /** Called with the number of clients receiving events whenever it changes. */
  readonly onListeners: (n: number) => void;
}

/** The monitor socket server. */
export interface MonitorServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Hands an event to every client whose filter takes it. */
  publish(e: MonitorEvent): void;
  /** Tells every client that the datapath lost events. */
  datapathLost(n: number): void;
  /** Clients receiving events. */
  readonly listeners: number;
  /** Events dropped for slow clients, in all. */
  readonly clientLost: number;
}

interface Client {
  readonly socket: Socket;
  filter: MonitorFilter | undefined;
  /** Writes not yet taken by the kernel. */
  pending: number;
  /** Events dropped since the client was last told. */
  lost: number;
  /** Datapath losses not told yet (their notice found the queue full). */
  dpLost: number;
}

function notice(source: LostNotice['source'], lost: number): string {
  const n: LostNotice = { type: 'lost', time: new Date().toISOString(), source, lost };
  return `${JSON.stringify(n)}\n`;
}

// One serialization per event, however many clients take it.
const lines = new WeakMap<object, string>();
function lineOf(e: MonitorEvent): string {
  let l = lines.get(e);
  if (l === undefined) {
    l = `${JSON.stringify(e)}\n`;
    lines.set(e, l);
  }
  return l;
}

/** A monitor socket server at `p.path` (bound at start, removed at stop). */
export function newMonitorServer(p: MonitorServerParams): MonitorServer {
  const clients = new Set<Client>();
  let streaming = 0;
  let clientLost = 0;
  let server: Server | undefined;
  let file: SocketFile | undefined;

  const setStreaming = (n: number): void => {
    if (n === streaming) return;
    streaming = n;
    p.onListeners(n);
  };
  const recount = (): void => {
    let n = 0;
    for (const c of clients) if (c.filter) n++;
    setStreaming(n);
  };

  const send = (c: Client, line: string): void => {
    c.pending++;
    c.socket.write(line, () => {
      c.pending--;
      if (c.pending >= p.queueSize || c.socket.destroyed) return;
      if (c.dpLost > 0) {
        const n = c.dpLost;
        c.dpLost = 0;
        send(c, notice('datapath', n));
      }
      if (c.lost > 0) {
        const n = c.lost;
        c.lost = 0;
        send(c, notice('client', n));
      }
    });
  };

  const offer = (c: Client, line: string): void => {
    if (c.pending >= p.queueSize) {
      c.lost++;
      clientLost++;
      return;
    }
    send(c, line);
  };

  // A client that broke the protocol: told why, then cut off at once. Destroyed, not ended: an
  // ended socket still reads (and would buffer whatever the client keeps sending) and would keep
  // counting as a listener until the client closes its side.
  const refuse = (socket: Socket, message: string): void => {
    socket.write(`${JSON.stringify({ type: 'error', message })}\n`, () => socket.destroy());
    socket.pause();
    socket.removeAllListeners('data');
    // Not waiting for the write if the client does not read it.
    setImmediate(() => socket.destroy());
  };

  const accept = (socket: Socket): void => {
    socket.on('error', () => undefined); // a client going away is not the agent's error
    if (clients.size >= MAX_CLIENTS) {
      refuse(socket, `the monitor serves at most ${MAX_CLIENTS} clients at once`);
      return;
    }
    const c: Client = { socket, filter: undefined, pending: 0, lost: 0, dpLost: 0 };
    clients.add(c);
    const drop = (message: string): void => {
      clients.delete(c);
      recount();
      refuse(socket, message);
    };
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line === '') continue;
        try {
          c.filter = parseFilter(line);
        } catch (e) {
          buffered = '';
          drop((e as Error).message);
          return;
        }
        recount();
      }
      if (buffered.length > MAX_LINE) {
        buffered = '';
        drop(`a filter line is longer than ${MAX_LINE} bytes`);
      }
    });
    socket.on('close', () => {
      clients.delete(c);
      recount();
    });
  };

  return {
    async start() {
      await prepareSocketPath(p.path, '--monitor-socket-path');
      const s = createServer(accept);
      file = await listenOnSocket(s, p.path, '');
      server = s;
      p.logger.info({ socket: p.path }, 'monitor socket listening');
    },
    async stop() {
      const s = server;
      server = undefined;
      for (const c of clients) c.socket.destroy();
      clients.clear();
      setStreaming(0);
      if (s) await closeServer(s);
      if (file) await removeSocket(p.path, file);
      file = undefined;
    },
    publish(e) {
      if (streaming === 0) return;
      for (const c of clients) {
        if (c.filter && matches(c.filter, e)) offer(c, lineOf(e));
      }
    },
    datapathLost(n) {
      // Not an event: told as soon as the client's queue has room, never dropped.
      for (const c of clients) {
        if (!c.filter) continue;
        if (c.pending < p.queueSize) send(c, notice('datapath', n));
        else c.dpLost += n;
      }
    },
    get listeners() {
      return streaming;
    },
    get clientLost() {
      return clientLost;
    },
  };
}
