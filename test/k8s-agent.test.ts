import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../core/testing/test-hive.js';
import { startApiServer, type ApiServerDouble } from './support/apiserver.js';
import { VERSION } from './support/apiserver/discovery.js';
import { cellium } from './support/cli.js';
import { launchedBundle, ROOT, run, startAgent } from './support/procs.js';

async function k8sLine(socket: string): Promise<string> {
  const r = await cellium(socket, 'status');
  return /^Kubernetes:.*$/m.exec(r.stdout)?.[0] ?? '';
}

describe('an agent in Kubernetes mode', () => {
  let api: ApiServerDouble | undefined;
  afterAll(async () => {
    await api?.stop();
  });

  it('the built agent waits for an API server that is away, says so, and proceeds when it returns', async () => {
    // The bundle leaves @kubernetes/client-node external (ESM-only, import()ed in Kubernetes
    // mode only): run the built agent, so that loading it from the bundle is what is tested.
    const build = await run([process.execPath, '--import', 'tsx', 'scripts/build.ts']);
    expect(build.code, build.stderr).toBe(0);
    api = await startApiServer({ bookmarkIntervalMs: 0 });
    const node = `k8s-agent-${process.pid}`;
    api.create('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
      spec: { nodeName: node, containers: [{ name: 'c', image: 'nginx' }] },
    });
    await api.pause();
    const agent = await startAgent({
      command: [process.execPath, join(ROOT, 'dist', 'cellium-agent.cjs')],
      args: [
        `--k8s-kubeconfig-path=${api.kubeconfigPath}`,
        `--node-name=${node}`,
        '--k8s-watch-backoff-max=500ms',
      ],
    });
    // Started without the API server: it says what it waits for.
    const waiting = await eventually(async () => {
      const line = await k8sLine(agent.socket);
      return line.includes(`waiting for the API server at ${api?.url ?? ''}`) ? line : undefined;
    }, 20_000);
    expect(waiting).toMatch(/^Kubernetes:\s+Warning\s+/);
    const verbose = await cellium(agent.socket, 'status', '--verbose');
    expect(verbose.stdout).toContain(`waiting for the API server at ${api.url}`);

    await api.resume();
    const ok = `${VERSION.major}.${VERSION.minor} (${VERSION.gitVersion}) [${VERSION.platform}]`;
    await eventually(
      async () =>
        new RegExp(`^Kubernetes:\\s+Ok\\s+${ok.replace(/[.()[\]/]/g, '\\$&')}$`).test(
          await k8sLine(agent.socket),
        ),
      30_000,
    );
    // The reflectors caught up: this node's pod is in, the CRDs are registered.
    await eventually(
      async () =>
        (await cellium(agent.socket, 'status', '--verbose')).stdout.includes('synced, 1 objects'),
      30_000,
    );
    await eventually(() =>
      api?.get('customresourcedefinitions', { name: 'ciliumidentities.cilium.io' }),
    );
    // The launcher writes the bundle's code cache once the agent has been up 3 s.
    const cache = join(ROOT, 'dist', `.${launchedBundle('cellium-agent')}.v8-cache`);
    await eventually(() => existsSync(cache), 30_000);
    expect(await agent.kill('SIGTERM')).toBe(0);
    // No watch left open by the stopped agent.
    await eventually(() => api?.openWatches().length === 0);
    // Started again, the launcher runs the bundle from the code cache the first run wrote, and
    // the client still loads (V8 drops import()'s callback in cached functions).
    const again = await startAgent({
      command: [process.execPath, join(ROOT, 'dist', 'cellium-agent.cjs')],
      args: [`--k8s-kubeconfig-path=${api.kubeconfigPath}`, `--node-name=${node}`],
    });
    await eventually(async () => /^Kubernetes:\s+Ok\s/.test(await k8sLine(again.socket)), 30_000);
    expect(await again.kill('SIGTERM')).toBe(0);
  });
});
