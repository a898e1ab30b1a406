import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { BPF_LXC_OBJECT } from '../../core/testing/kernel.js';
import { layoutSuite } from '../../core/testing/layouts.js';
import { AGENT_MAPS, METRIC, REASON } from './defs.js';

layoutSuite('map layouts: TypeScript vs the BTF of bpf_lxc.o', AGENT_MAPS, {
  object: BPF_LXC_OBJECT,
  padding: /^(pad\d*|reserved|unused)$/,
});

// The metrics' directions and reasons: the TypeScript constants are the header's #defines.
it('METRIC and REASON are the #defines of maps.h', () => {
  const header = readFileSync(
    new URL('../../datapath-c/include/cellium/maps.h', import.meta.url),
    'utf8',
  );
  const defines = (prefix: string): Record<string, number> =>
    Object.fromEntries(
      [...header.matchAll(new RegExp(`^#define ${prefix}_([A-Z0-9_]+) (\\d+)`, 'gm'))].map(
        (m): [string, number] => [m[1] ?? '', Number(m[2])],
      ),
    );
  expect(defines('METRIC')).toEqual(METRIC);
  expect(defines('REASON')).toEqual(REASON);
});
