import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigStore, envName, resolveConfig, type FlagInfo } from './config.js';
import { flag } from './flags.js';

const flags: FlagInfo[] = [
  { name: 'api-socket', module: 'api', spec: flag.string('/run/default.sock', 'Socket') },
  { name: 'body-limit', module: 'api', spec: flag.int(1024, 'Limit', { min: 1 }) },
  { name: 'debug', module: 'hive', spec: flag.bool(false, 'Debug', { mutable: true }) },
  { name: 'gc-interval', module: 'ct', spec: flag.duration('5m', 'GC interval') },
  { name: 'devices', module: 'dp', spec: flag.list([], 'Devices') },
  { name: 'mode', module: 'dp', spec: flag.oneOf(['veth', 'ipvlan'], 'veth', 'Mode') },
];

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'cellium-config-'));
}

describe('resolveConfig', () => {
  it('uses defaults when nothing is set', () => {
    const v = resolveConfig(flags, {});
    expect(Object.fromEntries(v)).toEqual({
      'api-socket': '/run/default.sock',
      'body-limit': 1024,
      debug: false,
      'gc-interval': 300_000,
      devices: [],
      mode: 'veth',
    });
  });

  it('takes flags over env over config dir over config file', () => {
    const dir = tmp();
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      'api-socket: /from/file\nbody-limit: 10\ndebug: true\ngc-interval: 1m\ndevices: [eth0]\n',
    );
    const cm = join(dir, 'cm');
    mkdirSync(cm);
    writeFileSync(join(cm, 'api-socket'), '/from/dir\n');
    writeFileSync(join(cm, 'body-limit'), '20');
    writeFileSync(join(cm, '..data'), 'ignored');
    const v = resolveConfig(flags, {
      file,
      dir: cm,
      env: { [envName('api-socket')]: '/from/env', CELLIUM_DEVICES: 'eth1, eth2' },
      flags: { 'api-socket': '/from/flag' },
    });
    expect(v.get('api-socket')).toBe('/from/flag');
    expect(v.get('devices')).toEqual(['eth1', 'eth2']);
    expect(v.get('body-limit')).toBe(20);
    expect(v.get('debug')).toBe(true);
    expect(v.get('gc-interval')).toBe(60_000);
  });

  it('names every bad flag and the rule it breaks', () => {
    const err = (() => {
      try {
        resolveConfig(flags, {
          flags: { 'body-limit': '0', mode: 'bridge', 'gc-interval': 'soon', 'no-such': '1' },
        });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as ConfigError).message;
    expect(msg).toContain('--no-such: unknown flag');
    expect(msg).toContain('--body-limit: invalid value 0: must be >= 1');
    expect(msg).toContain(
      "--mode: invalid value 'bridge': must be equal to one of the allowed values (veth,ipvlan)",
    );
    expect(msg).toContain('--gc-interval: invalid value');
  });

  it('rejects a non-numeric value from the environment', () => {
    expect(() => resolveConfig(flags, { env: { CELLIUM_BODY_LIMIT: 'lots' } })).toThrow(
      "--body-limit: invalid value 'lots': must be integer",
    );
  });

  it('warns about unknown keys in a config file instead of failing (shared ConfigMaps)', () => {
    const dir = tmp();
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ 'operator-only': 1, debug: true }));
    const warnings: string[] = [];
    const v = resolveConfig(flags, { file }, (m) => warnings.push(m));
    expect(v.get('debug')).toBe(true);
    expect(warnings).toEqual([`${file}: ignoring unknown key 'operator-only'`]);
  });

  it('requires a value for a non-boolean bare flag', () => {
    expect(() => resolveConfig(flags, { flags: { 'api-socket': true } })).toThrow(
      '--api-socket: needs a value',
    );
  });
});

describe('ConfigStore', () => {
  it('changes runtime-changeable flags atomically and emits changes', () => {
    const store = new ConfigStore(flags, resolveConfig(flags, {}));
    const seen: unknown[] = [];
    store.watch('debug').subscribe((v) => seen.push(v));
    store.set({ debug: 'Enabled' });
    expect(store.get('debug')).toBe(true);
    expect(() => store.set({ debug: 'false', 'api-socket': '/x' })).toThrow(
      '--api-socket: cannot be changed at runtime',
    );
    expect(store.get('debug')).toBe(true);
    expect(seen).toEqual([true]);
  });
});
