import { describe, expect, it } from 'vitest';
import { moduleUrl, runTs } from '../testing/child.js';
import {
  describe as describeValue,
  FfiArgumentError,
  guardFfi,
  parseSignature,
  type FfiDecl,
  type FfiTypes,
} from './ffi-guard.js';
import { DECLARATIONS, libbpf, libbpfStatus } from './libbpf.js';

const types: FfiTypes = {
  structs: new Map([
    ['hook', { size: 16, fields: { sz: 'size_t', ifindex: 'int', name: 'char[8]', p: 'void *' } }],
  ]),
  opaques: new Set(['thing']),
  aliases: new Map([['socklen_t', 'uint32_t']]),
};

/** Binds `sig` to a stand-in that records its calls, so a refused call is visibly never made. */
function bindFake(sig: string, hints?: FfiDecl['hints']) {
  const calls: unknown[][] = [];
  const fn = guardFfi({ sig, ...(hints ? { hints } : {}) }, types, (...args: never[]) => {
    calls.push(args);
    return 0;
  }) as (...args: unknown[]) => unknown;
  return { fn, calls };
}

function refusal(f: () => unknown): FfiArgumentError {
  try {
    f();
  } catch (e) {
    if (e instanceof FfiArgumentError) return e;
    throw e;
  }
  throw new Error('the call was not refused');
}

describe('parseSignature', () => {
  it('reads names, normalised types and directions', () => {
    expect(
      parseSignature('const char *f(const void *key, _Out_ info_t *info, _Inout_ uint32_t *len)'),
    ).toEqual({
      name: 'f',
      ret: 'char *',
      params: [
        { name: 'key', type: 'void *', dir: 'in' },
        { name: 'info', type: 'info_t *', dir: 'out' },
        { name: 'len', type: 'uint32_t *', dir: 'inout' },
      ],
    });
    expect(parseSignature('int g()').params).toEqual([]);
    expect(parseSignature('int g(void)').params).toEqual([]);
  });

  it('refuses unnamed parameters (errors must name them)', () => {
    expect(() => parseSignature('int f(int)')).toThrow(/needs a type and a name/);
    expect(() => parseSignature('not a signature')).toThrow(/cannot parse/);
  });
});

describe('guardFfi', () => {
  it('names the function, the parameter and what it got (the if_nametoindex case)', () => {
    const { fn, calls } = bindFake('unsigned int if_nametoindex(const char *name)', {
      name: { maxBytes: 15 },
    });
    const e = refusal(() => fn(12345));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toBe(
      'if_nametoindex: name must be a string of at most 15 bytes without NUL, got number 12345',
    );
    expect([e.fn, e.param]).toEqual(['if_nametoindex', 'name']);
    expect(calls).toEqual([]);
    fn('eth0');
    expect(calls).toEqual([['eth0']]);
  });

  it('strings: JS strings only, no NUL, within the byte limit', () => {
    const { fn, calls } = bindFake('int f(const char *name)', { name: { maxBytes: 15 } });
    fn('a'.repeat(15));
    for (const bad of [
      null,
      undefined,
      1.5,
      12345n,
      {},
      ['lo'],
      Buffer.from('lo\0'),
      'lo\0x',
      'a'.repeat(16),
      'ä'.repeat(8), // 8 characters, 16 bytes
    ])
      expect(() => fn(bad), describeValue(bad)).toThrow(FfiArgumentError);
    fn('ä'.repeat(7));
    expect(calls.length).toBe(2);
    expect(refusal(() => fn('lo\0x')).message).toContain('string "lo\\u0000x" (4 bytes, with NUL)');
    const { fn: anyLen } = bindFake('int f(const char *path)');
    anyLen('x'.repeat(10_000));
    expect(refusal(() => anyLen(undefined)).message).toBe(
      'f: path must be a string without NUL, got undefined',
    );
  });

  it('ints: safe integers within the C type, no strings, no fractions', () => {
    const { fn, calls } = bindFake('int f(int fd, uint32_t n, uint16_t s)');
    fn(-(2 ** 31), 2 ** 32 - 1, 65535);
    for (const [fd, n, s] of [
      [2 ** 31, 0, 0],
      [1.5, 0, 0],
      [NaN, 0, 0],
      ['5', 0, 0],
      [5n, 0, 0],
      [undefined, 0, 0],
      [0, -1, 0],
      [0, 2 ** 32, 0],
      [0, 0, 65536],
      [0, 0, -1],
    ])
      expect(() => fn(fd, n, s), `${fd} ${n} ${s}`).toThrow(FfiArgumentError);
    expect(calls.length).toBe(1);
    expect(refusal(() => fn('5', 0, 0)).message).toBe(
      'f: fd must be an integer from -2147483648 to 2147483647 (int), got string "5" (1 byte)',
    );
    expect(refusal(() => fn(0, -1, 0)).param).toBe('n');
  });

  it('64-bit ints: a safe number or a bigint in range', () => {
    const { fn, calls } = bindFake('int f(uint64_t flags, int64_t off, socklen_t len)');
    fn(0, -5, 4);
    fn(2n ** 64n - 1n, -(2n ** 63n), 0);
    fn(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0);
    for (const [a, b] of [
      [-1, 0],
      [-1n, 0],
      [2n ** 64n, 0],
      [2 ** 53, 0], // not exact as a number
      [0.5, 0],
      ['1', 0],
      [0, 2n ** 63n],
    ])
      expect(() => fn(a, b, 0), `${a} ${b}`).toThrow(FfiArgumentError);
    expect(calls.length).toBe(3);
    expect(refusal(() => fn(0, 0, -1)).message).toContain('(uint32_t)'); // through the alias
  });

  it('Buffers: a Buffer (any Uint8Array), null only where declared', () => {
    const { fn, calls } = bindFake('int f(const void *key, void *value)', {
      key: { nullable: true },
    });
    fn(Buffer.alloc(4), new Uint8Array(4));
    fn(null, Buffer.alloc(1));
    for (const [k, v] of [
      [Buffer.alloc(4), null],
      ['abcd', Buffer.alloc(1)],
      [[1, 2], Buffer.alloc(1)],
      [4, Buffer.alloc(1)],
      [undefined, Buffer.alloc(1)],
      [Buffer.alloc(4), new Uint32Array(1)],
    ])
      expect(() => fn(k, v)).toThrow(FfiArgumentError);
    expect(calls.length).toBe(2);
    expect(refusal(() => fn(4, Buffer.alloc(1))).message).toBe(
      'f: key must be a Buffer or null, got number 4',
    );
  });

  it('null-only options pointers', () => {
    const { fn } = bindFake('int f(void *opts)', { opts: { nullOnly: true } });
    fn(null);
    expect(refusal(() => fn(Buffer.alloc(8))).message).toBe(
      'f: opts must be null, got Buffer of 8 bytes',
    );
  });

  it('opaque pointers: koffi pointers (bigints), never numbers, strings or undefined', () => {
    const { fn, calls } = bindFake('int f(thing *obj)');
    const { fn: free } = bindFake('void free(thing *obj)', { obj: { nullable: true } });
    fn(0x7f00_0000_1000n);
    free(null);
    for (const bad of [0x1000, '0x1000', undefined, null, 0n, -1n, {}, Buffer.alloc(8)])
      expect(() => fn(bad), describeValue(bad)).toThrow(FfiArgumentError);
    expect(calls.length).toBe(1);
    expect(refusal(() => fn(4096)).message).toBe(
      'f: obj must be a thing pointer from libbpf, got number 4096',
    );
  });

  it('out-structs must be objects; in-structs must have fields of their C types', () => {
    const { fn: out } = bindFake('int f(_Out_ hook *info)');
    out({});
    for (const bad of [null, undefined, [], 'x', 5, Buffer.alloc(16)])
      expect(() => out(bad)).toThrow(FfiArgumentError);
    expect(refusal(() => out(null)).message).toBe(
      'f: info must be an object (struct hook, filled in), got null',
    );
    const { fn: inp, calls } = bindFake('int g(const hook *h)');
    inp({ sz: 16, ifindex: 3 }); // fields left out are zero
    inp({ sz: 16n, ifindex: -1, name: 'abcdefg', p: null });
    inp({ p: Buffer.alloc(4) });
    for (const bad of [
      { ifindex: '3' },
      { ifindex: 2 ** 31 },
      { name: 'abcdefgh' }, // char[8] holds 7 bytes and the NUL
      { name: 12 },
      { p: 0x1000 },
      { sz: -1 },
    ])
      expect(() => inp(bad), JSON.stringify(bad)).toThrow(FfiArgumentError);
    expect(calls.length).toBe(3);
    expect(refusal(() => inp({ sz: 16, ifindex: '3' })).message).toBe(
      'g: h.ifindex must be an integer from -2147483648 to 2147483647 (int), got string "3" (1 byte)',
    );
  });

  it('pointers to scalars: a Uint32Array, or a one-element array for _Inout_', () => {
    const { fn, calls } = bindFake('int f(uint32_t *count, _Inout_ uint32_t *len)');
    fn(new Uint32Array(1), [4]);
    for (const [c, l] of [
      [[1], [4]],
      [new Uint32Array(0), [4]],
      [new Uint8Array(4), [4]],
      [new Uint32Array(1), []],
      [new Uint32Array(1), [4, 5]],
      [new Uint32Array(1), ['4']],
      [new Uint32Array(1), 4],
    ])
      expect(() => fn(c, l)).toThrow(FfiArgumentError);
    expect(calls.length).toBe(1);
  });

  it('lengths may not exceed the Buffer or struct they describe', () => {
    const { fn, calls } = bindFake(
      'int send(const void *buf, size_t len, const hook *h, socklen_t hl)',
      {
        len: { sizeOf: 'buf' },
        h: { nullable: true },
        hl: { sizeOf: 'h' },
      },
    );
    fn(Buffer.alloc(8), 8, {}, 16);
    fn(Buffer.alloc(8), 0, null, 0);
    expect(refusal(() => fn(Buffer.alloc(8), 9, {}, 16)).message).toBe(
      'send: len must be at most 8 (the size of buf), got number 9',
    );
    expect(refusal(() => fn(Buffer.alloc(8), 8, {}, 17)).param).toBe('hl');
    expect(refusal(() => fn(Buffer.alloc(8), 8, null, 16)).param).toBe('hl');
    const { fn: info } = bindFake('int i(_Out_ hook *info, _Inout_ uint32_t *len)', {
      len: { sizeOf: 'info' },
    });
    info({}, [16]);
    expect(() => info({}, [17])).toThrow(/len must be at most 16 \(the size of info\)/);
    expect(calls.length).toBe(2);
  });

  it('missing arguments fail their rule', () => {
    const { fn } = bindFake('int f(int fd, const void *key)');
    expect(refusal(() => fn(3)).message).toBe('f: key must be a Buffer, got undefined');
  });

  it('refuses, at bind time, signatures it could not check', () => {
    expect(() => bindFake('int f(float x)')).toThrow(/no rule for C type float/);
    expect(() => bindFake('int f(unknown_t *x)')).toThrow(/no rule for C type unknown_t \*/);
    expect(() => bindFake('int f(int x)', { y: { nullable: true } })).toThrow(
      /unknown parameter y/,
    );
    expect(() => bindFake('int f(int x)', { x: { maxBytes: 3 } })).toThrow(
      /maxBytes is for strings/,
    );
    expect(() => bindFake('int f(int x)', { x: { sizeOf: 'z' } })).toThrow(/unknown parameter z/);
  });

  it('describes values briefly', () => {
    expect(describeValue('x'.repeat(100))).toMatch(/^string "x{40}…" \(100 bytes\)$/);
    expect(describeValue(new Uint32Array(2))).toBe('Uint32Array of 8 bytes');
    expect(describeValue(new Map())).toBe('object (Map)');
    expect(describeValue(true)).toBe('boolean true');
    expect(describeValue(Symbol('s'))).toBe('symbol');
  });
});

describe('the libbpf and libc declarations', () => {
  it('all have rules for every parameter', () => {
    for (const decls of [DECLARATIONS.libbpf, DECLARATIONS.libc])
      for (const [name, decl] of Object.entries(decls)) {
        expect(parseSignature(decl.sig).name).toBe(name);
        expect(() => guardFfi(decl, DECLARATIONS.types, () => 0)).not.toThrow();
      }
  });

  const lib = libbpfStatus();
  // Under CI a missing libbpf.so.1 is a failure of the test, not a reason to skip it.
  const skip = !lib.ok && process.env.CI !== 'true';
  it.skipIf(skip)(
    `are what libbpf() returns (a wrong type never reaches C)${skip ? ` (skipped: ${lib.error ?? ''})` : ''}`,
    () => {
      const l = libbpf();
      expect(refusal(() => l.if_nametoindex(12345 as never)).message).toBe(
        'if_nametoindex: name must be a string of at most 15 bytes without NUL, got number 12345',
      );
      expect(l.if_nametoindex('lo')).toBeGreaterThan(0);
      expect(refusal(() => l.bpf_object__load(4096)).param).toBe('obj');
      expect(refusal(() => l.readU32(4096, 3)).param).toBe('ptr');
      expect(refusal(() => l.close('3' as never)).fn).toBe('close');
      expect(refusal(() => l.recv(-1, Buffer.alloc(4), 5, 0)).param).toBe('len');
    },
  );
});

describe('a wrong-typed interface name in a child process', () => {
  const lib = libbpfStatus();
  const skip = !lib.ok && process.env.CI !== 'true';
  it.skipIf(skip)(
    `is an error the process survives, not SIGSEGV${skip ? ` (skipped: ${lib.error ?? ''})` : ''}`,
    () => {
      const r = runTs(
        `import { ifIndex } from ${JSON.stringify(moduleUrl('bpf/index.ts'))};\n` +
          `try { ifIndex(12345 as never); console.log('no error'); }\n` +
          `catch (e) { console.log(e instanceof TypeError ? 'TypeError' : 'other', (e as Error).message); }\n`,
      );
      expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({
        signal: null,
        status: 0,
        stderr: '',
      });
      expect(r.stdout.trim()).toBe(
        'TypeError if_nametoindex: name must be a string of at most 15 bytes without NUL, got number 12345',
      );
    },
  );
});
