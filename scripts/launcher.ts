// dist/cellium-agent.cjs: starts the agent's bundle with V8's code cache (scripts/build.ts
// builds this with the bundle's file name and content hash). Compiling the 1.9 MB bundle and
// the functions a start runs is ~50 ms of a cold start; with the cache V8 skips most of it.
//
// The cache lives beside the bundle, named by the bundle's hash: V8 checks a cache against
// the source's length only, so a cache of another build must never be found. A start without
// a usable cache writes one (temporary file, rename) once the agent has been up for a few
// seconds, so it holds the functions a start compiled too; where dist/ is read-only it just
// runs without.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, wrap } from 'node:module';
import { dirname, join } from 'node:path';
import { constants, Script } from 'node:vm';

declare const __CELLIUM_BUNDLE__: string;
declare const __CELLIUM_BUNDLE_HASH__: string;

const bundle = join(__dirname, __CELLIUM_BUNDLE__);
const cacheFile = join(__dirname, `.${__CELLIUM_BUNDLE__}.${__CELLIUM_BUNDLE_HASH__}.v8-cache`);
/** How long after start the cache is written: the start-up's functions are compiled by then. */
const WRITE_AFTER_MS = 3000;

function readCache(): Buffer | undefined {
  try {
    return readFileSync(cacheFile);
  } catch {
    return undefined;
  }
}

function writeCache(script: Script): void {
  const tmp = `${cacheFile}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, script.createCachedData(), { mode: 0o644 });
    renameSync(tmp, cacheFile);
  } catch {
    rmSync(tmp, { force: true }); // read-only dist/, or full disk: the agent runs as before
  }
}

// The bundle's own source, as Node would wrap a CommonJS module (a shebang line kept as a
// comment so line numbers stay).
const source = readFileSync(bundle, 'utf8').replace(/^#!/, '//');
const cachedData = readCache();
const script = new Script(wrap(source), {
  filename: bundle,
  importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  ...(cachedData ? { cachedData } : {}),
});
if (!cachedData || script.cachedDataRejected === true)
  setTimeout(() => writeCache(script), WRITE_AFTER_MS).unref();
const run = script.runInThisContext() as (
  exports: object,
  require: NodeJS.Require,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;
const mod = { exports: {} };
run.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
