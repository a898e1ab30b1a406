import { describe, expect, it } from 'vitest';
import type { OpenMsg } from '../wire/types.js';
import { neighbor } from './fixtures.js';
import { AS_TRANS, buildOpen, checkOpen, compareBgpId } from './open.js';
import type { NeighborConfig } from './types.js';

const cfg: NeighborConfig = neighbor({
  address: '10.0.0.1',
  port: 179,
  localAsn: 4200000001,
  connectRetrySec: 120,
  holdTimeSec: 90,
  keepaliveSec: 30,
  gracefulRestart: { enabled: true, restartTimeSec: 120 },
});

function open(o: Partial<OpenMsg> = {}, caps: Partial<OpenMsg['caps']> = {}): OpenMsg {
  return {
    type: 'open',
    version: 4,
    myAs: 65000,
    holdTimeSec: 9,
    bgpId: '10.0.0.1',
    ...o,
    caps: { multiprotocol: ['ipv4-unicast'], routeRefresh: true, unknown: [], ...caps },
  };
}

describe('buildOpen', () => {
  it('sends AS_TRANS and the real AS in the 4-octet capability; GR with R and F bits', () => {
    const o = buildOpen(cfg, '10.0.0.2', true);
    expect(o.myAs).toBe(AS_TRANS);
    expect(o.caps.as4).toBe(4200000001);
    expect(o.caps.multiprotocol).toEqual(['ipv4-unicast', 'ipv6-unicast']);
    expect(o.caps.gracefulRestart).toEqual({
      restarting: true,
      restartTimeSec: 120,
      families: [
        { family: 'ipv4-unicast', forwardingPreserved: true },
        { family: 'ipv6-unicast', forwardingPreserved: true },
      ],
    });
  });

  it('sends a 2-octet AS as is, and no GR capability when disabled', () => {
    const o = buildOpen(
      { ...cfg, localAsn: 65001, gracefulRestart: { enabled: false, restartTimeSec: 0 } },
      '1.1.1.1',
      false,
    );
    expect(o.myAs).toBe(65001);
    expect(o.caps.gracefulRestart).toBeUndefined();
  });
});

describe('checkOpen', () => {
  it('negotiates the lower hold time, keepalive hold/3 and the common families', () => {
    const r = checkOpen(open({}, { as4: 65000 }), cfg, '10.0.0.2');
    expect(r.ok && r.neg).toMatchObject({
      holdSec: 9,
      keepaliveSec: 3,
      families: ['ipv4-unicast'],
      as4: true,
      ibgp: false,
      gracefulRestart: false,
    });
  });

  it('implies IPv4 unicast when the peer sends no multiprotocol capability', () => {
    const r = checkOpen(open({ holdTimeSec: 0 }, { multiprotocol: [] }), cfg, '10.0.0.2');
    expect(r.ok && r.neg).toMatchObject({
      families: ['ipv4-unicast'],
      holdSec: 0,
      keepaliveSec: 0,
    });
  });

  it.each([
    [open({ version: 3 }), 1, [0, 4]],
    [open({ myAs: 65009 }), 2, []],
    [open({ myAs: AS_TRANS }, { as4: 65009 }), 2, []],
    [open({ myAs: 65000 }, { as4: 4200000000 }), 2, []],
    [open({ holdTimeSec: 2 }), 6, []],
    [open({ holdTimeSec: 1 }), 6, []],
    [open({ bgpId: '0.0.0.0' }), 3, []],
    [open({ bgpId: '10.0.0.2' }), 3, []],
  ])('refuses a bad OPEN with 2/x (%#)', (m, subcode, data) => {
    const r = checkOpen(m, cfg, '10.0.0.2');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect([r.error.code, r.error.subcode]).toEqual([2, subcode]);
      expect([...r.error.data]).toEqual(data);
      expect(r.error.reason).not.toBe('');
    }
  });

  it('negotiates graceful restart only when both sides send it', () => {
    const gr = { restarting: false, restartTimeSec: 30, families: [] };
    const r = checkOpen(open({}, { gracefulRestart: gr }), cfg, '10.0.0.2');
    expect(r.ok && r.neg.gracefulRestart).toBe(true);
    const off = { ...cfg, gracefulRestart: { enabled: false, restartTimeSec: 0 } };
    const r2 = checkOpen(open({}, { gracefulRestart: gr }), off, '10.0.0.2');
    expect(r2.ok && r2.neg.gracefulRestart).toBe(false);
  });
});

describe('compareBgpId', () => {
  it('compares as unsigned 32-bit numbers', () => {
    expect(compareBgpId('200.0.0.1', '10.0.0.1')).toBeGreaterThan(0);
    expect(compareBgpId('1.0.0.9', '1.0.1.0')).toBeLessThan(0);
    expect(compareBgpId('1.2.3.4', '1.2.3.4')).toBe(0);
  });
});
