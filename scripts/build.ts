// Builds the three programs as single-file ESM bundles in dist/ (fast start: one file to load,
// the API spec embedded as JSON instead of parsed from YAML at every start).
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const spec = parse(readFileSync(`${root}api-spec/openapi.yaml`, 'utf8')) as unknown;
const version = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string })
  .version;

const programs = ['cellium-agent', 'cellium', 'cellium-cni'];
await build({
  entryPoints: programs.map((p) => `${root}cells/cmd/${p}.ts`),
  outdir: `${root}dist`,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // Some dependencies are CommonJS and call require().
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  define: {
    __CELLIUM_SPEC__: JSON.stringify(JSON.stringify(spec)),
    __CELLIUM_VERSION__: JSON.stringify(version),
  },
});
for (const p of programs) chmodSync(`${root}dist/${p}.mjs`, 0o755);
console.log(`built ${programs.map((p) => `dist/${p}.mjs`).join(', ')}`);

// The eBPF objects: clang -target bpf through datapath-c/Makefile.
if (spawnSync('clang', ['--version'], { stdio: 'ignore' }).status === 0) {
  const make = spawnSync('make', ['-s', '-C', `${root}datapath-c`], { stdio: 'inherit' });
  if (make.status !== 0) process.exit(make.status ?? 1);
  console.log('built datapath-c/build/*.o');
} else {
  console.log('skipped datapath-c: clang not found (scripts/test.sh installs it as root)');
}
