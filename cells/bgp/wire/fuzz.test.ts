// Fuzzing the decoder: random and mutated messages through MessageReader and decodeMessage
// never throw, every error is a NOTIFICATION RFC 4271 defines, and every UPDATE accepted
// without treat-as-withdraw encodes again and decodes to the same message.
// BGP_FUZZ_SEED=<n> replays a run; BGP_FUZZ_CASES=<n> changes its length.
import { expect, it } from 'vitest';
import { Rng } from '../../../core/testing/rng.js';
import { encodeKeepalive, encodeNotification, encodeRouteRefresh } from './control.js';
import { decodeMessage } from './decode.js';
import { attr, baseAttrs, hex, msg, updateBody } from './fixtures.js';
import { MessageReader } from './message-reader.js';
import { encodeOpen } from './open.js';
import { packUpdates, packWithdrawals } from './pack.js';
import type { Decoded, PathAttrs, UpdateMsg, WireContext } from './types.js';
import { encodeEndOfRib, encodeUpdate } from './update.js';

const SEED = Number(process.env.BGP_FUZZ_SEED ?? 20261205);
const CASES = Number(process.env.BGP_FUZZ_CASES ?? 150_000);
const CTXS: readonly WireContext[] = [
  { as4: true, ibgp: false },
  { as4: false, ibgp: true },
];

/** Subcodes RFC 4271 §4.5 (and RFC 7313) define for the codes the decoder sends. */
const SUBCODES: Readonly<Record<number, readonly number[]>> = {
  1: [1, 2, 3],
  2: [0, 1, 2, 3, 4, 6, 7],
  3: [1, 2, 3, 4, 5, 6, 8, 9, 10, 11],
  7: [1],
};

const ALL: PathAttrs = {
  origin: 2,
  asPath: [
    { type: 2, asns: [65001, 4200000000] },
    { type: 1, asns: [1, 2, 70000] },
  ],
  nextHop: '192.0.2.1',
  med: 5,
  localPref: 100,
  atomicAggregate: true,
  aggregator: { asn: 4200000009, address: '192.0.2.9' },
  communities: [0xffffff01, 0xfde80064],
  largeCommunities: [[65000, 1, 2]],
  originatorId: '10.0.0.1',
  clusterList: ['10.0.0.2'],
  unknown: [{ flags: 0xe0, code: 99, value: hex('0102') }],
};

/** Valid messages to mutate, from the encoders and built by hand. */
function corpus(): Uint8Array[] {
  const out: Uint8Array[] = [encodeKeepalive(), encodeNotification(6, 2, hex('0568656c6c6f'))];
  out.push(encodeRouteRefresh('ipv4-unicast'), encodeRouteRefresh('ipv6-unicast', 2));
  out.push(encodeEndOfRib('ipv4-unicast'), encodeEndOfRib('ipv6-unicast'));
  out.push(
    encodeOpen({
      version: 4,
      myAs: 23456,
      holdTimeSec: 90,
      bgpId: '10.0.0.1',
      caps: {
        multiprotocol: ['ipv4-unicast', 'ipv6-unicast'],
        routeRefresh: true,
        as4: 4200000000,
        gracefulRestart: {
          restarting: true,
          restartTimeSec: 120,
          families: [{ family: 'ipv6-unicast', forwardingPreserved: true }],
        },
        unknown: [{ code: 73, value: hex('0568 6f73 7400') }],
      },
    }),
  );
  for (const ctx of CTXS) {
    const mp = {
      family: 'ipv6-unicast' as const,
      nextHops: ['fd00::1', 'fe80::1'],
      nlri: ['fd00:1::/64', '::/0'],
    };
    out.push(
      encodeUpdate(
        { withdrawn: ['10.9.0.0/16'], nlri: ['10.1.0.0/24', '10.2.0.0/15'], attrs: ALL },
        ctx,
      ),
    );
    out.push(encodeUpdate({ withdrawn: [], nlri: [], attrs: ALL, mpReach: mp }, ctx));
    out.push(
      encodeUpdate(
        { withdrawn: [], nlri: [], mpUnreach: { family: 'ipv6-unicast', withdrawn: ['fd00::/8'] } },
        ctx,
      ),
    );
    const routes = Array.from({ length: 40 }, (_, i) => ({
      prefix: `fd00:${i}::/48`,
      nextHop: 'fd00::1',
      attrs: ALL,
    }));
    out.push(
      ...packUpdates('ipv6-unicast', routes, ctx),
      ...packWithdrawals('ipv4-unicast', ['10.0.0.0/8'], ctx),
    );
  }
  out.push(
    msg(2, updateBody([], [...baseAttrs(), attr(0xd0, 8, hex('fde80064'))], [0x18, 10, 1, 0])),
  );
  out.push(
    msg(
      2,
      updateBody(
        [],
        [
          attr(0x40, 1, [0]),
          attr(0x40, 2, hex('02 02 fde9 5ba0')),
          attr(0x40, 3, [1, 2, 3, 4]),
          attr(0xc0, 17, hex('02 01 fa56ea00')),
        ],
        [8, 10],
      ),
    ),
  );
  return out;
}

/** Offsets of the attributes of an UPDATE message (walked leniently). */
function attrOffsets(m: Uint8Array): { start: number; end: number; offsets: number[] } | undefined {
  if (m[18] !== 2 || m.length < 23) return undefined;
  const wLen = (m[19]! << 8) | m[20]!;
  const start = 23 + wLen;
  if (start > m.length) return undefined;
  const end = Math.min(m.length, start + ((m[21 + wLen]! << 8) | (m[22 + wLen] ?? 0)));
  const offsets: number[] = [];
  for (let p = start; p + 3 <= end;) {
    offsets.push(p);
    const ext = (m[p]! & 0x10) !== 0;
    p += ext ? 4 + (((m[p + 2] ?? 0) << 8) | (m[p + 3] ?? 0)) : 3 + m[p + 2]!;
  }
  return { start, end, offsets };
}

function fixLength(m: Uint8Array): Uint8Array {
  m[16] = (m.length >> 8) & 0xff;
  m[17] = m.length & 0xff;
  return m;
}

function splice(m: Uint8Array, at: number, del: number, ins: Uint8Array): Uint8Array {
  const out = new Uint8Array(m.length - del + ins.length);
  out.set(m.subarray(0, at));
  out.set(ins, at);
  out.set(m.subarray(at + del), at + ins.length);
  return out;
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () =>
    rng.chance(0.3) ? rng.pick([0, 0xff, 1, 0x80]) : rng.int(0, 255),
  );
}

const CODES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 17, 18, 32, 99, 255];

/** One random attribute, its length often wrong for its code. */
function randomAttr(rng: Rng): Uint8Array {
  const flags = rng.pick([0x40, 0x80, 0xc0, 0xe0, 0x50, 0x90, 0xd0, 0x00, rng.int(0, 255)]);
  const code = rng.pick(CODES);
  let value = randomBytes(rng, rng.pick([0, 1, 2, 3, 4, 5, 6, 8, 12, 17, 33, rng.int(0, 300)]));
  if ((code === 14 || code === 15) && rng.chance(0.6)) {
    value = Uint8Array.from([0, rng.int(1, 2), 1, ...value]); // a plausible AFI/SAFI
  }
  const a = attr(flags & 0x10 || value.length > 255 ? flags | 0x10 : flags, code, value);
  if (rng.chance(0.2)) a[a.length > 3 && a[0]! & 0x10 ? 3 : 2] = rng.int(0, 255); // a lying length
  return a;
}

function mutate(rng: Rng, base: Uint8Array): Uint8Array {
  let m: Uint8Array = base.slice();
  for (let k = rng.int(1, 4); k > 0; k--) {
    const where = () => rng.int(Math.min(19, m.length - 1), m.length - 1);
    const at = attrOffsets(m);
    switch (
      rng.weighted({
        flip: 4,
        set: 3,
        truncate: 2,
        extend: 1,
        lengths: 3,
        splice: 4,
        dup: 2,
        drop: 2,
      })
    ) {
      case 'flip':
        if (m.length > 0) m[where()]! ^= 1 << rng.int(0, 7);
        break;
      case 'set':
        if (m.length > 0) m[where()] = rng.pick([0, 0xff, rng.int(0, 255)]);
        break;
      case 'truncate':
        m = m.slice(0, rng.int(19, m.length));
        break;
      case 'extend':
        m = splice(m, m.length, 0, randomBytes(rng, rng.int(1, 40)));
        break;
      case 'lengths': {
        // The withdrawn, total attribute or one attribute's length field, near its value.
        const fields = [19, ...(at ? [at.start - 2, ...at.offsets.map((o) => o + 2)] : [])];
        const f = rng.pick(fields);
        const i = f + (rng.chance(0.5) ? 1 : 0);
        if (i < m.length) m[i] = (m[i] ?? 0) + rng.pick([1, -1, 2, -3, 128, rng.int(0, 255)]);
        break;
      }
      case 'splice':
      case 'dup':
      case 'drop': {
        if (!at) break;
        const pos =
          at.offsets.length > 0 && rng.chance(0.8) ? rng.pick([...at.offsets, at.end]) : at.end;
        let ins: Uint8Array = randomAttr(rng);
        let del = 0;
        const op = rng.next();
        if (op < 0.33 && at.offsets.length > 0) {
          const o = rng.pick(at.offsets);
          const next = at.offsets[at.offsets.indexOf(o) + 1] ?? at.end;
          ins = m.slice(o, next); // a duplicate
        } else if (op < 0.5 && pos < at.end) {
          ins = new Uint8Array(0);
          del = (at.offsets[at.offsets.indexOf(pos) + 1] ?? at.end) - pos; // drop it
        }
        m = splice(m, pos, del, ins);
        if (rng.chance(0.9)) {
          const tl = at.start - 2;
          const v = ((m[tl]! << 8) | m[tl + 1]!) + ins.length - del;
          m[tl] = (v >> 8) & 0xff;
          m[tl + 1] = v & 0xff;
        }
        break;
      }
    }
  }
  return rng.chance(0.9) && m.length >= 19 ? fixLength(m) : m;
}

function random(rng: Rng): Uint8Array {
  const body = randomBytes(rng, rng.pick([0, 1, 2, 4, 10, 23, rng.int(0, 600)]));
  const type = rng.chance(0.9) ? rng.int(1, 5) : rng.int(0, 255);
  const m = msg(type, body);
  if (rng.chance(0.05)) m[rng.int(0, 15)] = rng.int(0, 254);
  if (rng.chance(0.1)) m[rng.chance(0.5) ? 16 : 17] = rng.int(0, 255);
  return m;
}

const sortUnknown = (u: UpdateMsg): UpdateMsg =>
  u.attrs
    ? { ...u, attrs: { ...u.attrs, unknown: [...u.attrs.unknown].sort((a, b) => a.code - b.code) } }
    : u;

/** Checks one decode result; returns what is wrong, if anything. */
function check(d: Decoded, ctx: WireContext): string | undefined {
  if (!d.ok) {
    const e = d.error;
    if (!SUBCODES[e.code]?.includes(e.subcode))
      return `invalid NOTIFICATION ${e.code}/${e.subcode}`;
    if (!(e.data instanceof Uint8Array) || e.reason === '') return 'error without data or reason';
    return undefined;
  }
  if (d.msg.type !== 'update' || d.treatAsWithdraw !== undefined) return undefined;
  let again: Uint8Array;
  try {
    again = encodeUpdate(d.msg, ctx);
  } catch (e) {
    // Only size can stop it: attributes received with needless extended lengths re-encode
    // shorter, but AS4_PATH may be added on a 2-octet session.
    if (e instanceof RangeError && /max 4096/.test(e.message)) return undefined;
    return `accepted UPDATE does not encode: ${String(e)}`;
  }
  const back = decodeMessage(2, again.subarray(19), ctx);
  if (!back.ok || back.treatAsWithdraw !== undefined)
    return `re-encoded UPDATE decodes as ${JSON.stringify(back)}`;
  // On 2-octet sessions RFC 6793 loses some paths by design: confederation segments are never
  // put in AS4_PATH, and a 2-octet AGGREGATOR (not AS_TRANS) makes the receiver ignore AS4_PATH.
  const a = d.msg.attrs;
  const lossy = (a?.asPath.some((s) => s.type > 2) ?? false) || a?.aggregator !== undefined;
  if (ctx.as4 || !lossy) expect(sortUnknown(back.msg as UpdateMsg)).toEqual(sortUnknown(d.msg));
  return undefined;
}

it(`never throws on ${CASES} random and mutated messages (seed ${SEED})`, () => {
  console.log(
    `bgp wire fuzz: seed ${SEED}, ${CASES} cases (BGP_FUZZ_SEED / BGP_FUZZ_CASES override)`,
  );
  const rng = new Rng(SEED);
  const base = corpus();
  const stats = { messages: 0, errors: 0, accepted: 0, withdrawn: 0, headerErrors: 0 };
  for (let i = 0; i < CASES; i++) {
    const input = rng.chance(0.25) ? random(rng) : mutate(rng, rng.pick(base));
    const stream = rng.chance(0.1)
      ? Uint8Array.from([...input, ...mutate(rng, rng.pick(base))])
      : input;
    try {
      const r = new MessageReader();
      const cut = rng.int(0, stream.length);
      r.push(stream.subarray(0, cut));
      r.push(stream.subarray(cut));
      for (let m = r.next(); m; m = r.next()) {
        if ('error' in m) {
          stats.headerErrors++;
          const bad = check({ ok: false, error: m.error }, CTXS[0]!);
          if (bad) throw new Error(bad);
          break;
        }
        stats.messages++;
        for (const ctx of CTXS) {
          const d = decodeMessage(m.type, m.body, ctx);
          if (d.ok) stats.accepted++;
          else stats.errors++;
          if (d.ok && d.treatAsWithdraw) stats.withdrawn++;
          const bad = check(d, ctx);
          if (bad) throw new Error(bad);
        }
      }
    } catch (e) {
      const text = Buffer.from(stream).toString('hex');
      throw new Error(
        `case ${i} (seed ${SEED}): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\ninput ${text}`,
      );
    }
  }
  console.log(`bgp wire fuzz: ${JSON.stringify(stats)}`);
  // The mutations reach every outcome, or the fuzzer tests little.
  expect(stats.accepted).toBeGreaterThan(CASES / 10);
  expect(stats.errors).toBeGreaterThan(CASES / 10);
  expect(stats.withdrawn).toBeGreaterThan(CASES / 100);
  expect(stats.headerErrors).toBeGreaterThan(CASES / 100);
});
