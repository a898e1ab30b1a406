import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { eventually } from '../core/testing/test-hive.js';
import {
  copyLaunched,
  program,
  ROOT,
  run,
  startAgent,
  tempDir,
  testBpfRoot,
} from './support/procs.js';

describe('cellium-agent and cellium', () => {
  it('runs with embedded defaults; `cellium status` shows every cell healthy', async () => {
    const agent = await startAgent();
    const res = await run([
      ...program('cellium'),
      '-H',
      `unix://${agent.socket}`,
      'status',
      '--verbose',
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Cellium:\s+Ok/);
    expect(res.stdout).toMatch(/Modules health:\s+(\d+)\/\1 ok/);
    expect(res.stdout).toContain('api [OK] serving on unix://');
    expect(res.stdout).toContain('daemon [OK]');
    const json = await run([
      ...program('cellium'),
      '-H',
      `unix://${agent.socket}`,
      '-o',
      'json',
      'status',
    ]);
    expect(JSON.parse(json.stdout)).toMatchObject({ cilium: { state: 'Ok' } });
  });

  it('stops its cells in reverse order on SIGTERM and removes the socket', async () => {
    const agent = await startAgent();
    expect(existsSync(agent.socket)).toBe(true);
    agent.proc.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    const events = agent
      .logs()
      .split('\n')
      .filter((l) => l.includes('hook executed'))
      .map((l) => JSON.parse(l) as { msg: string; module: string; hook: string })
      .map((e) => `${e.msg.split(' ')[0] ?? ''} ${e.module}/${e.hook}`);
    const starts = events.filter((e) => e.startsWith('start')).map((e) => e.slice(6));
    const stops = events.filter((e) => e.startsWith('stop')).map((e) => e.slice(5));
    expect(starts.length).toBeGreaterThan(0);
    expect(stops).toEqual([...starts].reverse());
    expect(existsSync(agent.socket)).toBe(false);
  });

  it('exits 2 naming an invalid or unknown flag, before starting anything', async () => {
    const sock = join(tempDir(), 'never.sock');
    const bad = await run([...program('cellium-agent'), '--mtu=jumbo', `--socket-path=${sock}`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--mtu: invalid value 'jumbo': must be integer");
    const unknown = await run([...program('cellium-agent'), '--no-such-flag=1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--no-such-flag: unknown flag');
    const env = await run([...program('cellium-agent')], {
      CELLIUM_POLICY_ENFORCEMENT: 'sometimes',
    });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain("--policy-enforcement: invalid value 'sometimes'");
    expect(existsSync(sock)).toBe(false);
  });

  it('exits non-zero naming the cell whose start failed', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    const res = await run([...program('cellium-agent'), `--socket-path=${file}/api.sock`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /start hook 'api-server' of module agent\.infra\.api failed: E[A-Z]+/,
    );
  });

  it('`cellium-agent hive` prints modules, tokens and the start order; --dot a graph', async () => {
    const text = await run([...program('cellium-agent'), 'hive']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Ⓜ️ api (REST API v1 on a unix socket)');
    expect(text.stdout).toContain(
      '🚧 api/ApiServer ⇨ api/ApiConfig, api/ApiRoutes, hive/Lifecycle',
    );
    expect(text.stdout).toMatch(/Start hooks:\n\s+1\. agent\.infra\.api \(api-server\)/);
    const dot = await run([...program('cellium-agent'), 'hive', '--dot']);
    expect(dot.stdout).toMatch(/^digraph hive \{/);
    expect(dot.stdout).toContain('"api/ApiServer" -> "api/ApiRoutes";');
  });

  it('`cellium` explains when the agent is not running', async () => {
    const res = await run([
      ...program('cellium'),
      '-H',
      `unix://${join(tempDir(), 'none.sock')}`,
      'status',
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^Error: cannot reach cellium-agent at unix:\/\/.*none\.sock: ENOENT \(is the agent running\?/,
    );
  });

  it('`cellium config` changes a runtime option and rejects an immutable one', async () => {
    const agent = await startAgent();
    const host = ['-H', `unix://${agent.socket}`];
    const set = await run([...program('cellium'), ...host, 'config', 'debug=true']);
    expect(set.stdout).toMatch(/Debug\s+Enabled/);
    const bad = await run([...program('cellium'), ...host, 'config', 'mtu=9000']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('option mtu: cannot be changed at runtime');
  });

  it('`cellium-cni` answers VERSION as the CNI spec says', async () => {
    const res = await run(program('cellium-cni'), { CNI_COMMAND: 'VERSION' });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({
      cniVersion: '1.0.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  });
});

describe('the built programs', () => {
  it('run from their bundles with the spec embedded: agent, status over the socket, clean stop', async () => {
    const build = await run([process.execPath, '--import', 'tsx', 'scripts/build.ts']);
    expect(build.code, build.stderr).toBe(0);
    const dir = tempDir();
    const socket = join(dir, 'api.sock');
    const agent = spawn(
      process.execPath,
      [
        'dist/cellium-agent.cjs',
        `--socket-path=${socket}`,
        `--state-dir=${dir}/state`,
        `--bpf-root=${testBpfRoot()}`,
        // No health endpoint or health port in the host's namespace (test/health.kernel.test.ts).
        '--enable-health-checking=false',
        '--agent-health-port=0',
      ],
      {
        cwd: ROOT,
      },
    );
    onTestFinished(() => {
      if (agent.exitCode === null) agent.kill('SIGKILL');
    });
    const status = await eventually(async () => {
      const r = await run([
        process.execPath,
        'dist/cellium.mjs',
        '-H',
        `unix://${socket}`,
        'status',
      ]);
      return r.code === 0 ? r : undefined;
    }, 30_000);
    expect(status.stdout).toMatch(/Cellium:\s+Ok\s+Cellium \d+\.\d+\.\d+/);
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
    expect(agent.exitCode).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });

  it("the agent's launcher writes V8's code cache once; one V8 rejects is replaced", async () => {
    const { dir: dist, bundle } = copyLaunched('cellium-agent');
    const caches = (): string[] => readdirSync(dist).filter((f) => f.endsWith('.v8-cache'));
    const startOnce = async (done: () => boolean): Promise<void> => {
      const dir = tempDir();
      const socket = join(dir, 'api.sock');
      const agent = spawn(process.execPath, [
        join(dist, 'cellium-agent.cjs'),
        `--socket-path=${socket}`,
        `--state-dir=${dir}/state`,
        `--bpf-root=${testBpfRoot()}`,
        '--enable-health-checking=false',
        '--agent-health-port=0',
      ]);
      onTestFinished(() => {
        if (agent.exitCode === null) agent.kill('SIGKILL');
      });
      const stderr: Buffer[] = [];
      agent.stderr.on('data', (d: Buffer) => stderr.push(d));
      await eventually(() => (done() ? true : undefined), 30_000);
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
      expect(agent.exitCode, Buffer.concat(stderr).toString()).toBe(0);
    };

    await startOnce(() => caches().length > 0);
    const [cache] = caches();
    expect(cache).toBe(`.${bundle}.v8-cache`);
    const written = statSync(join(dist, cache ?? '')).mtimeMs;
    // A cache V8 rejects (garbage of the right name) is replaced by a good one.
    writeFileSync(join(dist, cache ?? ''), 'not a code cache');
    await startOnce(() => statSync(join(dist, cache ?? '')).size > 100_000);
    expect(caches()).toEqual([cache]);
    expect(statSync(join(dist, cache ?? '')).size).toBeGreaterThan(100_000);
    expect(statSync(join(dist, cache ?? '')).mtimeMs).toBeGreaterThan(written);
    // A cache V8 accepts is kept: a start that used it writes none (the launcher writes only
    // after a start without a usable one), even when it runs past the moment it would.
    const good = statSync(join(dist, cache ?? '')).mtimeMs;
    const t = Date.now();
    await startOnce(() => Date.now() - t > 4500);
    expect(statSync(join(dist, cache ?? '')).mtimeMs).toBe(good);
    // A cache of another build (another bundle name) is never read: its name is not asked for.
    expect(existsSync(join(ROOT, 'dist', bundle))).toBe(true);
  });

  it("the CNI plugin's launcher writes no code cache for a VERSION run, and exits as the plugin does", async () => {
    const { dir: dist } = copyLaunched('cellium-cni');
    const version = await run([process.execPath, join(dist, 'cellium-cni.cjs')], {
      CNI_COMMAND: 'VERSION',
    });
    expect([version.code, version.stderr]).toEqual([0, '']);
    expect(JSON.parse(version.stdout)).toMatchObject({ cniVersion: '1.0.0' });
    // Only a successful ADD writes it (test/quickstart.kernel.test.ts runs ADDs of the build).
    const failed = await run([process.execPath, join(dist, 'cellium-cni.cjs')], {
      CNI_COMMAND: 'ADD',
    });
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ code: 7 });
    expect(readdirSync(dist).filter((f) => f.endsWith('.v8-cache'))).toEqual([]);
  });
});
