import { dirname, join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { socketFromHost } from '../../../core/api/client.js';
import { CelliumClient } from '../../../core/api/typed-client.js';
import {
  decodePacket,
  layersText,
  MONITOR_SOCKET_NAME,
  MONITOR_TYPES,
  summary,
  type LostNotice,
  type MonitorEvent,
  type MonitorType,
} from '../../monitor/index.js';
import { wantsJson, type Globals } from './common.js';

/** `cellium monitor`'s options. */
interface MonitorOpts {
  readonly type: MonitorType[];
  readonly relatedTo: number[];
  readonly verbose?: boolean;
  readonly monitorSocket?: string;
}

/** Where the monitor socket is: the option, CELLIUM_MONITOR_SOCKET_PATH, or beside the API socket. */
export function monitorSocketOf(host: string | undefined, option: string | undefined): string {
  if (option !== undefined && option !== '') return option;
  const env = process.env.CELLIUM_MONITOR_SOCKET_PATH;
  if (env !== undefined && env !== '') return env;
  return join(dirname(socketFromHost(host)), MONITOR_SOCKET_NAME);
}

function connectTo(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      const why =
        e.code === 'ENOENT'
          ? 'no such socket: is the agent running, with its monitor (--monitor-socket-path)?'
          : e.code === 'ECONNREFUSED'
            ? 'nothing listens on it: the agent is not running'
            : e.message;
      reject(new Error(`cannot connect to the monitor socket ${path}: ${why}`));
    });
  });
}

/** Names identities by their labels (GET /v1/identity/{id}, each asked once). */
function identityNames(api: CelliumClient): {
  load(ids: readonly number[]): Promise<void>;
  name(id: number): string;
} {
  const labels = new Map<number, string>();
  return {
    async load(ids) {
      for (const id of ids) {
        if (labels.has(id)) continue;
        try {
          const i = await api.getIdentityID({ params: { id: String(id) } });
          labels.set(id, (i.labels ?? []).join(','));
        } catch {
          labels.set(id, ''); // unknown to the agent (a CIDR identity gone, 0): the number alone
        }
      }
    },
    name(id) {
      const l = labels.get(id) ?? '';
      return l === '' ? String(id) : `${id} (${l})`;
    },
  };
}

function identitiesOf(e: MonitorEvent): number[] {
  switch (e.type) {
    case 'agent':
      return [];
    case 'policy-verdict':
      return [e.remoteIdentity];
    default:
      return [e.srcIdentity, e.dstIdentity];
  }
}

/** `cellium monitor`: datapath events and agent notifications as they happen, until interrupted. */
export function registerMonitor(program: Command): void {
  program
    .command('monitor')
    .description('Display datapath events (drops, traces, policy verdicts) and agent notifications')
    .option(
      '-t, --type <type>',
      `only this message type (${MONITOR_TYPES.join(', ')}); repeatable`,
      (v: string, prev: MonitorType[]) => {
        if (!MONITOR_TYPES.includes(v as MonitorType)) {
          throw new Error(`--type ${v}: not a message type (${MONITOR_TYPES.join(', ')})`);
        }
        return [...prev, v as MonitorType];
      },
      [] as MonitorType[],
    )
    .option(
      '--related-to <endpoint>',
      'only events about this endpoint id; repeatable',
      (v: string, prev: number[]) => {
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 65535) {
          throw new Error(`--related-to ${v}: not an endpoint id (0-65535)`);
        }
        return [...prev, n];
      },
      [] as number[],
    )
    .option('-v, --verbose', 'also decode the headers of each packet')
    .option(
      '--monitor-socket <path>',
      `the monitor socket (default: ${MONITOR_SOCKET_NAME} beside the API socket)`,
    )
    .action(async (opts: MonitorOpts, cmd: Command) => {
      const host = cmd.optsWithGlobals<Globals>().host;
      const path = monitorSocketOf(host, opts.monitorSocket);
      const json = wantsJson(cmd);
      const socket = await connectTo(path);
      const api = new CelliumClient(socketFromHost(host));
      const ids = identityNames(api);
      const lines = createInterface({ input: socket, crlfDelay: Infinity });
      const state = { interrupted: false };
      const stop = (): void => {
        state.interrupted = true;
        lines.close(); // ends the loop below
        socket.destroy();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        socket.write(`${JSON.stringify({ types: opts.type, 'related-to': opts.relatedTo })}\n`);
        for await (const line of lines) {
          if (line.trim() === '') continue;
          const e = JSON.parse(line) as
            MonitorEvent | LostNotice | { type: 'error'; message: string };
          if (e.type === 'error')
            throw new Error(`the agent refused the monitor request: ${e.message}`);
          if (json) {
            process.stdout.write(`${line}\n`);
            continue;
          }
          if (e.type !== 'lost') await ids.load(identitiesOf(e));
          let out = summary(e, (id) => ids.name(id));
          if (opts.verbose && e.type !== 'lost' && e.type !== 'agent') {
            out += `\n${layersText(decodePacket(Buffer.from(e.data, 'base64')))}\n------------------------------------------------------------------------------`;
          }
          process.stdout.write(`${out}\n`);
        }
        if (!state.interrupted) throw new Error(`the agent closed the monitor socket ${path}`);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        socket.destroy();
        api.close();
      }
    });
}
