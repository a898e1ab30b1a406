import { describe, expect, it } from 'vitest';
import {
  DAEMON_OPTIONS,
  ENDPOINT_OPTIONS,
  formatOption,
  lookupOption,
  OptionError,
  optionsModel,
  parseBool,
  parseMonitorAggregation,
  parseOptions,
} from './options.js';

describe('runtime options (Cilium option library)', () => {
  it('parses booleans as NormalizeBool does, in any letter case', () => {
    for (const v of ['true', 'TRUE', 'on', 'On', 'enable', 'enabled', 'Enabled', '1']) {
      expect(parseBool(v), v).toBe(1);
    }
    for (const v of ['false', 'False', 'off', 'OFF', 'disable', 'disabled', 'Disabled', '0']) {
      expect(parseBool(v), v).toBe(0);
    }
    for (const v of ['', 'yes', 'no', '2', 'enabledd', ' true'])
      expect(parseBool(v), v).toBe(undefined);
  });

  it('parses monitor aggregation levels by word or number 0-4', () => {
    const cases: [string, number | undefined][] = [
      ['', 0],
      ['none', 0],
      ['Disabled', 0],
      ['lowest', 1],
      ['LOW', 2],
      ['medium', 3],
      ['max', 4],
      ['maximum', 4],
      ['0', 0],
      ['3', 3],
      ['4', 4],
      ['5', undefined],
      ['-1', undefined],
      ['high', undefined],
      ['1.5', undefined],
    ];
    for (const [v, want] of cases) expect(parseMonitorAggregation(v), v).toBe(want);
    const opt = lookupOption(DAEMON_OPTIONS, 'monitoraggregationlevel');
    expect(opt && [0, 1, 2, 3, 4].map((v) => formatOption(opt, v))).toEqual([
      'None',
      'Lowest',
      'Low',
      'Medium',
      'Max',
    ]);
  });

  it('matches names case-insensitively and returns canonical names', () => {
    expect([...parseOptions(ENDPOINT_OPTIONS, { debug: 'true' })]).toEqual([['Debug', 1]]);
    expect([...parseOptions(DAEMON_OPTIONS, { DEBUG: 'Disabled' })]).toEqual([['Debug', 0]]);
  });

  it('refuses one option given twice in different letter cases', () => {
    expect(() => parseOptions(ENDPOINT_OPTIONS, { Debug: '1', debug: '0' })).toThrow(
      /option Debug is given twice/,
    );
  });

  it('refuses unknown names and bad values naming the option and what it accepts', () => {
    expect(() => parseOptions(ENDPOINT_OPTIONS, { Bogus: '1' })).toThrow(
      /unknown option 'Bogus' \(known: .*Debug/,
    );
    expect(() => parseOptions(ENDPOINT_OPTIONS, { Debug: 'maybe' })).toThrow(
      "option Debug: invalid value 'maybe' (accepted: true, on, enable, enabled, 1, false, off, disable, disabled, 0)",
    );
    expect(() => parseOptions(DAEMON_OPTIONS, { MonitorAggregationLevel: '9' })).toThrow(
      /MonitorAggregationLevel: invalid value '9' \(accepted: none, .* 0-4\)/,
    );
    // PolicyTracing is a daemon option only.
    expect(() => parseOptions(ENDPOINT_OPTIONS, { PolicyTracing: '0' })).toThrow(OptionError);
  });

  it('refuses changing a read-only option, saying why', () => {
    expect(() => parseOptions(DAEMON_OPTIONS, { DropNotification: 'Disabled' })).toThrow(
      /option DropNotification is read-only in this agent \(Enabled\): on, not switchable: .*monitor/,
    );
    expect(() => parseOptions(DAEMON_OPTIONS, { TraceNotification: 'off' })).toThrow(
      /read-only .*\(Enabled\): .*while a monitor client listens/,
    );
    expect(() => parseOptions(ENDPOINT_OPTIONS, { policyauditmode: 'on' })).toThrow(
      /PolicyAuditMode is read-only .*audit mode .* not implemented/,
    );
    expect(() => parseOptions(DAEMON_OPTIONS, { MonitorAggregationLevel: 'none' })).toThrow(
      /read-only .*\(Medium\): set at start with --monitor-aggregation/,
    );
    // Setting it to the value it has changes nothing and is accepted.
    expect([...parseOptions(DAEMON_OPTIONS, { DropNotification: 'true' })]).toEqual([
      ['DropNotification', 1],
    ]);
  });

  it("shows values as Cilium's models do, read-only ones apart", () => {
    const m = optionsModel(ENDPOINT_OPTIONS, (o) => (o.name === 'Debug' ? 1 : o.default));
    expect(m.options).toEqual({ Debug: 'Enabled' });
    expect(m.immutable).toMatchObject({
      DropNotification: 'Enabled',
      TraceNotification: 'Enabled',
      PolicyVerdictNotification: 'Enabled',
      MonitorAggregationLevel: 'Medium',
      PolicyAuditMode: 'Disabled',
    });
    expect(Object.keys(optionsModel(DAEMON_OPTIONS, (o) => o.default).immutable)).toContain(
      'PolicyTracing',
    );
  });
});
