// Prometheus metrics of an agent on the real kernel: the agent in a node namespace with
// --prometheus-serve-addr, two pods added by cellium-cni, TCP between them, then a policy drop.
// A scrape passes `promtool check metrics`; the forward counters move with the traffic and the
// drop counters with the drop; GET /v1/metrics/ and `cellium metrics list -o json` list the same
// series as the scrape, with the same values for those that did not move in between. Root only
// (core/testing/kernel.ts); namespaces and processes go with the test.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Model } from '../core/api/types.js';
import { CelliumClient } from '../core/api/typed-client.js';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { freePort } from '../core/testing/ports.js';
import { run } from './support/procs.js';
import { serviceNode, type ServiceNode } from './support/services.js';
import { startServers, tcpClient, type TcpResult } from './support/socket-lb.js';

/** One series: name and labels as a key, and its value. */
type Series = Map<string, number>;

const key = (name: string, labels: Readonly<Record<string, string>>): string =>
  `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;

/**
 * The series of a scrape in Prometheus' text format, flattened as /v1/metrics/ flattens them:
 * a histogram's or summary's `_sum` under its own name, its buckets, quantiles and count left out.
 */
function parseScrape(text: string): Series {
  const types = new Map<string, string>();
  const out: Series = new Map();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1] ?? '', t[2] ?? '');
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    let name = m[1] ?? '';
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const base = name.replace(/_(sum|count|bucket)$/, '');
    if (base !== name && ['histogram', 'summary'].includes(types.get(base) ?? '')) {
      if (!name.endsWith('_sum')) continue;
      name = base;
    } else if (types.get(name) === 'summary') continue; // a quantile
    out.set(key(name, labels), Number(m[3]));
  }
  return out;
}

function fromModels(list: readonly Model<'Metric'>[]): Series {
  return new Map(list.map((m) => [key(m.name ?? '', m.labels ?? {}), m.value ?? NaN]));
}

// Runs in the node's namespace: GET url, prints the content type on the first line, then the body.
const SCRAPE = `fetch(process.argv[1]).then(async (r) => {
  if (r.status !== 200) { console.error('status ' + r.status); process.exit(1); }
  process.stdout.write(r.headers.get('content-type') + '\\n' + (await r.text()));
});`;

async function scrape(n: ServiceNode, port: number): Promise<{ type: string; text: string }> {
  const r = await run([
    'nsenter',
    `--net=/run/netns/${n.node}`,
    process.execPath,
    '-e',
    SCRAPE,
    `http://127.0.0.1:${port}/metrics`,
  ]);
  expect(r.code, r.stderr).toBe(0);
  const nl = r.stdout.indexOf('\n');
  return { type: r.stdout.slice(0, nl), text: r.stdout.slice(nl + 1) };
}

const sum = (s: Series, name: string, labels: Record<string, string>) =>
  s.get(key(name, labels)) ?? 0;

/** Process and runtime series may appear or change between two reads (a GC of a new kind). */
const isProcess = (k: string) => /^cellium_(process|nodejs)_/.test(k);

const BACKEND_FROM_FRONTEND = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: backend-from-frontend
  namespace: default
spec:
  endpointSelector:
    matchLabels:
      app: backend
  ingress:
    - fromEndpoints:
        - matchLabels:
            app: frontend
`;

kernelSuite(
  'Prometheus metrics of an agent on the kernel',
  { objects: [BPF_LXC_OBJECT], commands: ['ip', 'nsenter', 'promtool'] },
  () => {
    it('a scrape passes promtool; counters follow the traffic and the drops; the API and the CLI agree with it', async () => {
      // A fresh namespace has every port free; the one picked here is free on the host too.
      const port = await freePort();
      const n = await serviceNode({
        pods: 2,
        args: [`--prometheus-serve-addr=127.0.0.1:${port}`],
      });
      await startServers(n.pods[1] ?? '', [
        { proto: 'tcp', host: '0.0.0.0', port: 80, name: 'backend' },
      ]);
      const connect = async () => {
        const [r] = await tcpClient(
          { ns: n.pods[0] ?? '' },
          { host: n.ips[1] ?? '', port: 80, timeoutMs: 1500, times: 1 },
          false,
        );
        return (r as TcpResult).data ?? (r as TcpResult).error ?? '';
      };

      const first = await scrape(n, port);
      expect(first.type).toBe('text/plain; version=0.0.4; charset=utf-8');
      const before = parseScrape(first.text);
      expect(sum(before, 'cellium_endpoint_state', { endpoint_state: 'ready' })).toBe(2);
      expect(sum(before, 'cellium_ip_addresses', { family: 'ipv4' })).toBe(2);

      // Traffic between the pods: both directions of bpf_lxc count forwards.
      expect(await connect()).toBe('backend');
      const second = await scrape(n, port);
      const lint = await run(['promtool', 'check', 'metrics'], {}, second.text);
      expect(lint.code, `${lint.stdout}${lint.stderr}`).toBe(0);
      expect(`${lint.stdout}${lint.stderr}`).toBe('');
      const traffic = parseScrape(second.text);
      for (const direction of ['EGRESS', 'INGRESS']) {
        for (const what of ['count', 'bytes']) {
          const name = `cellium_forward_${what}_total`;
          expect(sum(traffic, name, { direction }), `${name} ${direction}`).toBeGreaterThan(
            sum(before, name, { direction }),
          );
        }
      }

      // A policy drop: the backend admits only app=frontend, which pod 0 is not.
      const label = await n.cli(
        'endpoint',
        'labels',
        'pod-name:default/pod1',
        '--add',
        'k8s:app=backend',
      );
      expect(label.code, label.stderr).toBe(0);
      const file = join(n.dir, 'rules.yaml');
      writeFileSync(file, BACKEND_FROM_FRONTEND);
      const imp = await n.cli('policy', 'import', file);
      expect(imp.code, `${imp.stdout}${imp.stderr}`).toBe(0);
      const rev = /Revision: (\d+)/.exec(imp.stdout)?.[1] ?? '';
      const w = await n.cli('policy', 'wait', rev, '--max-wait-time', '30s');
      expect(w.code, `${w.stdout}${w.stderr}`).toBe(0);
      expect(await connect()).not.toBe('backend');
      const dropped = parseScrape((await scrape(n, port)).text);
      const denied = { reason: 'Policy denied', direction: 'INGRESS' };
      for (const what of ['count', 'bytes']) {
        const name = `cellium_drop_${what}_total`;
        expect(sum(dropped, name, denied), name).toBeGreaterThan(sum(traffic, name, denied));
      }

      // The same series through the API and the CLI. A first call makes the API metric's
      // series of GET /v1/metrics/ exist, so the three reads below list the same series.
      const api = new CelliumClient(n.agent.socket);
      try {
        await api.getMetrics();
        const scraped = parseScrape((await scrape(n, port)).text);
        const listed = fromModels(
          JSON.parse((await n.cli('-o', 'json', 'metrics', 'list')).stdout) as Model<'Metric'>[],
        );
        const served = fromModels(await api.getMetrics());
        const agentSeries = (s: Series) => [...s.keys()].filter((k) => !isProcess(k)).sort();
        expect(agentSeries(listed)).toEqual(agentSeries(scraped));
        expect(agentSeries(served)).toEqual(agentSeries(scraped));
        // Process and runtime metrics change between reads (the event loop lag statistics are
        // NaN, which JSON cannot hold, between samples): those present in every read.
        for (const k of [
          'cellium_process_cpu_seconds_total{}',
          'cellium_process_resident_memory_bytes{}',
          'cellium_nodejs_heap_size_used_bytes{}',
        ]) {
          for (const s of [scraped, listed, served]) expect(s.has(k), k).toBe(true);
        }
        // Values of what did not move between the reads (no traffic, no change of state).
        const stable = [
          ...[...scraped.keys()].filter((k) =>
            /^cellium_(endpoint|endpoint_state|identity|ip_addresses|ipam_capacity|ipam_free)\{/.test(
              k,
            ),
          ),
          key('cellium_drop_count_total', denied),
        ];
        expect(stable.length).toBeGreaterThan(15);
        for (const k of stable) {
          expect(listed.get(k), k).toBe(scraped.get(k));
          expect(served.get(k), k).toBe(scraped.get(k));
        }
      } finally {
        api.close();
      }
    });
  },
);
