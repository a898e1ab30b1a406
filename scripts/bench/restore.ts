// Restore benchmark: the built agent starts on tens of thousands of persisted endpoints; how
// soon /v1/healthz answers after the socket appears, how slow it gets while restore runs, and
// how long until every endpoint is back. `tsx scripts/bench/restore.ts` runs it on its own.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { persisted, writeStateFile } from '../../cells/endpoint/state-files.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function healthz(agent: Agent, socketPath: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(
      { socketPath, agent, path: '/v1/healthz', headers: { host: 'localhost', brief: 'true' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          resolve(res.statusCode === 200 ? body : undefined);
        });
      },
    );
    req.on('error', () => {
      resolve(undefined);
    });
    req.end();
  });
}

/** Rows of the restore benchmark for `n` persisted endpoints. */
export async function benchRestore(
  n = 32_768,
): Promise<{ measure: string; result: string; goal: string }[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-restore-'));
  const eps = join(dir, 'state', 'endpoints');
  for (let id = 1; id <= n; id++) {
    writeStateFile(eps, String(id), {
      format: 1,
      endpoint: persisted(id, { labels: [`k8s:app=app${id % 50}`], identity: 256 + (id % 50) }),
    });
  }
  const socket = join(dir, 'api.sock');
  const t0 = performance.now();
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'dist', 'cellium-agent.cjs'),
      `--socket-path=${socket}`,
      '--enable-health-checking=false',
      `--state-dir=${join(dir, 'state')}`,
      `--bpf-root=${join(dir, 'bpf')}`,
      '--bpf-backend=memory',
      '--agent-health-port=0',
      '--ipv4-range=10.9.0.0/16',
    ],
    { stdio: 'ignore' },
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    while (!existsSync(socket)) {
      if (performance.now() - t0 > 60_000) throw new Error('no socket in 60 s');
      await new Promise((r) => setTimeout(r, 1));
    }
    const tSocket = performance.now();
    let tFirst = NaN;
    let worst = 0;
    for (;;) {
      const t = performance.now();
      const body = await healthz(agent, socket);
      worst = Math.max(worst, performance.now() - t);
      if (body !== undefined && Number.isNaN(tFirst)) tFirst = performance.now();
      // Done once the hive runs ('starting' before) and restore is over ('not ready' until then).
      const msg =
        body === undefined
          ? 'starting'
          : ((JSON.parse(body) as { cilium: { msg?: string } }).cilium.msg ?? '');
      if (!msg.startsWith('starting') && !msg.startsWith('not ready')) break;
      if (performance.now() - t0 > 120_000) throw new Error('not restored in 120 s');
    }
    const tDone = performance.now();
    return [
      {
        measure: `${n} endpoints on disk: socket → first /healthz answer`,
        result: `${(tFirst - tSocket).toFixed(0)} ms`,
        goal: 'at once (was ~14 s)',
      },
      {
        measure: '  /healthz latency during restore, max',
        result: `${worst.toFixed(0)} ms`,
        goal: '',
      },
      {
        measure: '  start → every endpoint restored',
        result: `${(tDone - t0).toFixed(0)} ms`,
        goal: '',
      },
    ];
  } finally {
    agent.destroy();
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchRestore()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
