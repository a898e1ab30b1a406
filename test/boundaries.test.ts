import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, normalize, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/procs.js';

const IMPORT = /(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'node_modules' ? [] : files(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

/** STYLE.md: core never imports cells; a cell reaches another only through its index.ts. */
describe('import boundaries', () => {
  it('core/ never imports cells/, and cells reach other cells only through index.ts', () => {
    const bad: string[] = [];
    for (const top of ['core', 'cells']) {
      for (const file of files(join(ROOT, top))) {
        const src = readFileSync(file, 'utf8');
        for (const m of src.matchAll(IMPORT)) {
          const target = relative(ROOT, normalize(join(file, '..', m[1] ?? '')));
          const parts = target.split(sep);
          const from = relative(ROOT, file);
          if (top === 'core' && parts[0] === 'cells') bad.push(`${from} imports ${target}`);
          const own = from.split(sep)[1];
          if (top === 'cells' && parts[0] === 'cells' && parts.length > 2 && parts[1] !== own) {
            if (!/^index(\.js|\.ts)?$/.test(parts[2] ?? ''))
              bad.push(`${from} reaches into ${target}`);
          }
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
