// cellium-cni's error paths that need no agent: the CNI spec's codes and JSON error output.
import { describe, expect, it } from 'vitest';
import { program, run } from './support/procs.js';

const conf = (v = '1.0.0') =>
  JSON.stringify({ cniVersion: v, name: 'cellium', type: 'cellium-cni' });
const env = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0' };

async function cni(vars: Record<string, string>, stdin: string) {
  const r = await run(program('cellium-cni'), vars, stdin);
  return {
    code: r.code,
    out: JSON.parse(r.stdout || '{}') as { code?: number; msg?: string; cniVersion?: string },
  };
}

describe('cellium-cni errors', () => {
  it('names missing environment variables (code 4)', async () => {
    const r = await cni(
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: '', CNI_NETNS: '', CNI_IFNAME: 'eth0' },
      conf(),
    );
    expect(r.code).toBe(1);
    expect(r.out).toMatchObject({
      cniVersion: '1.0.0',
      code: 4,
      msg: 'missing environment variables: CNI_CONTAINERID, CNI_NETNS',
    });
  });

  it('refuses an unsupported CNI version (code 1) and undecodable config (code 6)', async () => {
    expect((await cni({ CNI_COMMAND: 'ADD', ...env }, conf('9.9.9'))).out).toMatchObject({
      code: 1,
      msg: 'CNI version 9.9.9 is not supported',
    });
    expect((await cni({ CNI_COMMAND: 'ADD', ...env }, '{ nope')).out).toMatchObject({ code: 6 });
    expect(
      (await cni({ CNI_COMMAND: 'ADD', ...env }, JSON.stringify({ name: 'x' }))).out,
    ).toMatchObject({
      code: 7,
      msg: 'network configuration has no cniVersion',
    });
  });

  it('rejects an unknown command (code 4)', async () => {
    expect((await cni({ CNI_COMMAND: 'FROB', ...env }, conf())).out).toMatchObject({
      code: 4,
      msg: "unknown CNI_COMMAND 'FROB'",
    });
  });
});
