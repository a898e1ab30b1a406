// `cellium metrics list` against the whole agent: NAME, LABELS, VALUE by default, the Metric
// models with -o json, and -p keeping the names that match a regexp (as Cilium's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../core/api/types.js';
import { cellium, celliumJson } from './support/cli.js';
import { startWholeAgent, type WholeAgent } from './support/whole-agent.js';

let whole: WholeAgent;
beforeAll(async () => {
  whole = await startWholeAgent('10.78.0.0/24');
});
afterAll(() => whole.stop());

describe('cellium metrics list', () => {
  it('prints a table of name, labels and value', async () => {
    const r = await cellium(whole.socket, 'metrics', 'list');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+LABELS\s+VALUE$/);
    expect(lines).toContainEqual(
      expect.stringMatching(/^cellium_ipam_capacity\s+family="ipv4"\s+253$/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^cellium_endpoint_state\s+endpoint_state="ready"\s+0$/),
    );
  });

  it('-o json gives the Metric models; -p keeps the names matching a regexp', async () => {
    const all = await celliumJson<Model<'Metric'>[]>(whole.socket, 'metrics', 'list');
    expect(all).toContainEqual({
      name: 'cellium_ipam_capacity',
      labels: { family: 'ipv4' },
      value: 253,
    });
    const ipam = await celliumJson<Model<'Metric'>[]>(
      whole.socket,
      'metrics',
      'list',
      '-p',
      '^cellium_ip(am)?_',
    );
    expect(new Set(ipam.map((m) => m.name))).toEqual(
      new Set(['cellium_ip_addresses', 'cellium_ipam_capacity', 'cellium_ipam_free']),
    );
  });

  it('refuses a pattern that is not a regexp, naming the flag', async () => {
    const r = await cellium(whole.socket, 'metrics', 'list', '--match-pattern', '(');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: --match-pattern: Invalid regular expression/);
  });
});
