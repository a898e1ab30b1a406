// dist/cellium-agent.cjs and dist/cellium-cni.cjs: start their program's bundle with V8's code
// cache (scripts/build.ts builds this once per program, with the bundle's file name). Compiling
// a bundle and the functions a start runs is ~50 ms of the agent's cold start and several ms
// of every CNI ADD; with the cache V8 skips most of it.
//
// The bundle's name carries its content hash and the cache is named after the bundle: V8
// checks a cache against the source's length only, so a cache of another build must never be
// found. A run without a usable cache writes one (temporary file, rename) late enough to hold
// the functions the run compiled: the agent once it has been up for 3 s (a shorter run, such
// as `cellium-agent hive`, writes none), the CNI plugin as a successful ADD exits. Where dist/
// is read-only the programs run without (and do not serialise one).
import {
  accessSync,
  constants as constants_fs,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire, wrap } from 'node:module';
import { dirname, join } from 'node:path';
import { constants, Script } from 'node:vm';

declare const __CELLIUM_BUNDLE__: string;
/**
 * When a missing cache is written: ms after start, or as the process exits successfully with
 * `NAME=value` in its environment (the CNI plugin: an ADD, the run whose functions are worth
 * caching; a VERSION or STATUS first would otherwise leave a cache without them, for good).
 */
declare const __CELLIUM_CACHE_WRITE__: number | `exit:${string}=${string}`;

const bundle = join(__dirname, __CELLIUM_BUNDLE__);
const cacheFile = join(__dirname, `.${__CELLIUM_BUNDLE__}.v8-cache`);

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
    accessSync(__dirname, constants_fs.W_OK); // read-only dist/: not even serialised
    writeFileSync(tmp, script.createCachedData(), { mode: 0o644 });
    renameSync(tmp, cacheFile);
  } catch {
    rmSync(tmp, { force: true }); // read-only dist/, or full disk: the program runs as before
  }
}

// The bundle's own source, as Node would wrap a CommonJS module (a shebang line kept as a
// comment so line numbers stay).
const source = readFileSync(bundle, 'utf8').replace(/^#!/, '//');
const cachedData = readCache();
// import() inside the bundle resolves as in any module (Node 20.12+ has the constant; before,
// the bundle has no import() that needs it: esbuild turns its own into require()).
const mainLoader = (constants as Partial<typeof constants> | undefined)
  ?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
const script = new Script(wrap(source), {
  filename: bundle,
  ...(mainLoader ? { importModuleDynamically: mainLoader } : {}),
  ...(cachedData ? { cachedData } : {}),
});
if (!cachedData || script.cachedDataRejected === true) {
  const when = __CELLIUM_CACHE_WRITE__;
  if (typeof when === 'number') {
    setTimeout(() => writeCache(script), when).unref();
  } else {
    const [name = '', value] = when.slice('exit:'.length).split('=');
    if (process.env[name] === value)
      process.once('exit', (code) => {
        if (code === 0) writeCache(script);
      });
  }
}
// The bundle's import() of an ESM-only package (@kubernetes/client-node, cells/k8s/client.ts)
// goes through this function: Node 20 loses the bundle's dynamic import callback in functions
// compiled from the code cache ("A dynamic import callback was not specified"), and this file is
// compiled by Node as usual.
(globalThis as { __celliumImport?: (s: string) => Promise<unknown> }).__celliumImport = (s) =>
  import(s);
const run = script.runInThisContext() as (
  exports: object,
  require: NodeJS.Require,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;
const mod = { exports: {} };
run.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
