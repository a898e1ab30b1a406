// libbpf's printer routed to a JS logger: messages arrive formatted (libc vsnprintf over the
// va_list libbpf hands its callback), filtered before formatting, and a throwing logger never
// reaches C. Needs libbpf.so.1 only: libbpf prints when it cannot open an object file.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { moduleUrl, runTs } from '../testing/child.js';
import { libbpfStatus } from './libbpf.js';
import { libbpfMessage, setLibbpfLogger, type LibbpfLevel } from './libbpf-log.js';
import { loadObject } from './object.js';

const lib = libbpfStatus();
// Under CI a missing libbpf.so.1 is a failure of the test, not a reason to skip it.
const skip = !lib.ok && process.env.CI !== 'true';
const why = skip ? ` (skipped: ${lib.error ?? ''})` : '';

/** A path no file has, with `%` in it: formatting it must not read more arguments. */
const missing = (): string => `/nonexistent-%d-%s-${randomBytes(4).toString('hex')}.o`;

/** Makes libbpf print: opening an object that does not exist warns "failed to open". */
function provoke(path: string): void {
  expect(() => loadObject(path)).toThrow(/ENOENT/);
}

describe('libbpf messages', () => {
  afterEach(() => setLibbpfLogger(undefined));

  it('are stripped of the prefix and the newline', () => {
    expect(libbpfMessage('libbpf: elf: failed to open x: No such file\n')).toBe(
      'elf: failed to open x: No such file',
    );
    expect(libbpfMessage('Kernel error message: Exclusivity flag on\n\n')).toBe(
      'Kernel error message: Exclusivity flag on',
    );
  });

  it.skipIf(skip)(`arrive formatted, with their level${why}`, () => {
    const got: [LibbpfLevel, string][] = [];
    setLibbpfLogger((level, msg) => got.push([level, msg]));
    const path = missing();
    provoke(path);
    // libbpf's format is "elf: failed to open %s: %s\n": both arguments are in, the %d and %s
    // of the path are left alone (they are an argument, not the format).
    expect(got).toContainEqual(['warn', `elf: failed to open ${path}: No such file or directory`]);
    expect(got).toContainEqual(['debug', `loading object from ${path}`]);
    for (const [, msg] of got) expect(msg).not.toMatch(/^libbpf: |\n$/);
  });

  it.skipIf(skip)(`are not even formatted at levels the logger does not want${why}`, () => {
    const asked: LibbpfLevel[] = [];
    const got: string[] = [];
    setLibbpfLogger((_, msg) => got.push(msg), {
      enabled: (level) => {
        asked.push(level);
        return level === 'warn';
      },
    });
    provoke(missing());
    expect(asked).toContain('debug');
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(/^elf: failed to open /);
  });

  it.skipIf(skip)(`survive a logger that throws; the next logger gets the next ones${why}`, () => {
    let calls = 0;
    setLibbpfLogger(() => {
      calls++;
      throw new Error('logger broken');
    });
    provoke(missing()); // the BpfError of the open, not the logger's error
    expect(calls).toBeGreaterThan(0);
    const got: string[] = [];
    setLibbpfLogger((_, msg) => got.push(msg));
    const path = missing();
    provoke(path);
    expect(got).toContain(`elf: failed to open ${path}: No such file or directory`);
  });

  it.skipIf(skip)(
    `never reach stderr while a logger is set, and do again once it is unset${why}`,
    () => {
      // Set before libbpf loads: the printer is installed when it does.
      const r = runTs(
        `import { loadObject, setLibbpfLogger } from ${JSON.stringify(moduleUrl('bpf/index.ts'))};\n` +
          `const open = (p: string) => { try { loadObject(p); } catch {} };\n` +
          `setLibbpfLogger((level, msg) => console.log(JSON.stringify({ level, msg })));\n` +
          `open('/nonexistent-routed.o');\n` +
          `setLibbpfLogger(undefined);\n` +
          `open('/nonexistent-unrouted.o');\n`,
      );
      expect(r.status).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines.map((l) => JSON.parse(l) as unknown)).toContainEqual({
        level: 'warn',
        msg: 'elf: failed to open /nonexistent-routed.o: No such file or directory',
      });
      expect(r.stdout).not.toMatch(/unrouted/);
      // libbpf's own printer again: raw, prefixed, warnings only.
      expect(r.stderr).toBe(
        'libbpf: elf: failed to open /nonexistent-unrouted.o: No such file or directory\n',
      );
    },
  );
});
