// Test helpers: neighbor configurations, speakers on loopback with random ports (stopped after
// each test), a log that records, and polling waits (no wall-clock bounds: the test timeout is).
import { onTestFinished } from 'vitest';
import { freePort } from '../../../core/testing/ports.js';
import { newSpeaker } from './speaker.js';
import type {
  BgpSpeaker,
  NeighborConfig,
  PeerStatus,
  SessionState,
  SpeakerConfig,
  SpeakerParams,
} from './types.js';

/** A neighbor configuration with test defaults (short retry, hold 9 s). */
export function neighbor(
  over: Partial<NeighborConfig> & Pick<NeighborConfig, 'address' | 'port'>,
): NeighborConfig {
  return {
    peerAsn: 65000,
    localAsn: 65001,
    passive: false,
    connectRetrySec: 2,
    holdTimeSec: 9,
    keepaliveSec: 3,
    ebgpMultihopTtl: 1,
    gracefulRestart: { enabled: false, restartTimeSec: 30 },
    families: ['ipv4-unicast', 'ipv6-unicast'],
    ...over,
  };
}

/** A log entry recorded by testLog(). */
export interface LogEntry {
  readonly level: 'info' | 'warn' | 'debug';
  readonly o: object;
  readonly msg: string;
}

/** A SpeakerParams log that keeps every entry (DEBUG_BGP=1 also prints them). */
export function testLog(name: string): SpeakerParams['log'] & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const rec = (level: LogEntry['level']) => (o: object, msg: string) => {
    entries.push({ level, o, msg });
    if (process.env.DEBUG_BGP) console.log(name, level, msg, JSON.stringify(o));
  };
  return { entries, info: rec('info'), warn: rec('warn'), debug: rec('debug') };
}

/** A running speaker under test. */
export interface TestSpeaker {
  readonly speaker: BgpSpeaker;
  readonly log: ReturnType<typeof testLog>;
  readonly address: string;
  readonly port: number;
  readonly routerId: string;
  readonly config: SpeakerConfig;
}

/** Starts a speaker listening on a free port of `address`; stopped when the test ends. */
export async function startSpeaker(
  address: string,
  routerId: string,
  neighbors: (port: number) => NeighborConfig[],
  opts: { restarting?: boolean; port?: number } = {},
): Promise<TestSpeaker> {
  const port = opts.port ?? (await freePort());
  const log = testLog(routerId);
  const speaker = newSpeaker({ restarting: opts.restarting ?? false, log });
  onTestFinished(() => speaker.stop({ graceful: false }));
  const config = { routerId, listenPort: port, neighbors: neighbors(port) };
  await speaker.apply(config);
  return { speaker, log, address, port, routerId, config };
}

/** Polls `check` until it returns a value other than undefined/false. */
export async function until<T>(check: () => T | undefined | false, pollMs = 20): Promise<T> {
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** The status of the speaker's session with `address`. */
export function peer(s: BgpSpeaker, address: string): PeerStatus | undefined {
  return s.peers().find((p) => p.config.address === address);
}

/** Waits until the session with `address` is in `state`; returns its status. */
export function untilState(
  s: BgpSpeaker,
  address: string,
  state: SessionState,
): Promise<PeerStatus> {
  return until(() => {
    const p = peer(s, address);
    return p?.state === state ? p : undefined;
  });
}

/** The TCP handles (sockets, servers) of this process: none once every speaker stopped. */
export function tcpHandles(): number {
  return process
    .getActiveResourcesInfo()
    .filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'TCPWRAP').length;
}
