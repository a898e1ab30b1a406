// cgroup attach, query and detach through libbpf on a cgroup of the test's own (a unique name
// under the cgroup v2 mount, removed when the test finishes), with bpf_sock's programs.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../testing/kernel.js';
import { BpfError } from './errors.js';
import { cgroupAttach, cgroupDetach, cgroupPrograms, cgroupV2Mount } from './cgroup.js';
import { loadObject } from './object.js';

const OBJECT =
  process.env.CELLIUM_BPF_SOCK_OBJECT ||
  join(fileURLToPath(new URL('../..', import.meta.url)), 'datapath-c', 'build', 'bpf_sock.o');

/** A fresh cgroup, removed (with whatever is still attached to it) when the test finishes. */
function testCgroup(root: string): string {
  const path = join(root, `cellium-test-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(path);
  onTestFinished(() => rmdirSync(path));
  return path;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

kernelSuite('cgroup programs through libbpf', { objects: [OBJECT], cgroup2: true }, () => {
  const root = cgroupV2Mount() ?? '';

  it('attaches (returning the program id), lists, coexists with another, and detaches idempotently', () => {
    const cg = testCgroup(root);
    const a = loadObject(OBJECT);
    const b = loadObject(OBJECT);
    onTestFinished(() => {
      a.close();
      b.close();
    });
    expect(cgroupPrograms(cg, 'connect4')).toEqual([]);

    const first = cgroupAttach(cg, 'connect4', a.program('cil_sock4_connect'));
    expect(first).toBeGreaterThan(0);
    onTestFinished(() => cgroupDetach(cg, 'connect4', first));
    expect(cgroupPrograms(cg, 'connect4')).toEqual([first]);

    // BPF_F_ALLOW_MULTI: a second program sits beside the first, in attach order.
    const second = cgroupAttach(cg, 'connect4', b.program('cil_sock4_connect'));
    onTestFinished(() => cgroupDetach(cg, 'connect4', second));
    expect(second).not.toBe(first);
    expect(cgroupPrograms(cg, 'connect4')).toEqual([first, second]);
    // Other hooks of the cgroup are their own lists.
    expect(cgroupPrograms(cg, 'connect6')).toEqual([]);

    // The same program twice is refused; so is a program loaded for another hook.
    const twice = thrown(() => cgroupAttach(cg, 'connect4', a.program('cil_sock4_connect')));
    expect(twice).toBeInstanceOf(BpfError);
    expect((twice as BpfError).code).toBe('EINVAL');
    expect(cgroupPrograms(cg, 'connect4')).toEqual([first, second]);
    const wrong = thrown(() => cgroupAttach(cg, 'sendmsg4', a.program('cil_sock4_connect')));
    expect(wrong).toBeInstanceOf(BpfError);
    expect((wrong as BpfError).code).toBe('EINVAL');
    expect((wrong as BpfError).message).toContain(cg);

    cgroupDetach(cg, 'connect4', first);
    expect(cgroupPrograms(cg, 'connect4')).toEqual([second]);
    cgroupDetach(cg, 'connect4', first); // twice: nothing to do
    cgroupDetach(cg, 'connect4', second);
    expect(cgroupPrograms(cg, 'connect4')).toEqual([]);
  });

  it('attaches all eight socket LB programs to their hooks', () => {
    const cg = testCgroup(root);
    const obj = loadObject(OBJECT);
    onTestFinished(() => obj.close());
    const hooks = [
      ['connect4', 'cil_sock4_connect'],
      ['sendmsg4', 'cil_sock4_sendmsg'],
      ['recvmsg4', 'cil_sock4_recvmsg'],
      ['getpeername4', 'cil_sock4_getpeername'],
      ['connect6', 'cil_sock6_connect'],
      ['sendmsg6', 'cil_sock6_sendmsg'],
      ['recvmsg6', 'cil_sock6_recvmsg'],
      ['getpeername6', 'cil_sock6_getpeername'],
    ] as const;
    const ids = hooks.map(([hook, prog]) => {
      const id = cgroupAttach(cg, hook, obj.program(prog));
      onTestFinished(() => cgroupDetach(cg, hook, id));
      return id;
    });
    expect(new Set(ids).size).toBe(8);
    for (const [i, [hook]] of hooks.entries()) expect(cgroupPrograms(cg, hook)).toEqual([ids[i]]);
  });

  it('detaching from a cgroup that is gone is fine', () => {
    const cg = join(root, `cellium-test-${process.pid}-${randomBytes(3).toString('hex')}`);
    mkdirSync(cg);
    const obj = loadObject(OBJECT);
    onTestFinished(() => obj.close());
    let removed = false;
    onTestFinished(() => {
      if (!removed) rmdirSync(cg);
    });
    const id = cgroupAttach(cg, 'getpeername6', obj.program('cil_sock6_getpeername'));
    rmdirSync(cg);
    removed = true;
    expect(() => cgroupDetach(cg, 'getpeername6', id)).not.toThrow();
  });
});
