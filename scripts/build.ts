// Builds the three programs as single-file ESM bundles in dist/ (fast start: one file to load,
// the API spec embedded as JSON instead of parsed from YAML at every start).
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const spec = parse(readFileSync(`${root}api-spec/openapi.yaml`, 'utf8')) as unknown;
const version = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string })
  .version;

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // Written below, each file atomically: tests and a running quick start may be reading dist/.
  write: false,
  define: {
    __CELLIUM_SPEC__: JSON.stringify(JSON.stringify(spec)),
    __CELLIUM_VERSION__: JSON.stringify(version),
  },
};
// The CLI: an ES module.
const esm = await build({
  ...common,
  entryPoints: [`${root}cells/cmd/cellium.ts`],
  outdir: `${root}dist`,
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  // Some dependencies are CommonJS and call require().
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});
// The CNI plugin, started once per pod: CommonJS, because a module's `import` of a Node
// built-in evaluates every export of it (node:fs loads its streams and promises) while
// require() does not, and its lazy import() then defers its built-ins and koffi too (which
// core/bpf/libbpf.ts requires from the installed package at run time, in every program).
// The agent too, for the same reason and so that its launcher (scripts/launcher.ts) can start
// it with V8's code cache, which ES modules cannot have on Node 20.
const cjsOptions: BuildOptions = {
  ...common,
  outdir: `${root}dist`,
  format: 'cjs',
  define: { ...common.define, 'import.meta.url': 'importMetaUrl' },
  inject: [`${root}scripts/cjs-shim.ts`],
};
const cjs = await build({
  ...cjsOptions,
  entryPoints: {
    'cellium-cni': `${root}cells/cmd/cellium-cni.ts`,
    'cellium-agent.bundle': `${root}cells/cmd/cellium-agent.ts`,
  },
  outExtension: { '.js': '.cjs' },
});
const agentBundle = (cjs.outputFiles ?? []).find((f) =>
  f.path.endsWith('cellium-agent.bundle.cjs'),
);
if (!agentBundle) throw new Error('esbuild wrote no cellium-agent.bundle.cjs');
const launcher = await build({
  ...cjsOptions,
  entryPoints: { 'cellium-agent': `${root}scripts/launcher.ts` },
  outExtension: { '.js': '.cjs' },
  sourcemap: false,
  banner: { js: '#!/usr/bin/env node' },
  define: {
    ...cjsOptions.define,
    __CELLIUM_BUNDLE__: JSON.stringify('cellium-agent.bundle.cjs'),
    __CELLIUM_BUNDLE_HASH__: JSON.stringify(agentBundle.hash),
  },
});
const programs = ['cellium-agent.cjs', 'cellium.mjs', 'cellium-cni.cjs'];
const bundles = {
  outputFiles: [esm, cjs, launcher].flatMap((r) => r.outputFiles ?? []),
};
// Code caches of earlier builds are of no use (the launcher looks for this build's only).
for (const f of existsSync(`${root}dist`)
  ? readdirSync(`${root}dist`, { withFileTypes: true })
  : [])
  if (f.isFile() && f.name.endsWith('.v8-cache')) rmSync(`${root}dist/${f.name}`, { force: true });
// The ES module agent of earlier builds, so nothing starts a stale one by its old name.
for (const old of ['cellium-agent.mjs', 'cellium-agent.mjs.map'])
  rmSync(`${root}dist/${old}`, { force: true });
for (const f of bundles.outputFiles) {
  const tmp = `${f.path}.tmp-${process.pid}`;
  mkdirSync(dirname(f.path), { recursive: true });
  try {
    writeFileSync(tmp, f.contents, { mode: /\.[mc]js$/.test(f.path) ? 0o755 : 0o644 });
    renameSync(tmp, f.path);
  } finally {
    rmSync(tmp, { force: true });
  }
}
console.log(`built ${programs.map((p) => `dist/${p}`).join(', ')}`);

// The eBPF objects: clang -target bpf through datapath-c/Makefile. Without them the agent has
// no bpf_lxc to attach and pods cannot reach each other, so a missing tool is said loudly.
const missing = ['clang', 'make'].filter(
  (tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0,
);
if (missing.length === 0) {
  const make = spawnSync('make', ['-s', '-C', `${root}datapath-c`], { stdio: 'inherit' });
  if (make.status !== 0) process.exit(make.status ?? 1);
  console.log('built datapath-c/build/*.o (bpf_lxc, bpf_xdp)');
} else {
  const stale = existsSync(`${root}datapath-c/build/bpf_lxc.o`)
    ? 'An older datapath-c/build/bpf_lxc.o is left as it was, possibly out of date'
    : 'The agent has no bpf_lxc object (--bpf-lxc-object empty): pods cannot reach each other';
  process.stderr.write(
    [
      '',
      `WARNING: datapath-c NOT built: ${missing.join(' and ')} not found.`,
      `  ${stale}.`,
      existsSync(`${root}datapath-c/build/bpf_xdp.o`)
        ? '  An older datapath-c/build/bpf_xdp.o is left as it was, possibly out of date.'
        : '  No bpf_xdp object either (--bpf-xdp-object empty): --prefilter-device cannot start.',
      '  Fix: run ./scripts/agent.sh or ./scripts/test.sh as root (they install the packages), or',
      '  apt-get install clang llvm libbpf-dev make gcc libc6-dev, then npm run build.',
      '',
    ].join('\n'),
  );
}
