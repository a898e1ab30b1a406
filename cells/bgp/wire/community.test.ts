import { describe, expect, it } from 'vitest';
import {
  formatCommunity,
  formatLargeCommunity,
  parseCommunity,
  parseLargeCommunity,
} from './community.js';

describe('communities', () => {
  it('parses and formats asn:value', () => {
    expect(parseCommunity('65000:100')).toBe(0xfde80064);
    expect(parseCommunity('0:0')).toBe(0);
    expect(parseCommunity('65535:65535')).toBe(0xffffffff);
    expect(formatCommunity(0xfde80064)).toBe('65000:100');
    expect(formatCommunity(0xffffff01)).toBe('65535:65281');
  });

  it.each([
    ['no-export', 0xffffff01],
    ['no-advertise', 0xffffff02],
    ['no-export-subconfed', 0xffffff03],
    ['no-peer', 0xffffff04],
    ['blackhole', 0xffff029a],
    ['graceful-shutdown', 0xffff0000],
    ['No-Export', 0xffffff01],
  ])('knows the well-known %s', (name, value) => {
    expect(parseCommunity(name)).toBe(value);
  });

  it.each(['65536:1', '1:65536', '1', '1:2:3', 'a:b', '-1:2', '1:', 'no-exports', '1.5:2'])(
    'refuses %j, naming it',
    (bad) => {
      expect(() => parseCommunity(bad)).toThrow(new RegExp(`'${bad}'`));
    },
  );

  it('parses and formats large communities', () => {
    expect(parseLargeCommunity('4200000000:1:4294967295')).toEqual([4200000000, 1, 4294967295]);
    expect(formatLargeCommunity([65000, 1, 2])).toBe('65000:1:2');
    for (const bad of ['1:2', '1:2:3:4', '4294967296:1:1', '1:x:1', '::']) {
      expect(() => parseLargeCommunity(bad)).toThrow(new RegExp(`'${bad}'`));
    }
  });
});
