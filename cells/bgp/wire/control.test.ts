import { describe, expect, it } from 'vitest';
import { encodeKeepalive, encodeNotification, encodeRouteRefresh } from './control.js';
import { decodeMessage } from './decode.js';
import { hex } from './fixtures.js';

const ctx = { as4: true, ibgp: false };
const MARKER = 'ffffffffffffffffffffffffffffffff';

describe('KEEPALIVE, NOTIFICATION, ROUTE-REFRESH', () => {
  it('encodes a KEEPALIVE as the 19-byte header, a fresh copy each time', () => {
    const k = encodeKeepalive();
    expect(k).toEqual(hex(`${MARKER} 0013 04`));
    k[0] = 0;
    expect(encodeKeepalive()[0]).toBe(0xff);
    expect(decodeMessage(4, new Uint8Array(0), ctx)).toEqual({
      ok: true,
      msg: { type: 'keepalive' },
    });
  });

  it('encodes and decodes a NOTIFICATION with and without data', () => {
    expect(encodeNotification(6, 2)).toEqual(hex(`${MARKER} 0015 03 06 02`));
    expect(encodeNotification(1, 2, hex('0012'))).toEqual(hex(`${MARKER} 0017 03 01 02 0012`));
    expect(decodeMessage(3, hex('030b'), ctx)).toEqual({
      ok: true,
      msg: { type: 'notification', code: 3, subcode: 11, data: new Uint8Array(0) },
    });
    expect(decodeMessage(3, hex('0602 0568656c6c6f'), ctx)).toEqual({
      ok: true,
      msg: { type: 'notification', code: 6, subcode: 2, data: hex('0568656c6c6f') },
    });
  });

  it('encodes a ROUTE-REFRESH per family (RFC 2918 §3) and decodes unknown families without one', () => {
    expect(encodeRouteRefresh('ipv4-unicast')).toEqual(hex(`${MARKER} 0017 05 0001 00 01`));
    expect(encodeRouteRefresh('ipv6-unicast', 1)).toEqual(hex(`${MARKER} 0017 05 0002 01 01`));
    expect(decodeMessage(5, hex('0002 00 01'), ctx)).toEqual({
      ok: true,
      msg: { type: 'route-refresh', family: 'ipv6-unicast', afi: 2, safi: 1, subtype: 0 },
    });
    expect(decodeMessage(5, hex('0001 02 80'), ctx)).toEqual({
      ok: true,
      msg: { type: 'route-refresh', family: undefined, afi: 1, safi: 128, subtype: 2 },
    });
  });

  it.each([
    [4, '00', '0014'],
    [3, '06', '0014'],
    [5, '000100', '0016'],
    [2, '000000', '0016'],
  ])('answers a type %i body of bad length with 1/2 and the message length', (type, body, data) => {
    expect(decodeMessage(type, hex(body), ctx)).toMatchObject({
      ok: false,
      error: { code: 1, subcode: 2, data: hex(data) },
    });
  });

  it('answers an unknown type with 1/3 and the type', () => {
    expect(decodeMessage(9, new Uint8Array(0), ctx)).toMatchObject({
      ok: false,
      error: { code: 1, subcode: 3, data: hex('09') },
    });
  });

  it('refuses to encode a code or family that does not exist', () => {
    expect(() => encodeNotification(256, 0)).toThrow(/error code 256/);
    expect(() => encodeRouteRefresh('l2vpn-evpn' as 'ipv4-unicast')).toThrow(
      /'l2vpn-evpn' is not a family/,
    );
  });
});
