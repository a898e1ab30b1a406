import { describe, expect, it } from 'vitest';
import { be16, cat, hex, msg } from './fixtures.js';
import { MessageReader } from './message-reader.js';

const KEEPALIVE = msg(4, new Uint8Array(0));

describe('MessageReader', () => {
  it('splits a stream fed byte by byte and in large chunks into messages', () => {
    const notif = msg(3, hex('0602'));
    const stream = cat(KEEPALIVE, notif, KEEPALIVE);
    const one = new MessageReader();
    const got: { type: number; body: number[] }[] = [];
    for (const b of stream) {
      one.push(Uint8Array.of(b));
      for (let m = one.next(); m; m = one.next()) {
        if ('error' in m) throw new Error(m.error.reason);
        got.push({ type: m.type, body: [...m.body] });
      }
    }
    expect(got).toEqual([
      { type: 4, body: [] },
      { type: 3, body: [6, 2] },
      { type: 4, body: [] },
    ]);
    const whole = new MessageReader();
    whole.push(stream);
    expect(whole.next()).toEqual({ type: 4, body: new Uint8Array(0) });
    expect(whole.next()).toEqual({ type: 3, body: hex('0602') });
    expect(whole.next()).toEqual({ type: 4, body: new Uint8Array(0) });
    expect(whole.next()).toBeUndefined();
  });

  it('waits for the rest of a message and keeps bytes across buffer growth', () => {
    const big = msg(2, new Uint8Array(4000));
    const r = new MessageReader();
    for (let i = 0; i < 5; i++) {
      r.push(big.subarray(0, 100));
      expect(r.next()).toBeUndefined();
      r.push(big.subarray(100));
      const m = r.next();
      expect(m && 'type' in m && m.body.length).toBe(4000);
    }
  });

  it('answers a bad marker with 1/1 and no data, then keeps answering it', () => {
    const r = new MessageReader();
    const bad = KEEPALIVE.slice();
    bad[7] = 0xfe;
    r.push(bad);
    const e = { code: 1, subcode: 1, data: new Uint8Array(0), reason: 'bad marker' };
    expect(r.next()).toEqual({ error: e });
    r.push(KEEPALIVE);
    expect(r.next()).toEqual({ error: e });
  });

  it.each([
    ['below the header', 4, 18],
    ['above 4096', 2, 4097],
    ['a short OPEN', 1, 28],
    ['a short UPDATE', 2, 22],
    ['a KEEPALIVE with a body', 4, 20],
    ['a short NOTIFICATION', 3, 20],
    ['a short ROUTE-REFRESH', 5, 22],
    ['a long ROUTE-REFRESH', 5, 24],
  ])('answers %s with 1/2 and the length as data', (_what, type, len) => {
    const r = new MessageReader();
    r.push(cat(new Array<number>(16).fill(0xff), be16(len), type));
    const m = r.next();
    expect(m && 'error' in m && m.error).toMatchObject({
      code: 1,
      subcode: 2,
      data: Uint8Array.from(be16(len)),
    });
  });

  it.each([0, 6, 255])('answers type %i with 1/3 and the type as data', (type) => {
    const r = new MessageReader();
    r.push(cat(new Array<number>(16).fill(0xff), be16(19), type));
    const m = r.next();
    expect(m && 'error' in m && m.error).toMatchObject({
      code: 1,
      subcode: 3,
      data: Uint8Array.of(type),
    });
  });

  it('accepts the boundary lengths of each type', () => {
    const r = new MessageReader();
    r.push(msg(1, new Uint8Array(10)));
    r.push(msg(2, new Uint8Array(4)));
    r.push(msg(3, new Uint8Array(2)));
    r.push(msg(5, new Uint8Array(4)));
    r.push(msg(2, new Uint8Array(4096 - 19)));
    const types: number[] = [];
    for (let m = r.next(); m; m = r.next()) {
      if ('error' in m) throw new Error(m.error.reason);
      types.push(m.type);
    }
    expect(types).toEqual([1, 2, 3, 5, 2]);
  });
});
