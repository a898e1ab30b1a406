// State files for tests and benchmarks: valid ones as the agent writes them, and randomly
// mutated ones for the restore fuzz (no test framework here, so benchmarks can use it too).
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../core/testing/rng.js';
import type { PersistedEndpoint } from './model.js';

/** A valid state file's endpoint, as the agent writes it (IP 10.9.x.y in 10.9.0.0/16). */
export function persisted(id: number, extra: Partial<PersistedEndpoint> = {}): PersistedEndpoint {
  return {
    id,
    containerId: `c${id}`,
    containerName: '',
    containerInterfaceName: 'eth0',
    dockerEndpointId: '',
    cniAttachmentId: `c${id}:eth0`,
    k8sNamespace: 'default',
    k8sPodName: `pod${id}`,
    k8sUid: '',
    ifName: '',
    ifIndex: 0,
    mac: '02:00:00:00:00:01',
    hostMac: '02:00:00:00:00:ff',
    ipv4: `10.9.${(id + 1) >> 8}.${(id + 1) & 255}`,
    ipv6: '',
    labels: ['k8s:app=web'],
    userLabels: [],
    identity: 256,
    options: { Debug: 'Disabled' },
    externalIpam: false,
    createdAt: '2026-11-23T00:00:00.000Z',
    ...extra,
  };
}

/** Writes a state file (an object as JSON, a string as is) for endpoint directory `name`. */
export function writeStateFile(endpointsDir: string, name: string, content: unknown): void {
  mkdirSync(join(endpointsDir, name), { recursive: true });
  writeFileSync(
    join(endpointsDir, name, 'ep_state.json'),
    typeof content === 'string' ? content : JSON.stringify(content),
  );
}

/** The endpoint the fuzzer starts from for id `id`: every tenth uses the veth `veth`. */
export function fuzzedEndpoint(id: number, veth: string): PersistedEndpoint {
  return persisted(id, id % 10 === 0 ? { ifName: veth } : {});
}

/**
 * Writes `total` state files (ids 1..total), each a valid one randomly mutated: wrong types,
 * truncation, garbage, removed fields, duplicates of another endpoint, symlinks, bit flips, a
 * wrong id, or nothing. Returns the ids that must be restored (unless an earlier endpoint took
 * their IP or veth) and those that must be quarantined. Deterministic for a seed.
 */
export function writeFuzzedStates(
  endpointsDir: string,
  o: { readonly total: number; readonly seed: number; readonly veth: string },
): { expectValid: Set<number>; expectBad: Set<number> } {
  const rng = new Rng(o.seed);
  const rand = (n: number): number => rng.int(0, n - 1);
  const expectValid = new Set<number>();
  const expectBad = new Set<number>();
  const values = [
    null,
    0,
    -1,
    1.5,
    2 ** 40,
    '',
    'x'.repeat(5000),
    [],
    {},
    true,
    '\u0000',
    'a\u0000b',
    'éééééééé',
    '\u202e\u200b',
    'lo',
    '../../etc',
    '999.1.1.1',
    '10.9.0.1',
    'fd00::1',
    65536,
  ];
  const write = (id: number, content: unknown) => {
    writeStateFile(endpointsDir, String(id), content);
  };
  for (let id = 1; id <= o.total; id++) {
    const ep: Record<string, unknown> = { ...fuzzedEndpoint(id, o.veth) };
    const fields = Object.keys(ep);
    const field = fields[rand(fields.length)] ?? 'id';
    const doc = { format: 1, endpoint: ep };
    const text = JSON.stringify(doc);
    switch (rand(9)) {
      case 0: // valid, untouched
        expectValid.add(id);
        break;
      case 1: // a value of another type or range: valid or not
        ep[field] = values[rand(values.length)];
        break;
      case 2:
        expectBad.add(id);
        write(id, text.slice(0, rand(text.length - 1)));
        continue;
      case 3:
        expectBad.add(id);
        write(
          id,
          Buffer.from(Array.from({ length: rand(200) }, () => rand(256))).toString('latin1'),
        );
        continue;
      case 4:
        expectBad.add(id);
        Reflect.deleteProperty(ep, field);
        break;
      case 5: // a duplicate of an earlier endpoint under this id
        Object.assign(ep, persisted(Math.max(1, id - 1 - rand(3))), { id });
        break;
      case 6:
        expectBad.add(id);
        mkdirSync(join(endpointsDir, String(id)), { recursive: true });
        symlinkSync('/etc/hostname', join(endpointsDir, String(id), 'ep_state.json'));
        continue;
      case 7: // bit flips: validity unknown
        write(
          id,
          Buffer.from(
            Buffer.from(text).map((b) => (rand(50) === 0 ? b ^ (1 << rand(7)) : b)),
          ).toString('latin1'),
        );
        continue;
      default:
        expectBad.add(id);
        ep.id = id + o.total;
    }
    write(id, doc);
  }
  return { expectValid, expectBad };
}
