// The monitor cell on the in-memory maps: records pushed into cellium_events (as a program
// writes them) are decoded and served on the monitor socket, filtered for each client by the
// filter line it sends; agent notifications follow endpoint changes; a client that does not
// read loses events (never the agent's memory) and is told exactly how many; /healthz counts.
import { connect, type Socket } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryRingPush, openMap } from '../../core/bpf/index.js';
import { eventually } from '../../core/testing/test-hive.js';
import { call, epHive, request, type EpHive } from '../endpoint/fixtures.js';
import {
  dropReasonText,
  EVENTS_RING_DEFAULT,
  eventsMapSpec,
  MonitorMaps,
  REASON,
} from '../maps/index.js';
import { policyCell } from '../policy/index.js';
import {
  decodeRecord,
  dropNotify,
  hostClock,
  MESSAGE,
  Monitor,
  monitorCell,
  MONITOR_VERSION,
  monitorHdr,
  parseFilter,
  matches,
  policyVerdictNotify,
  summary,
  traceNotify,
  type DropEvent,
  type MonitorEvent,
} from './index.js';
import { decodePacket } from './packet.js';
import { MAX_CLIENTS } from './server.js';

const hives: EpHive[] = [];
afterEach(async () => {
  for (const h of hives.splice(0)) await h.requireStop();
});

async function start(flags: Record<string, unknown> = {}): Promise<EpHive> {
  const h = epHive(undefined, { extra: [policyCell, monitorCell], flags });
  hives.push(h);
  await h.requireStart();
  return h;
}

/** The monitor socket: monitor1_2.sock beside the hive's API socket. */
const socketOf = (h: EpHive): string => join(h.dir, 'monitor1_2.sock');

/** Clients receiving events, as the monitor counts them (and tells the datapath). */
const listenersOf = (h: EpHive): number => h.get(Monitor).counts().listeners;

/** A TCP frame from 10.9.0.10:40000 to 10.9.0.11:80 with SYN (what drops carry). */
function synFrame(): Buffer {
  const f = Buffer.alloc(14 + 20 + 20);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(40, 16);
  f[22] = 64;
  f[23] = 6;
  Buffer.from([10, 9, 0, 10, 10, 9, 0, 11]).copy(f, 26);
  f.writeUInt16BE(40000, 34);
  f.writeUInt16BE(80, 36);
  f[46] = 0x50;
  f[47] = 0x02;
  return f;
}

/** A record as bpf_lxc writes it (events.h). */
function record(
  type: number,
  hdr: Partial<Record<string, number | bigint>>,
  body: Record<string, number>,
  packet = synFrame(),
): Buffer {
  const layout =
    type === MESSAGE.DROP ? dropNotify : type === MESSAGE.TRACE ? traceNotify : policyVerdictNotify;
  const b = Buffer.alloc(layout.size);
  monitorHdr.encode(
    {
      type,
      subtype: 0,
      source: 0,
      ifindex: 7,
      len_orig: packet.length,
      len_cap: Math.min(packet.length, 128),
      version: MONITOR_VERSION,
      prog: 1,
      timestamp: 1_000_000_000n,
      src_identity: 0,
      dst_identity: 0,
      ...hdr,
    },
    b,
  );
  for (const [name, v] of Object.entries(body)) {
    const f = layout.fields.find((x) => x.name === name);
    if (!f) throw new Error(`${layout.cName} has no ${name}`);
    if (f.size === 1) b.writeUInt8(v, f.offset);
    else b.writeUInt16LE(v, f.offset);
  }
  packet.copy(b, layout.fields.find((f) => f.name === 'data')?.offset ?? 40, 0, 128);
  return b;
}

function drop(reason: number, source: number, extra: Partial<Record<string, number>> = {}) {
  return record(
    MESSAGE.DROP,
    { subtype: reason, source, src_identity: 1234, dst_identity: 5678, ...extra },
    { dst_endpoint: 0, dir: 2, line: 42 },
  );
}

/** A monitor client: sends `filter`, collects parsed lines. */
function client(path: string, filter: unknown) {
  const s: Socket = connect(path);
  s.on('error', () => undefined); // the agent may cut a client off
  const got: Record<string, unknown>[] = [];
  createInterface({ input: s }).on('line', (l) =>
    got.push(JSON.parse(l) as Record<string, unknown>),
  );
  if (filter !== '') s.write(`${typeof filter === 'string' ? filter : JSON.stringify(filter)}\n`);
  return { s, got, close: () => s.destroy() };
}

describe('decoding', () => {
  const clock = hostClock();

  it('decodes drops, traces and verdicts with the packet they carry', () => {
    const d = decodeRecord(drop(REASON.POLICY_DENIED, 12), clock) as DropEvent;
    expect(d).toMatchObject({
      type: 'drop',
      reason: 133,
      reasonText: 'Policy denied',
      source: 12,
      ifindex: 7,
      srcIdentity: 1234,
      dstIdentity: 5678,
      direction: 'egress',
      line: 42,
      prog: 'bpf_lxc',
      ktime: '1000000000',
      capLen: 54,
      origLen: 54,
    });
    expect(Buffer.from(d.data, 'base64')).toEqual(synFrame());
    expect(summary(d)).toBe(
      'xx drop (Policy denied) flow 0x0 to endpoint 0, ifindex 7, file bpf_lxc.c:42, egress endpoint 12, identity 1234->5678: 10.9.0.10:40000 -> 10.9.0.11:80 tcp SYN',
    );
    const t = decodeRecord(
      record(MESSAGE.TRACE, { subtype: 0, source: 3 }, { dst_endpoint: 4, reason: 1 }),
      clock,
    );
    expect(t).toMatchObject({
      type: 'trace',
      observationPoint: 'to-endpoint',
      traceReason: 'new',
      dstEndpoint: 4,
    });
    const v = decodeRecord(
      record(
        MESSAGE.POLICY_VERDICT,
        { source: 3, src_identity: 9, dst_identity: 10 },
        { dport: 80, proto: 6, dir: 1, match_type: 2, reason: 0 },
      ),
      clock,
    );
    expect(v).toMatchObject({
      type: 'policy-verdict',
      verdict: 'allowed',
      direction: 'ingress',
      remoteIdentity: 9,
      dport: 80,
      match: 'L3-L4',
    });
  });

  it("names drop reasons with Cilium's texts, the same ones the drop metrics use", () => {
    const d = decodeRecord(drop(REASON.NO_FIB, 1), clock) as DropEvent;
    expect(d.reasonText).toBe('FIB lookup failed');
    expect(d.reasonText).toBe(dropReasonText(REASON.NO_FIB));
    expect(dropReasonText(REASON.NOT_IN_SRC_RANGE)).toBe('Denied by LB src range check');
    expect(dropReasonText(250)).toBe('reason 250');
  });

  it('attributes what bpf_lxc could not to the endpoint of the interface, and refuses other versions', () => {
    const enrich = {
      endpointOf: (i: number) => (i === 7 ? { id: 21, identity: 4242 } : undefined),
    };
    const d = decodeRecord(
      drop(REASON.INVALID, 0, { src_identity: 0, dst_identity: 0 }),
      clock,
      enrich,
    );
    expect(d).toMatchObject({
      source: 21,
      srcIdentity: 4242,
      dstIdentity: 0,
      reasonText: 'Invalid packet',
    });
    const other = drop(REASON.INVALID, 0);
    other[monitorHdr.fields.find((f) => f.name === 'version')?.offset ?? 0] = 9;
    expect(decodeRecord(other, clock)).toBeUndefined();
    expect(decodeRecord(Buffer.alloc(8), clock)).toBeUndefined();
  });

  it('decodes what packet headers it has, and says where a malformed one stops', () => {
    expect(decodePacket(synFrame()).summary).toBe('10.9.0.10:40000 -> 10.9.0.11:80 tcp SYN');
    const bad = synFrame();
    bad[14] = 0x44;
    expect(decodePacket(bad).problem).toBe('IPv4 header length 16 < 20');
    expect(decodePacket(synFrame().subarray(0, 20)).problem).toBe(
      'truncated IPv4 header (6 bytes)',
    );
  });
});

describe('filters', () => {
  it('parses types and endpoints, naming what is wrong', () => {
    expect(parseFilter('{"types":["drop"],"related-to":[3]}')).toEqual({
      types: ['drop'],
      relatedTo: [3],
    });
    expect(parseFilter('{}')).toEqual({ types: [], relatedTo: [] });
    expect(() => parseFilter('{"types":["dropped"]}')).toThrow(
      /types must be a list of drop, trace/,
    );
    expect(() => parseFilter('{"related-to":[-1]}')).toThrow(
      /related-to must be a list of endpoint ids/,
    );
    expect(() => parseFilter('{"kind":1}')).toThrow(/unknown filter field 'kind'/);
    expect(() => parseFilter('nope')).toThrow(/the filter is not JSON/);
  });

  it('matches by type and by any endpoint an event is about', () => {
    const d = decodeRecord(drop(REASON.INVALID, 5), hostClock()) as MonitorEvent;
    expect(matches({ types: ['drop'], relatedTo: [] }, d)).toBe(true);
    expect(matches({ types: ['trace'], relatedTo: [] }, d)).toBe(false);
    expect(matches({ types: [], relatedTo: [5] }, d)).toBe(true);
    expect(matches({ types: [], relatedTo: [6] }, d)).toBe(false);
  });
});

describe('the monitor cell', () => {
  it('serves decoded events to each client by its filter, and agent notifications', async () => {
    const h = await start();
    const path = socketOf(h);
    const drops = client(path, { types: ['drop'], 'related-to': [7] });
    const agent = client(path, { types: ['agent'] });
    const bad = client(path, '{"types":["nope"]}');
    await eventually(() => bad.got.length === 1);
    expect(bad.got[0]).toMatchObject({ type: 'error' });
    expect(String(bad.got[0]?.message)).toContain('types must be a list');
    await eventually(() => listenersOf(h) === 2);

    const ring = h.get(MonitorMaps).ring();
    memoryRingPush(ring, drop(REASON.POLICY_DENIED, 3));
    memoryRingPush(ring, drop(REASON.POLICY_DENIED, 7));
    await eventually(() => drops.got.length === 1);
    expect(drops.got[0]).toMatchObject({ type: 'drop', source: 7, reason: 133 });

    const r = await call(h, 'PUT', '/endpoint/0', request(1));
    expect(r.status).toBe(201);
    const id = (r.body as { id: number }).id;
    await eventually(() => agent.got.some((e) => e.subtype === 'endpoint-created'));
    expect(agent.got.find((e) => e.subtype === 'endpoint-created')).toMatchObject({ endpoint: id });
    expect((await call(h, 'DELETE', `/endpoint/${id}`)).status).toBe(200);
    await eventually(() => agent.got.some((e) => e.subtype === 'endpoint-deleted'));
    expect(drops.got).toHaveLength(1);

    const hz = (await call(h, 'GET', '/healthz')).body as { nodeMonitor: Record<string, number> };
    const page = hz.nodeMonitor.pagesize ?? 4096;
    expect(hz.nodeMonitor).toMatchObject({ npages: (2 * 1024 * 1024) / page, lost: 0, unknown: 0 });
    drops.close();
    agent.close();
    bad.close();
    await eventually(() => listenersOf(h) === 0);
  });

  it('cuts off a client that breaks the protocol at once: no longer a listener, nothing buffered', async () => {
    const h = await start();
    const path = socketOf(h);
    const c = client(path, {});
    await eventually(() => listenersOf(h) === 1);
    let closed = false;
    c.s.on('close', () => (closed = true));
    // Garbage without a newline, for as long as the socket takes it.
    const junk = Buffer.alloc(16 * 1024, 'x');
    const spew = (): void => {
      while (!c.s.destroyed && c.s.write(junk));
      if (!c.s.destroyed) c.s.once('drain', spew);
    };
    spew();
    await eventually(() => closed);
    expect(listenersOf(h)).toBe(0);
    expect(c.got.at(-1)).toMatchObject({ type: 'error' });
    expect(String(c.got.at(-1)?.message)).toContain('longer than');

    // A bad line after a good one: cut off too, even if the client keeps its side open.
    const d = client(path, {});
    await eventually(() => listenersOf(h) === 1);
    let dClosed = false;
    d.s.on('close', () => (dClosed = true));
    d.s.write('{"types":["nope"]}\n');
    await eventually(() => dClosed);
    expect(listenersOf(h)).toBe(0);
    expect(d.got.at(-1)).toMatchObject({ type: 'error' });
  });

  it('serves at most MAX_CLIENTS clients, telling the next one why it is refused', async () => {
    const h = await start();
    const path = socketOf(h);
    const many = Array.from({ length: MAX_CLIENTS }, () => client(path, {}));
    await eventually(() => listenersOf(h) === MAX_CLIENTS);
    // One that only listens (a filter written to an agent that already refused it would fail
    // with EPIPE, taking the answer with it).
    const extra = client(path, '');
    let closed = false;
    extra.s.on('close', () => (closed = true));
    await eventually(() => closed);
    expect(extra.got[0]).toMatchObject({ type: 'error' });
    expect(String(extra.got[0]?.message)).toContain(`at most ${MAX_CLIENTS} clients`);
    expect(listenersOf(h)).toBe(MAX_CLIENTS);
    many[0]?.close();
    await eventually(() => listenersOf(h) === MAX_CLIENTS - 1);
    const next = client(path, {});
    await eventually(() => listenersOf(h) === MAX_CLIENTS);
    for (const m of [...many, next]) m.close();
    await eventually(() => listenersOf(h) === 0);
  });

  it('attributes a drop bpf_lxc could not to the endpoint now behind the interface', async () => {
    const h = await start();
    const c = client(socketOf(h), { types: ['drop'] });
    await eventually(() => listenersOf(h) === 1);
    const if2 = h.links.addVeth('lxcmon2');
    const r = await call(h, 'PUT', '/endpoint/0', { ...request(2), 'interface-name': 'lxcmon2' });
    expect(r.status).toBe(201);
    const id = (r.body as { id: number }).id;
    const ring = h.get(MonitorMaps).ring();
    const unattributed = (ifindex: number) => drop(REASON.INVALID, 0, { ifindex, src_identity: 0 });
    memoryRingPush(ring, unattributed(if2));
    await eventually(() => c.got.length === 1);
    expect(c.got[0]).toMatchObject({ source: id, ifindex: if2 });
    expect((await call(h, 'DELETE', `/endpoint/${id}`)).status).toBe(200);
    const if3 = h.links.addVeth('lxcmon3');
    const r3 = await call(h, 'PUT', '/endpoint/0', { ...request(3), 'interface-name': 'lxcmon3' });
    const id3 = (r3.body as { id: number }).id;
    memoryRingPush(ring, unattributed(if2));
    memoryRingPush(ring, unattributed(if3));
    await eventually(() => c.got.length === 3);
    expect(c.got[1]).toMatchObject({ source: 0, ifindex: if2 });
    expect(c.got[2]).toMatchObject({ source: id3, ifindex: if3 });
    c.close();
  });

  it('with nobody listening counts records by type and decodes the kept drops only when asked', async () => {
    const h = await start();
    const ifx = h.links.addVeth('lxcmon4');
    const r = await call(h, 'PUT', '/endpoint/0', { ...request(4), 'interface-name': 'lxcmon4' });
    const id = (r.body as { id: number }).id;
    const ring = h.get(MonitorMaps).ring();
    const m = h.get(Monitor);
    memoryRingPush(ring, drop(REASON.INVALID, 0, { ifindex: ifx, src_identity: 0 }));
    memoryRingPush(ring, record(MESSAGE.TRACE, { source: 3 }, { dst_endpoint: 4, reason: 1 }));
    const other = drop(REASON.INVALID, 5);
    other[monitorHdr.fields.find((f) => f.name === 'version')?.offset ?? 0] = 9;
    memoryRingPush(ring, other);
    await eventually(() => m.counts().received + m.counts().unknown === 3);
    expect(m.counts()).toMatchObject({ receivedByType: { drop: 1, trace: 1 }, unknown: 1 });
    // Attributed to the endpoint behind the interface when it was read, not when it is asked for.
    expect((await call(h, 'DELETE', `/endpoint/${id}`)).status).toBe(200);
    const drops = m.recentDrops();
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({
      type: 'drop',
      source: id,
      ifindex: ifx,
      reasonText: 'Invalid packet',
    });
    const dbg = (await call(h, 'GET', '/debuginfo')).body as { subsystem: Record<string, string> };
    expect(dbg.subsystem['policy-drops']).toContain(`xx drop (Invalid packet)`);
  });

  it('starts nothing when its socket cannot be bound: no ring reader left running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-mon-'));
    writeFileSync(join(dir, 'file'), '');
    const h = epHive(undefined, {
      extra: [policyCell, monitorCell],
      flags: { 'monitor-socket-path': join(dir, 'file', 'monitor.sock') },
    });
    hives.push(h);
    await expect(h.hive.start()).rejects.toThrow();
    // The ring as a program still writes into it (pinned: it outlives the failed start).
    const ring = openMap(eventsMapSpec(EVENTS_RING_DEFAULT), {
      backend: 'memory',
      pinDir: join(h.dir, 'bpf', 'tc', 'globals'),
    }).raw;
    memoryRingPush(ring, drop(REASON.INVALID, 1));
    // A running reader would take it on the next turn of the event loop.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(h.get(Monitor).counts().received).toBe(0);
  });

  it('drops events for a client that does not read, and tells it exactly how many', async () => {
    const h = await start({
      'monitor-queue-size': 16,
      'bpf-events-ring-size': 32 * 1024 * 1024,
    });
    const path = socketOf(h);
    const slow = client(path, {});
    await eventually(() => listenersOf(h) === 1);
    slow.s.pause();
    const N = 20_000;
    const ring = h.get(MonitorMaps).ring();
    for (let i = 0; i < N; i++) expect(memoryRingPush(ring, drop(REASON.INVALID, 9))).toBe(true);
    // Everything read from the ring (and a queue that never grew past its size).
    const status = async () =>
      ((await call(h, 'GET', '/healthz')).body as { nodeMonitor: { lost: number } }).nodeMonitor;
    await eventually(async () => (await status()).lost > 0, 20_000);
    slow.s.resume();
    const count = () => {
      let events = 0;
      let lost = 0;
      for (const e of slow.got) {
        if (e.type === 'drop') events++;
        else if (e.type === 'lost') lost += e.lost as number;
      }
      return { events, lost };
    };
    await eventually(() => count().events + count().lost === N, 20_000);
    const { events, lost } = count();
    expect(lost).toBeGreaterThan(0);
    expect(events).toBeLessThan(N);
    expect((await status()).lost).toBe(lost);
    slow.close();
  });
});
