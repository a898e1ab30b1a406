import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { agent } from '../cells/agent.js';
import { ApiRoutes, ApiServer } from '../cells/api/index.js';
import { loadSpec, SpecValidator } from '../core/api/index.js';
import { testHive } from '../core/testing/test-hive.js';
import { agentHints, PodCidr } from './support/agent-fuzz.js';
import { exchange, learn, plain, Trail, type Exchange } from './support/fuzz-exchange.js';
import { invariantViolations, runStateful } from './support/agent-steps.js';
import { FindingLog } from './support/fuzz-oracle.js';
import { appTarget, rawExchange, socketTarget, type FuzzTarget } from './support/fuzz-target.js';
import { startAgent, tempDir } from './support/procs.js';
import { fuzzSeed, Rng } from './support/spec-fuzz.js';
import { buildRequest } from './support/spec-requests.js';

// FUZZ_SEED reproduces a run; FUZZ_SCALE multiplies the number of requests (default 1);
// FUZZ_REPORT=<file> writes every distinct finding as JSON.
const SEED = fuzzSeed();
const SCALE = Number(process.env.FUZZ_SCALE ?? '1');
if (!(SCALE > 0)) throw new Error(`FUZZ_SCALE must be a positive number, not '${String(SCALE)}'`);
const HANG_MS = 30_000;
const spec = loadSpec();
const validator = new SpecValidator(spec);
const ops = [...spec.operations.values()].sort((a, b) => a.id.localeCompare(b.id));
console.log(`api fuzz: FUZZ_SEED=${SEED}`);

interface Setup {
  readonly v4: string;
  readonly v6?: string;
}

const V4_ONLY: Setup = { v4: '10.77.0.0/28' };
const DUAL: Setup = { v4: '10.77.0.0/28', v6: 'fd00:77::/124' };

function flags(dir: string, s: Setup): Record<string, unknown> {
  return {
    'socket-path': join(dir, 'api.sock'),
    'state-dir': join(dir, 'state'),
    'bpf-root': join(dir, 'bpf'),
    'bpf-backend': 'memory',
    'agent-health-port': 0,
    // No cellium-health: it would bind <host IP>:4240 and ping, colliding with other agents.
    'enable-health-checking': false,
    'ipv4-range': s.v4,
    'enable-ipv6': s.v6 !== undefined,
    ...(s.v6 ? { 'ipv6-range': s.v6 } : {}),
    'endpoint-sync-timeout': '3s',
    // On in-memory maps the prefilter keeps its deny list without a device to attach to, so its
    // operations are fuzzed here; the agent over the socket runs with it off (its 501).
    'prefilter-device': 'eth-fuzz',
  };
}

/** A temporary directory for one agent's socket and state, removed when the test finishes. */
function fuzzDir(): string {
  const dir = tempDir('cellium-fuzz-');
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function pools(s: Setup): PodCidr[] {
  return [new PodCidr(s.v4), ...(s.v6 ? [new PodCidr(s.v6)] : [])];
}

/** Operation ids the whole agent serves (the others must answer 501 naming their cell). */
function servedOps(): Set<string> {
  const h = testHive([agent], { flags: flags(fuzzDir(), V4_ONLY) });
  h.hive.populate();
  return new Set(h.get(ApiRoutes).served());
}

/** Starts the whole agent in this process and returns how to fuzz it. */
async function inProcess(s: Setup): Promise<Exchange> {
  const h = testHive([agent], { flags: flags(fuzzDir(), s) });
  await h.requireStart();
  const target = appTarget(h.get(ApiServer).app);
  return exchangeFor(target, new Set(h.get(ApiRoutes).served()), s);
}

function exchangeFor(target: FuzzTarget, served: Set<string>, s: Setup): Exchange {
  const log = new FindingLog();
  const ctx = { served, doc: spec.document, validator, notes: new FindingLog() };
  return { target, spec, ctx, log, pools: pools(s), trail: new Trail(), hangMs: HANG_MS, sent: 0 };
}

/** Creates endpoints until a few exist, so ids and IPs in requests point at something. */
async function ensureEndpoints(x: Exchange, rng: Rng, n: number): Promise<void> {
  for (let i = 0; i < 2 * n && (await learn(x)).endpoints.length < n; i++) {
    const pod = `seed${rng.int(0, 999)}`;
    const a = await exchange(
      x,
      plain('PostIpam', 'POST', `/ipam?family=ipv4&owner=default%2F${pod}`),
      true,
    );
    const ip = (a?.json as { address?: { ipv4?: string } } | undefined)?.address?.ipv4;
    if (ip === undefined) return;
    const body = {
      state: 'waiting-for-identity',
      'interface-name': '',
      'container-id': `c-${pod}`,
      'k8s-namespace': 'default',
      'k8s-pod-name': pod,
      addressing: { ipv4: ip },
      labels: ['k8s:app=web'],
    };
    await exchange(x, plain('PutEndpointID', 'PUT', '/endpoint/cilium-local%3A0', { body }), true);
  }
}

/** Every operation, `rounds` times `perRound` requests each (a quarter valid, the rest mutated). */
async function fuzzOperations(x: Exchange, rng: Rng, rounds: number, perRound: number) {
  const v6Disabled = !x.pools.some((p) => p.family === 'ipv6');
  for (let round = 0; round < rounds; round++) {
    await ensureEndpoints(x, rng, 3);
    const hints = agentHints(await learn(x), x.pools, v6Disabled);
    for (const op of rng.shuffle(ops)) {
      const n = x.ctx.served.has(op.id) ? perRound : 1;
      for (let i = 0; i < n; i++) {
        await exchange(x, buildRequest(rng, spec, op, hints, rng.chance(0.75)));
      }
    }
  }
}

/**
 * Fails with a readable summary when anything was found (replies that merely differ from the
 * spec are listed after it, without failing); writes FUZZ_REPORT if asked.
 */
function report(x: Exchange, title: string): void {
  const file = process.env.FUZZ_REPORT;
  if (file) {
    const all = [...x.log.list(), ...x.ctx.notes.list()].map((f) => ({ title, ...f }));
    writeFileSync(`${file}.${title.replace(/\W+/g, '-')}.json`, JSON.stringify(all, null, 2));
  }
  const notes =
    x.ctx.notes.size > 0
      ? `\n\nNot failing: ${x.ctx.notes.summary('differences from the spec', SEED, 15)}`
      : '';
  const what = `${title} (${x.sent} requests)`;
  if (x.log.size > 0) throw new Error(x.log.summary(what, SEED) + notes);
  if (notes !== '') console.log(notes);
}

describe('API fuzz driven by the OpenAPI spec', { timeout: 900_000 }, () => {
  it('answers every operation with random and mutated params, ids and bodies (whole agent, in process)', async () => {
    const x = await inProcess(V4_ONLY);
    await fuzzOperations(x, new Rng(SEED).fork('operations'), Math.round(20 * SCALE), 10);
    for (const v of await invariantViolations(x))
      x.log.add('invariant', 'end', undefined, v, plain('-', 'GET', '/endpoint'));
    report(x, 'operations');
  });

  it.each([
    ['IPv4 only', V4_ONLY],
    ['dual stack', DUAL],
  ])(
    'keeps IPs and endpoints consistent through random IPAM/endpoint sequences (%s)',
    async (name, setup) => {
      const x = await inProcess(setup);
      await runStateful(x, new Rng(SEED).fork(`stateful ${name}`), Math.round(1500 * SCALE));
      await fuzzOperations(
        x,
        new Rng(SEED).fork(`stateful-ops ${name}`),
        Math.round(2 * SCALE),
        10,
      );
      report(x, `stateful ${name}`);
    },
  );

  it('survives the same over its unix socket: the agent process stays up and answers /healthz', async () => {
    const served = servedOps();
    const dir = fuzzDir();
    const a = await startAgent({
      dir,
      bpfRoot: join(dir, 'bpf'),
      args: ['--bpf-backend=memory', `--ipv4-range=${V4_ONLY.v4}`, '--endpoint-sync-timeout=3s'],
    });
    const x = exchangeFor(socketTarget(a.socket), served, V4_ONLY);
    const rng = new Rng(SEED).fork('socket');
    for (const bytes of wireGarbage()) {
      await rawExchange(a.socket, bytes, 2000);
      expect(
        a.proc.exitCode,
        `agent died after raw bytes ${JSON.stringify(bytes.toString('latin1').slice(0, 80))}`,
      ).toBeNull();
    }
    await fuzzOperations(x, rng, Math.round(3 * SCALE), 5);
    await runStateful(x, rng.fork('steps'), Math.round(300 * SCALE));
    expect(a.proc.exitCode, `agent exited:\n${a.logs().slice(-3000)}`).toBeNull();
    const hz = await x.target.send(plain('GetHealthz', 'GET', '/healthz'));
    expect(hz.status).toBe(200);
    report(x, 'socket');
  });
});

/** Bytes that are not proper HTTP requests: the server must answer or close, never die. */
function wireGarbage(): Buffer[] {
  const big = 'x'.repeat(1 << 20);
  return [
    'GARBAGE\r\n\r\n',
    'GET /v1/healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    'PUT /v1/endpoint/0 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"state":',
    'PUT /v1/endpoint/0 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n{',
    `PUT /v1/endpoint/0 HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length + 10}\r\n\r\n${big}`,
    'GET /v1/endpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n[1,2',
    `GET /v1/${'a/'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET /v1/healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(20_000)}\r\n\r\n`,
    'GET /v1/endpoint/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /v1/endpoint/%00 HTTP/1.1\r\nHost: x\r\n\r\n',
    '\u0000\u0001\u0002\u00ff',
  ].map((s) => Buffer.from(s, 'latin1'));
}
