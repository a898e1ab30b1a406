import { describe, expect, it } from 'vitest';
import { encodeIp, ipKey, IpValueError, parseIpValue, type IpIdentityPair } from './ip-value.js';

function value(over: Partial<Record<keyof IpIdentityPair, unknown>> = {}): string {
  return JSON.stringify({
    IP: '10.1.0.7',
    Mask: null,
    HostIP: '192.168.0.2',
    ID: 4711,
    Key: 0,
    Metadata: '',
    K8sNamespace: 'shop',
    K8sPodName: 'cart',
    ...over,
  });
}

describe('kvstore ipcache values (Cilium identity.IPIdentityPair)', () => {
  it("writes an endpoint's IP as Cilium does: a host IP has a null Mask", () => {
    expect(ipKey('10.1.0.7')).toBe('cilium/state/ip/v1/default/10.1.0.7');
    expect(
      JSON.parse(
        encodeIp({
          ip: '10.1.0.7',
          hostIP: '192.168.0.2',
          identity: 4711,
          encryptKey: 0,
          namespace: 'shop',
          name: 'cart',
        }),
      ),
    ).toEqual({
      IP: '10.1.0.7',
      Mask: null,
      HostIP: '192.168.0.2',
      ID: 4711,
      Key: 0,
      Metadata: '',
      K8sNamespace: 'shop',
      K8sPodName: 'cart',
    });
  });

  it('reads entries back as ipcache rows, CIDRs with their mask', () => {
    expect(parseIpValue(ipKey('10.1.0.7'), value())).toEqual({
      prefix: '10.1.0.7/32',
      identity: 4711,
      hostIP: '192.168.0.2',
      encryptKey: 0,
      namespace: 'shop',
      name: 'cart',
    });
    expect(
      parseIpValue(
        ipKey('fd00::7'),
        value({
          IP: 'fd00:0::7',
          Mask: Buffer.alloc(16, 255).toString('base64'),
          HostIP: 'fd99::2',
          K8sNamespace: '',
          K8sPodName: undefined,
        }),
      ),
    ).toEqual({ prefix: 'fd00::7/128', identity: 4711, hostIP: 'fd99::2', encryptKey: 0 });
    expect(
      parseIpValue(ipKey('10.2.0.0'), value({ IP: '10.2.0.0', Mask: '//8AAA==' })).prefix,
    ).toBe('10.2.0.0/16');
  });

  it.each([
    ['{', 'not JSON'],
    ['"x"', 'not a JSON object'],
    [value({ IP: '10.1.0.8' }), "IP 10.1.0.8 is not the key's 10.1.0.7"],
    [value({ IP: 'banana' }), 'IP: "banana" is not an IP address'],
    [value({ Mask: 'AAAA' }), 'is not a prefix mask'],
    [value({ Mask: '/wD/AA==' }), 'is not a prefix mask'],
    [value({ Mask: 5 }), 'Mask: must be base64 or null'],
    [value({ ID: 0 }), 'ID: 0 is not an identity'],
    [value({ ID: 1 << 24 }), 'ID: 16777216 is not an identity'],
    [value({ ID: '4711' }), 'ID: "4711" is not an identity'],
    [value({ ID: 1.5 }), 'ID: 1.5'],
    [value({ HostIP: 'node-a' }), 'HostIP: "node-a" is not an IP address'],
    [value({ HostIP: undefined }), 'HostIP: undefined is not an IP address'],
    [value({ Key: 256 }), 'Key: 256 is not a key index'],
    [value({ K8sPodName: { a: 1 } }), 'K8sPodName: must be a short string'],
  ])('refuses %s', (text, reason) => {
    expect(() => parseIpValue(ipKey('10.1.0.7'), text)).toThrow(IpValueError);
    expect(() => parseIpValue(ipKey('10.1.0.7'), text)).toThrow(reason);
  });

  it('refuses keys that are not <prefix><space>/<ip>', () => {
    for (const k of [
      'cilium/state/ip/v1/10.1.0.7',
      'cilium/state/ip/v1/default/x',
      'cilium/state/ip/v1//10.1.0.7',
    ]) {
      expect(() => parseIpValue(k, value())).toThrow(IpValueError);
    }
  });
});
