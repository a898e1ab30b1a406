// The chart renderer (test/support/helm-render/main.go: Go's text/template with sprig and Helm's
// own functions), built once per source with Debian's Go packages only, and a `helm` binary's
// renders when one is on PATH.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { KernelVerdict } from '../../core/testing/kernel.js';
import { hostKernel, kernelPrereqs } from '../../core/testing/kernel.js';
import { ROOT, tempDir } from './procs.js';

/** The chart under test. */
export const CHART = join(ROOT, 'charts', 'cellium');

const SOURCE = join(ROOT, 'test', 'support', 'helm-render', 'main.go');
// Debian's GOPATH: golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev and their deps.
const GOPATH = '/usr/share/gocode';
const GO_PACKAGES: readonly (readonly [string, string])[] = [
  ['github.com/Masterminds/sprig', 'golang-github-masterminds-sprig-dev'],
  ['sigs.k8s.io/yaml', 'golang-k8s-sigs-yaml-dev'],
];

/**
 * Whether the renderer can be built here: `go` on PATH and Debian's sprig and YAML sources.
 * Missing: skipped with the reason, or (CI=true) a failure naming the missing package.
 */
export function helmRenderPrereqs(): KernelVerdict {
  const v = kernelPrereqs({ root: false, commands: ['go'] });
  if (!v.run) {
    return { ...v, reason: 'go not found on PATH (apt-get install golang-go)' };
  }
  for (const [pkg, deb] of GO_PACKAGES) {
    if (existsSync(join(GOPATH, 'src', pkg))) continue;
    return {
      run: false,
      fail: hostKernel().ci,
      missing: deb,
      reason: `${deb} not installed (${join(GOPATH, 'src', pkg)} missing; apt-get install ${deb})`,
    };
  }
  return { run: true };
}

let built: string | undefined;

/**
 * The renderer's binary, built in GOPATH mode against Debian's packages (no module download) and
 * cached under node_modules/.cache by the hash of its source and the Go version.
 */
export function helmRenderBinary(): string {
  if (built) return built;
  const goVersion = spawnSync('go', ['version'], { encoding: 'utf8' }).stdout.trim();
  const hash = createHash('sha256')
    .update(readFileSync(SOURCE))
    .update(goVersion)
    .digest('hex')
    .slice(0, 16);
  const cache = join(ROOT, 'node_modules', '.cache', 'cellium-helm-render');
  const bin = join(cache, `helm-render-${hash}`);
  if (!existsSync(bin)) {
    mkdirSync(cache, { recursive: true });
    const tmp = `${bin}.tmp-${process.pid}`;
    const res = spawnSync('go', ['build', '-o', tmp, SOURCE], {
      encoding: 'utf8',
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH,
        GOFLAGS: '',
        GOCACHE: join(cache, 'go-build'),
      },
    });
    if (res.status !== 0) {
      rmSync(tmp, { force: true });
      throw new Error(`go build ${SOURCE} failed:\n${res.stderr}`);
    }
    renameSync(tmp, bin);
  }
  built = bin;
  return bin;
}

/** How a chart is rendered: value overrides (as `-f` files, in order), release, cluster version. */
export interface RenderOptions {
  /** The chart directory (default: charts/cellium). */
  readonly chart?: string;
  readonly values?: readonly Record<string, unknown>[];
  readonly name?: string;
  readonly namespace?: string;
  readonly kubeVersion?: string;
  /** Also render NOTES.txt (Rendered.notes; the Go renderer only). */
  readonly notes?: boolean;
}

/** A render's outcome: the documents (parsed) with their `# Source:` file, or the error. */
export interface Rendered {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly docs: readonly { readonly source: string; readonly object: Record<string, unknown> }[];
  /** The rendered NOTES.txt, when asked for. */
  readonly notes: string;
}

/** Runs `cmd` with the values as `-f` files (written to a temporary directory, then removed). */
function withValueFiles(
  values: readonly Record<string, unknown>[],
  cmd: (args: string[]) => SpawnSyncReturns<string>,
): SpawnSyncReturns<string> {
  const dir = tempDir('cellium-chart-');
  try {
    const args = values.flatMap((v, i) => {
      const f = join(dir, `values-${i}.yaml`);
      writeFileSync(f, JSON.stringify(v));
      return ['-f', f];
    });
    return cmd(args);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Splits `helm template` output into its documents, each with the file it came from. */
export function parseManifests(text: string): Rendered['docs'] {
  return text.split(/^---$/m).flatMap((chunk) => {
    const doc = parseDocument(chunk);
    if (doc.errors.length > 0) throw new Error(`invalid YAML rendered: ${doc.errors[0]?.message}`);
    const object = doc.toJS() as Record<string, unknown> | null;
    if (object === null) return [];
    const source = /^# Source: (\S+)/m.exec(chunk)?.[1] ?? '';
    return [{ source, object }];
  });
}

/** Renders the chart with the Go renderer. */
export function renderChart(opts: RenderOptions = {}): Rendered {
  const res = withValueFiles(opts.values ?? [], (files) =>
    spawnSync(
      helmRenderBinary(),
      [
        '--name',
        opts.name ?? 'cellium',
        '--namespace',
        opts.namespace ?? 'kube-system',
        '--kube-version',
        opts.kubeVersion ?? '1.30.0',
        ...(opts.notes ? ['--notes'] : []),
        ...files,
        opts.chart ?? CHART,
      ],
      { encoding: 'utf8' },
    ),
  );
  const ok = res.status === 0;
  const at = res.stdout.indexOf('\nNOTES:\n');
  const manifests = at < 0 ? res.stdout : res.stdout.slice(0, at);
  const notes = at < 0 ? '' : res.stdout.slice(at + '\nNOTES:\n'.length);
  return {
    ok,
    stdout: manifests,
    stderr: res.stderr,
    docs: ok ? parseManifests(manifests) : [],
    notes,
  };
}

/** Renders the chart with a real `helm template --include-crds` (when helm is on PATH). */
export function helmTemplate(opts: RenderOptions = {}): Rendered {
  const res = withValueFiles(opts.values ?? [], (files) =>
    spawnSync(
      'helm',
      [
        'template',
        opts.name ?? 'cellium',
        opts.chart ?? CHART,
        '--include-crds',
        '--namespace',
        opts.namespace ?? 'kube-system',
        '--kube-version',
        opts.kubeVersion ?? '1.30.0',
        ...files,
      ],
      { encoding: 'utf8' },
    ),
  );
  const ok = res.status === 0;
  return {
    ok,
    stdout: res.stdout,
    stderr: res.stderr,
    docs: ok ? parseManifests(res.stdout) : [],
    notes: '',
  };
}
