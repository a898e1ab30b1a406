import { readFileSync } from 'node:fs';
import { findUp } from './paths.js';

// Set by scripts/build.ts in the built programs.
declare const __CELLIUM_VERSION__: string | undefined;

let version: string | undefined =
  typeof __CELLIUM_VERSION__ === 'string' ? __CELLIUM_VERSION__ : undefined;

/** Cellium's version, from package.json (found from sources and from dist/ alike). */
export function celliumVersion(): string {
  if (version !== undefined) return version;
  const p = findUp('package.json');
  version = p ? (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version : 'unknown';
  return version;
}
