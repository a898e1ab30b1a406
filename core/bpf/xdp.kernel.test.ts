// XDP attach, query and detach through libbpf on a veth pair of the test's own (unique names,
// deleted when the test finishes), in both modes.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../testing/kernel.js';
import { BpfError } from './errors.js';
import { loadObject, ifIndex } from './object.js';
import { XDP_MODES, xdpAttach, xdpDetach, xdpQuery } from './xdp.js';

const OBJECT =
  process.env.CELLIUM_BPF_XDP_OBJECT ||
  join(fileURLToPath(new URL('../..', import.meta.url)), 'datapath-c', 'build', 'bpf_xdp.o');

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

kernelSuite('XDP through libbpf', { objects: [OBJECT], commands: ['ip'] }, () => {
  it.each(XDP_MODES)('attaches, replaces, queries and detaches in %s mode', (mode) => {
    const name = `cxdp${randomBytes(3).toString('hex')}`;
    ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
    onTestFinished(() => {
      try {
        ip('link', 'del', name);
      } catch {
        // already gone
      }
    });
    const dev = { name, ifindex: ifIndex(name) };
    const a = loadObject(OBJECT, []);
    const b = loadObject(OBJECT, []);
    onTestFinished(() => {
      a.close();
      b.close();
    });
    expect(xdpQuery(dev, mode)).toBeUndefined();
    xdpAttach(dev, a.program('cil_xdp_entry'), mode);
    const first = xdpQuery(dev, mode);
    expect(first).toBeGreaterThan(0);
    expect(ip('-d', 'link', 'show', name)).toMatch(
      mode === 'native' ? /\bxdp\b/ : /\bxdpgeneric\b/,
    );
    // Replacing in the same mode is one step; the other mode is refused while one is attached.
    xdpAttach(dev, b.program('cil_xdp_entry'), mode);
    const second = xdpQuery(dev, mode);
    expect(second).not.toBe(first);
    const otherMode = mode === 'native' ? 'generic' : 'native';
    const err = (() => {
      try {
        xdpAttach(dev, a.program('cil_xdp_entry'), otherMode);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(BpfError);
    expect((err as BpfError).message).toContain(name);
    expect((err as BpfError).message).toContain('other mode');
    xdpDetach(dev, mode);
    expect(xdpQuery(dev, mode)).toBeUndefined();
    xdpDetach(dev, mode); // nothing attached is fine
  });

  it('names the device and errno when attaching to a device that is gone', () => {
    const obj = loadObject(OBJECT, []);
    onTestFinished(() => obj.close());
    const dev = { name: 'cxdp-gone', ifindex: 0x7ffffff0 };
    // A query finds nothing there; an attach says why it cannot.
    expect(xdpQuery(dev, 'generic')).toBeUndefined();
    expect(() => xdpAttach(dev, obj.program('cil_xdp_entry'), 'generic')).toThrow(
      /attach XDP \(generic\) to link cxdp-gone \(ifindex 2147483632\).*ENODEV.*no such device/,
    );
  });
});
