import { describe, expect, it } from 'vitest';
import { decodeMessage } from './decode.js';
import { cat, hex, msg } from './fixtures.js';
import { encodeOpen } from './open.js';
import type { OpenMsg } from './types.js';

const ctx = { as4: true, ibgp: false };

// An OPEN as gobgpd sends it (RFC 4271 §4.2, RFC 5492): each capability in its own optional
// parameter — MP IPv4 and IPv6 unicast (RFC 4760), route refresh (RFC 2918), graceful restart
// with R set, 120 s, both families forwarding (RFC 4724), 4-octet AS 65001 (RFC 6793).
const GOBGP_OPEN = hex(`
  ffffffffffffffffffffffffffffffff 0047 01
  04 fde9 005a 0a000001 2a
  02 06 01 04 0001 00 01
  02 06 01 04 0002 00 01
  02 02 02 00
  02 0c 40 0a 8078 0001 01 80 0002 01 80
  02 06 41 04 0000fde9
`);

const OPEN: OpenMsg = {
  type: 'open',
  version: 4,
  myAs: 65001,
  holdTimeSec: 90,
  bgpId: '10.0.0.1',
  caps: {
    multiprotocol: ['ipv4-unicast', 'ipv6-unicast'],
    routeRefresh: true,
    gracefulRestart: {
      restarting: true,
      restartTimeSec: 120,
      families: [
        { family: 'ipv4-unicast', forwardingPreserved: true },
        { family: 'ipv6-unicast', forwardingPreserved: true },
      ],
    },
    as4: 65001,
    unknown: [],
  },
};

function decodeOpen(body: Uint8Array) {
  return decodeMessage(1, body, ctx);
}

describe('OPEN', () => {
  it('encodes byte for byte as the RFC layout and decodes back', () => {
    expect(encodeOpen(OPEN)).toEqual(GOBGP_OPEN);
    expect(decodeOpen(GOBGP_OPEN.subarray(19))).toEqual({ ok: true, msg: OPEN });
  });

  it('reads all capabilities in one parameter (as bird sends them), Cisco route refresh and unknown ones', () => {
    const caps = hex('01 04 0001 00 01  80 00  41 04 fa56ea00  46 00  01 04 0019 00 46');
    const body = cat(hex('04 5ba0 00b4 c0000201'), caps.length + 2, 2, caps.length, caps);
    expect(decodeOpen(body)).toEqual({
      ok: true,
      msg: {
        type: 'open',
        version: 4,
        myAs: 23456,
        holdTimeSec: 180,
        bgpId: '192.0.2.1',
        caps: {
          multiprotocol: ['ipv4-unicast'],
          routeRefresh: true,
          as4: 4200000000,
          unknown: [
            { code: 70, value: new Uint8Array(0) },
            { code: 1, value: hex('0019 00 46') },
          ],
        },
      },
    });
  });

  it('round-trips no capabilities, GR without families and unknown capabilities', () => {
    const m: OpenMsg = {
      ...OPEN,
      holdTimeSec: 0,
      caps: {
        multiprotocol: [],
        routeRefresh: false,
        gracefulRestart: { restarting: false, restartTimeSec: 4095, families: [] },
        unknown: [{ code: 73, value: hex('0568 6f73 7400') }],
      },
    };
    const bytes = encodeOpen(m);
    expect(decodeOpen(bytes.subarray(19))).toEqual({ ok: true, msg: m });
    expect(
      decodeOpen(
        encodeOpen({ ...m, caps: { ...m.caps, gracefulRestart: undefined } }).subarray(19),
      ),
    ).toMatchObject({ ok: true, msg: { caps: { unknown: m.caps.unknown } } });
  });

  it.each([
    ['version 3', '03 fde9 005a 0a000001 00', 2, 1, '0004'],
    ['hold time 2', '04 fde9 0002 0a000001 00', 2, 6, ''],
    ['BGP identifier 0.0.0.0', '04 fde9 005a 00000000 00', 2, 3, ''],
    ['an optional parameter of type 1', '04 fde9 005a 0a000001 04 01 02 0000', 2, 4, ''],
    [
      'optional parameters longer than the message',
      '04 fde9 005a 0a000001 05 02 02 0200',
      2,
      0,
      '',
    ],
    ['a parameter running past the end', '04 fde9 005a 0a000001 03 02 05 02', 2, 0, ''],
    ['a capability running past its parameter', '04 fde9 005a 0a000001 04 02 02 4104', 2, 0, ''],
    ['a 4-octet AS capability of length 2', '04 fde9 005a 0a000001 06 02 04 4102 fde9', 2, 0, ''],
    ['an MP capability of length 3', '04 fde9 005a 0a000001 07 02 05 0103 000100', 2, 0, ''],
    ['a GR capability of length 3', '04 fde9 005a 0a000001 07 02 05 4003 000100', 2, 0, ''],
    ['a route refresh capability of length 1', '04 fde9 005a 0a000001 05 02 03 020100', 2, 0, ''],
    ['a body of 9 bytes', '04 fde9 005a 0a000001', 1, 2, '001c'],
  ])('answers %s with %i/%i', (_what, body, code, subcode, data) => {
    const d = decodeOpen(hex(body));
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatchObject({ code, subcode, data: hex(data) });
  });

  it('refuses to encode what does not fit its field, naming it', () => {
    expect(() => encodeOpen({ ...OPEN, bgpId: 'router-1' })).toThrow(/BGP identifier 'router-1'/);
    expect(() => encodeOpen({ ...OPEN, myAs: 70000 })).toThrow(
      /my AS \(AS_TRANS 23456 for a 4-octet AS\) 70000/,
    );
    const gr = { restarting: false, restartTimeSec: 5000, families: [] };
    expect(() => encodeOpen({ ...OPEN, caps: { ...OPEN.caps, gracefulRestart: gr } })).toThrow(
      /graceful restart time 5000/,
    );
  });
});

it('msg() builds the same header as the encoder', () => {
  expect(msg(1, GOBGP_OPEN.subarray(19))).toEqual(GOBGP_OPEN);
});
