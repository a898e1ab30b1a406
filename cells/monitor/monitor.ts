// The monitor at run time: reads cellium_events (reader.ts), decodes each record while someone
// listens (else counts it by type and keeps a drop's record for /debuginfo to decode), adds the
// agent's notifications, and hands every event to the socket's clients and to subscribers in
// the agent; keeps the last drops for /debuginfo and the counts /healthz reports.
import { Subject, type Observable } from 'rxjs';
import type { Health, Lifecycle, Logger } from '../../core/hive/index.js';
import { errorMessage, token } from '../../core/hive/index.js';
import type { Table } from '../../core/statedb/index.js';
import type { Endpoint } from '../endpoint/index.js';
import { AGGREGATION, type AggregationLevel, type MonitorMaps } from '../maps/index.js';
import {
  decodeRecord,
  hostClock,
  recordEndpoint,
  recordType,
  type DropEvent,
  type Enrich,
  type MonitorEvent,
} from './decode.js';
import type { AgentNotice } from './notify.js';
import { startRingLoop, type RingLoop } from './reader.js';
import { newMonitorServer } from './server.js';

/** The node monitor: every datapath event and agent notification, as they happen. */
export interface Monitor {
  /** Decoded datapath events and agent notifications, in order. */
  readonly events$: Observable<MonitorEvent>;
  /** Sends an agent notification (what the notify watcher calls). */
  notify(n: AgentNotice): void;
  /** The most recent drops, oldest first (at most RECENT_DROPS); decoded on demand when nobody listened. */
  recentDrops(): readonly DropEvent[];
  /** Counts for /healthz nodeMonitor. */
  counts(): MonitorCounts;
}

/** What /healthz reports of the monitor. */
export interface MonitorCounts {
  /** The ring's size in bytes. */
  readonly ringBytes: number;
  /** Events lost: the ring was full (datapath), or a client's queue was (clients). */
  readonly lost: number;
  readonly datapathLost: number;
  readonly clientLost: number;
  /** Records this agent could not decode (another type or version). */
  readonly unknown: number;
  /** Datapath events read. */
  readonly received: number;
  /** Datapath events read, by type (drop, trace, policy-verdict). */
  readonly receivedByType: Readonly<Record<string, number>>;
  /** Clients receiving events. */
  readonly listeners: number;
}

/** The node monitor. */
export const Monitor = token<Monitor>('monitor/Monitor');

/** Drops kept for /debuginfo. */
export const RECENT_DROPS = 1024;

/** A drop kept for /debuginfo: its event, or its record and endpoint until it is asked for. */
interface KeptDrop {
  event?: DropEvent | undefined;
  record?: Buffer | undefined;
  readonly endpoint?: { readonly id: number; readonly identity: number } | undefined;
}

/** What the monitor needs. */
export interface MonitorParams {
  readonly maps: MonitorMaps;
  readonly endpoints: Table<Endpoint>;
  readonly socketPath: string;
  readonly aggregation: AggregationLevel;
  readonly queueSize: number;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}

/** Builds the monitor; it reads the ring and serves its socket between start and stop. */
export function newMonitor(p: MonitorParams): Monitor {
  const subject = new Subject<MonitorEvent>();
  // The last drops: decoded if someone was listening when they came, else the record as read
  // (and the endpoint it was attributed to then), decoded when /debuginfo asks.
  const recent: KeptDrop[] = [];
  const clock = hostClock();
  let unknown = 0;
  let received = 0;
  const byType: Record<string, number> = {};
  let lostSeen = 0;
  let loop: RingLoop | undefined;

  // The endpoint behind each host-side interface, for events the datapath could not attribute.
  const byIfindex = new Map<number, { id: number; identity: number }>();
  const enrich: Enrich = { endpointOf: (i) => byIfindex.get(i) };

  const server = newMonitorServer({
    path: p.socketPath,
    queueSize: p.queueSize,
    logger: p.logger,
    onListeners: (n) => {
      // Traces and verdicts cost the datapath nothing while no client listens.
      try {
        p.maps.setConfig({ listeners: n, aggregation: AGGREGATION[p.aggregation] });
      } catch (e) {
        p.health.degraded(`cannot write cellium_monitor_config: ${errorMessage(e)}`);
      }
    },
  });

  const keep = (d: KeptDrop): void => {
    recent.push(d);
    if (recent.length > RECENT_DROPS * 2) recent.splice(0, recent.length - RECENT_DROPS);
  };

  const publish = (e: MonitorEvent): void => {
    if (e.type === 'drop') keep({ event: e });
    server.publish(e);
    subject.next(e);
  };

  const onBatch = (records: Buffer[]): void => {
    // Nobody to hand events to: count them by the type byte and keep the drops' records as they
    // are. Decoding (base64, time, enrichment) is most of the cost of an event in the agent.
    const listening = server.listeners > 0 || subject.observed;
    for (const r of records) {
      const type = recordType(r);
      if (type === undefined) {
        unknown++;
        continue;
      }
      received++;
      byType[type] = (byType[type] ?? 0) + 1;
      if (listening) {
        const e = decodeRecord(r, clock, enrich);
        if (e) publish(e);
      } else if (type === 'drop') {
        keep({ record: r, endpoint: recordEndpoint(r, enrich) });
      }
    }
    const lost = p.maps.lost();
    if (lost > lostSeen) {
      server.datapathLost(lost - lostSeen);
      lostSeen = lost;
    }
  };

  const decoded = (d: KeptDrop): DropEvent | undefined => {
    if (d.event || !d.record) return d.event;
    const ep = d.endpoint;
    d.event = decodeRecord(d.record, clock, { endpointOf: () => ep }) as DropEvent | undefined;
    d.record = undefined;
    return d.event;
  };

  // And the interface of each endpoint, so a change costs two lookups, not a scan.
  const ifindexOf = new Map<number, number>();

  const sub = p.endpoints.observe().subscribe((batch) => {
    for (const c of batch) {
      const ep = c.object;
      const was = ifindexOf.get(ep.id);
      if (was !== undefined) {
        ifindexOf.delete(ep.id);
        if (byIfindex.get(was)?.id === ep.id) byIfindex.delete(was);
      }
      if (!c.deleted && ep.ifIndex > 0) {
        byIfindex.set(ep.ifIndex, { id: ep.id, identity: ep.identity });
        ifindexOf.set(ep.id, ep.ifIndex);
      }
    }
  });

  p.lifecycle.append(
    {
      onStart: async () => {
        // The datapath's losses before this agent started are not news to its clients.
        lostSeen = p.maps.lost();
        // The socket first: if it cannot be bound (a live agent has it, a bad directory), the
        // start fails with nothing running, as the lifecycle never calls a failed hook's onStop.
        await server.start();
        try {
          loop = startRingLoop({
            ring: p.maps.ring(),
            onBatch,
            onError: (e) => {
              p.health.degraded(`reading cellium_events: ${errorMessage(e)}`);
            },
            onRecovered: () => {
              p.health.ok(`reading cellium_events (${p.maps.ringBytes} bytes) again`);
            },
          });
        } catch (e) {
          await server.stop();
          throw e;
        }
        p.health.ok(`reading cellium_events (${p.maps.ringBytes} bytes); socket ${p.socketPath}`);
      },
      onStop: async () => {
        sub.unsubscribe();
        await server.stop();
        await loop?.stop();
        loop = undefined;
        subject.complete();
      },
    },
    'monitor',
  );

  return {
    events$: subject.asObservable(),
    notify: (n) => {
      publish({ type: 'agent', time: new Date().toISOString(), ...n });
    },
    recentDrops: () =>
      recent.slice(-RECENT_DROPS).flatMap((d) => {
        const e = decoded(d);
        return e ? [e] : [];
      }),
    counts: () => {
      const datapathLost = p.maps.lost();
      return {
        ringBytes: p.maps.ringBytes,
        lost: datapathLost + server.clientLost,
        datapathLost,
        clientLost: server.clientLost,
        unknown,
        received,
        receivedByType: { ...byType },
        listeners: server.listeners,
      };
    },
  };
}
