import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Set by scripts/build.ts in the built programs.
declare const __CELLIUM_VERSION__: string | undefined;

let version: string | undefined =
  typeof __CELLIUM_VERSION__ === 'string' ? __CELLIUM_VERSION__ : undefined;

/** Cellium's version, from package.json (found from sources and from dist/ alike). */
export function celliumVersion(): string {
  if (version !== undefined) return version;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      version = (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
      return version;
    }
    dir = dirname(dir);
  }
  return (version = 'unknown');
}
