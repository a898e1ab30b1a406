// Builds the three programs as single-file bundles in dist/ (fast start: one file to load, the
// API spec embedded as JSON instead of parsed from YAML at every start): the CLI an ES module,
// the agent and the CNI plugin CommonJS (see below).
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
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type OutputFile } from 'esbuild';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const spec = parse(readFileSync(`${root}api-spec/openapi.yaml`, 'utf8')) as unknown;
// The other specs (the health API's), by file name: core/api/spec.ts loadSpecFile.
const specs = {
  'health.yaml': parse(readFileSync(`${root}api-spec/health.yaml`, 'utf8')) as unknown,
};
// The Cilium CRDs the agent registers: the chart's manifests (cells/k8s/crds.ts), by file name.
const crdDir = `${root}charts/cellium/crds`;
const crds = Object.fromEntries(
  readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => [f, parse(readFileSync(`${crdDir}/${f}`, 'utf8')) as unknown]),
);
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
    __CELLIUM_SPECS__: JSON.stringify(JSON.stringify(specs)),
    __CELLIUM_CRDS__: JSON.stringify(JSON.stringify(crds)),
    __CELLIUM_VERSION__: JSON.stringify(version),
    __KOFFI_VERSION__: JSON.stringify(
      (
        JSON.parse(readFileSync(`${root}node_modules/koffi/package.json`, 'utf8')) as {
          version: string;
        }
      ).version,
    ),
  },
};
// The CLI: an ES module.
const esm = await build({
  ...common,
  entryPoints: [`${root}cells/cmd/cellium.ts`],
  outdir: `${root}dist`,
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  // The CLI never talks to etcd (the kvstore cell comes in with the cells it shares with the
  // agent, loading etcd3 only when started): left out of the bundle, as from the agent's.
  // Likewise @kubernetes/client-node (ESM-only: import()ed by the k8s cell in Kubernetes mode).
  external: ['etcd3', 'cockatiel', '@kubernetes/client-node'],
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
// Each CommonJS program is a bundle named by its content hash and a launcher (written after it)
// that names the one bundle it runs: a program started during a build runs the old pair or the
// new one, and its code cache (named after the bundle) can only ever be this bundle's.
async function launched(
  name: string,
  entry: string,
  cacheWrite: number | `exit:${string}=${string}`,
  extra: BuildOptions = {},
): Promise<{ files: OutputFile[]; bundle: string }> {
  const program = await build({
    ...cjsOptions,
    ...extra,
    entryPoints: { [`${name}.bundle`]: entry },
    entryNames: '[name].[hash]',
    outExtension: { '.js': '.cjs' },
  });
  const file = (program.outputFiles ?? []).find((f) => f.path.endsWith('.cjs'));
  if (!file) throw new Error(`esbuild wrote no ${name} bundle`);
  const bundle = basename(file.path);
  const launcher = await build({
    ...cjsOptions,
    entryPoints: { [name]: `${root}scripts/launcher.ts` },
    outExtension: { '.js': '.cjs' },
    sourcemap: false,
    banner: { js: '#!/usr/bin/env node' },
    define: {
      ...cjsOptions.define,
      __CELLIUM_BUNDLE__: JSON.stringify(bundle),
      __CELLIUM_CACHE_WRITE__: JSON.stringify(cacheWrite),
    },
  });
  return { files: [...(program.outputFiles ?? []), ...(launcher.outputFiles ?? [])], bundle };
}
// The agent writes its cache once up for 3 s, the CNI plugin (a run of ~50 ms) as an ADD exits.
const agent = await launched('cellium-agent', `${root}cells/cmd/cellium-agent.ts`, 3000, {
  // See the shim: nothing in the agent speaks HTTP/2.
  alias: { http2: `${root}scripts/shims/http2.ts`, 'node:http2': `${root}scripts/shims/http2.ts` },
  // ...except the etcd client (gRPC is HTTP/2; it reads its .proto files beside its own code):
  // required from node_modules, and only by an agent run with --kvstore etcd. And the Kubernetes
  // client, ESM-only: import()ed from node_modules by an agent in Kubernetes mode only.
  external: ['etcd3', 'cockatiel', '@kubernetes/client-node'],
});
const cni = await launched(
  'cellium-cni',
  `${root}cells/cmd/cellium-cni.ts`,
  'exit:CNI_COMMAND=ADD',
);
// The health endpoint's HTTP server, which the agent starts inside the endpoint's namespace
// (cells/health/responder-process.ts finds it beside the agent's bundle).
const responder = await build({
  ...cjsOptions,
  entryPoints: { 'cellium-health-responder': `${root}cells/health/responder.ts` },
  outExtension: { '.js': '.cjs' },
  sourcemap: false,
});
const programs = [
  'cellium-agent.cjs',
  'cellium.mjs',
  'cellium-cni.cjs',
  'cellium-health-responder.cjs',
];
const bundles = {
  outputFiles: [
    ...(esm.outputFiles ?? []),
    ...agent.files,
    ...cni.files,
    ...(responder.outputFiles ?? []),
  ],
};
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
// What earlier builds left: bundles and code caches of other builds, and the programs by their
// former names (an old CNI wrapper must not keep running a stale plugin).
const current = new Set(
  [agent.bundle, cni.bundle].flatMap((b) => [b, `${b}.map`, `.${b}.v8-cache`]),
);
const stale = (name: string): boolean =>
  (/^\.?cellium-(agent|cni)\.bundle\./.test(name) && !current.has(name)) ||
  /^cellium-(agent|cni)\.mjs(\.map)?$/.test(name) ||
  name === 'cellium-cni.cjs.map';
for (const name of readdirSync(`${root}dist`))
  if (stale(name)) rmSync(`${root}dist/${name}`, { force: true });
console.log(`built ${programs.map((p) => `dist/${p}`).join(', ')}`);

// The eBPF objects: clang -target bpf through datapath-c/Makefile. Without them the agent has
// no bpf_lxc to attach and pods cannot reach each other, so a missing tool is said loudly.
const missing = ['clang', 'make'].filter(
  (tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0,
);
if (missing.length === 0) {
  const make = spawnSync('make', ['-s', '-C', `${root}datapath-c`], { stdio: 'inherit' });
  if (make.status !== 0) process.exit(make.status ?? 1);
  console.log('built datapath-c/build/*.o (bpf_lxc, bpf_host, bpf_sock, bpf_xdp, bpf_overlay)');
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
