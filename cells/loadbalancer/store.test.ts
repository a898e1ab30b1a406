import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { StateWriteError } from '../../core/atomic-file.js';
import { ServiceStore } from './store.js';

const spec = (id: number, port: number) => ({
  id,
  'frontend-address': {
    ip: `10.96.0.${id}`,
    port,
    protocol: 'tcp' as const,
    scope: 'external' as const,
  },
  'backend-addresses': [{ ip: '10.1.0.1', port: 80 }],
  flags: { type: 'ClusterIP' as const },
});

it('puts back the files a change had written when a later one fails, and skips same bytes', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'cellium-store-')), 'services');
  const store = new ServiceStore(dir);
  store.write([
    { id: 1, spec: spec(1, 80) },
    { id: 2, spec: spec(2, 80) },
  ]);
  const one = readFileSync(join(dir, '1.json'), 'utf8');
  // Service 2's file cannot be replaced (a directory stands where its new file would go).
  rmSync(join(dir, '2.json'));
  mkdirSync(join(dir, '2.json'));
  expect(() =>
    store.write([
      { id: 1, spec: spec(1, 81) },
      { id: 2, spec: spec(2, 81) },
    ]),
  ).toThrow(StateWriteError);
  expect(readFileSync(join(dir, '1.json'), 'utf8')).toBe(one);
  // A store reading the directory back has service 1 as it was.
  rmSync(join(dir, '2.json'), { recursive: true });
  const again = new ServiceStore(dir).load();
  expect(again.requests.map((r) => [r.id, r.frontend.address.port])).toEqual([[1, 80]]);
});
