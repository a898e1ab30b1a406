// Network policy end to end on the real kernel: the agent in a node namespace, pods added by
// cellium-cni and labelled through the CLI, rules imported with `cellium policy import`, and real
// TCP between pods and towards an address outside the node. Drops are counted in the agent's
// pinned cellium_metrics and reported as events; a kill -9 of the agent never lets denied
// traffic through. Root only (core/testing/kernel.ts); every namespace and process goes with
// its test.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openMap } from '../core/bpf/index.js';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { METRIC, METRICS_MAP, REASON } from '../cells/maps/index.js';
import { total } from './support/lb-world.js';
import { addr, netns, sh, veth } from './support/netns.js';
import { serviceNode, type ServiceNode } from './support/services.js';
import { startServers, tcpClient, udpClient, type TcpResult } from './support/socket-lb.js';

/** The pods: 0 frontend, 1 backend, 2 other. */
const FE = 0;
const BE = 1;
const OTHER = 2;

/** A node with three labelled pods, servers on TCP 80 and 81 in the backend and outside. */
interface PolicyNode {
  readonly n: ServiceNode;
  /** An address outside the node (a namespace behind ext0) with the same servers. */
  readonly world: string;
  /** The node's address on ext0 (the outside reaches NodePorts there). */
  readonly nodeAddr: string;
  /** The outside namespace. */
  readonly worldNs: string;
}

async function policyNode(args: readonly string[] = []): Promise<PolicyNode> {
  let world = '';
  let worldNs = '';
  const n = await serviceNode({
    pods: 3,
    args,
    before: (node) => {
      const ext = netns(`cw-${node.slice('cs-'.length)}`);
      const k = 100 + (parseInt(node.slice(3, 5), 16) % 100);
      veth(node, 'ext0', ext, 'eth0');
      addr(node, 'ext0', `192.168.${k}.1/24`);
      addr(ext, 'eth0', `192.168.${k}.2/24`);
      sh('ip', ['-n', ext, 'route', 'add', 'default', 'via', `192.168.${k}.1`]);
      // (procps' sysctl is not among the packages the test script installs.)
      sh('ip', ['netns', 'exec', node, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
      world = `192.168.${k}.2`;
      worldNs = ext;
    },
  });
  const apps = ['frontend', 'backend', 'other'];
  for (const [i, app] of apps.entries()) {
    const r = await n.cli(
      'endpoint',
      'labels',
      `pod-name:default/pod${i}`,
      '--add',
      `k8s:app=${app}`,
    );
    expect(r.code, r.stderr).toBe(0);
  }
  const servers = (name: string) => [
    { proto: 'tcp' as const, host: '0.0.0.0', port: 80, name: `${name}:80` },
    { proto: 'tcp' as const, host: '0.0.0.0', port: 81, name: `${name}:81` },
  ];
  await startServers(n.pods[BE] ?? '', servers('backend'));
  await startServers(worldNs, servers('world'));
  return { n, world, worldNs, nodeAddr: world.replace(/\.2$/, '.1') };
}

/** One TCP connection from pod `from` to host:port: what the server said, or the error. */
async function connect(p: PolicyNode, from: number, host: string, port: number): Promise<string> {
  const [r] = await tcpClient(
    { ns: p.n.pods[from] ?? '' },
    { host, port, timeoutMs: 1500, times: 1 },
    false,
  );
  return (r as TcpResult).data ?? (r as TcpResult).error ?? '';
}

/** `cellium policy import` of rules (JSON or YAML text); the new revision. */
async function importPolicy(p: PolicyNode, text: string, ...flags: string[]): Promise<number> {
  const file = join(p.n.dir, `rules-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(file, text);
  const r = await p.n.cli('policy', 'import', file, ...flags);
  expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
  const rev = Number(/Revision: (\d+)/.exec(r.stdout)?.[1]);
  const w = await p.n.cli('policy', 'wait', String(rev), '--max-wait-time', '30s');
  expect(w.code, `${w.stdout}${w.stderr}`).toBe(0);
  return rev;
}

async function deletePolicy(p: PolicyNode, ...labels: string[]): Promise<void> {
  const r = await p.n.cli('policy', 'delete', ...(labels.length > 0 ? labels : ['--all']));
  expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
  const rev = Number(/Revision: (\d+)/.exec(r.stdout)?.[1]);
  const w = await p.n.cli('policy', 'wait', String(rev), '--max-wait-time', '30s');
  expect(w.code, `${w.stdout}${w.stderr}`).toBe(0);
}

/** Packets counted in the agent's cellium_metrics under a reason and direction. */
function dropped(p: PolicyNode, reason: number, dir: number): number {
  const m = openMap(METRICS_MAP, { backend: 'kernel', pinDir: `${p.n.bpfRoot}/tc/globals` });
  try {
    return total(m, reason, dir);
  } finally {
    m.close();
  }
}

/** The drops the agent reported (from cellium_events), as /debuginfo lists them. */
async function drops(p: PolicyNode): Promise<string> {
  const r = await p.n.cli('debuginfo', '-o', 'json');
  const d = JSON.parse(r.stdout) as { subsystem?: Record<string, string> };
  return d.subsystem?.['policy-drops'] ?? '';
}

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
      toPorts:
        - ports:
            - port: "80"
              protocol: TCP
`;

kernelSuite(
  'network policy through the agent on the kernel',
  { objects: [BPF_LXC_OBJECT], commands: ['ip', 'nsenter', 'sh', 'ping'] },
  () => {
    it('ingress, egress, CIDR, entities and deny rules are enforced by bpf_lxc, and deleting them restores traffic', async () => {
      const p = await policyNode();
      const be = p.n.ips[BE] ?? '';
      // No rule: everything talks.
      expect(await connect(p, FE, be, 80)).toBe('backend:80');
      expect(await connect(p, OTHER, be, 80)).toBe('backend:80');
      expect(await connect(p, FE, be, 81)).toBe('backend:81');
      expect(await connect(p, OTHER, p.world, 81)).toBe('world:81');

      // The backend allows ingress from app=frontend on TCP 80, nothing else.
      const denied0 = dropped(p, REASON.POLICY_DENIED, METRIC.INGRESS);
      await importPolicy(p, BACKEND_FROM_FRONTEND);
      expect(await connect(p, FE, be, 80)).toBe('backend:80');
      expect(await connect(p, OTHER, be, 80)).toBe('timeout');
      expect(await connect(p, FE, be, 81)).toBe('timeout');
      expect(dropped(p, REASON.POLICY_DENIED, METRIC.INGRESS)).toBeGreaterThanOrEqual(denied0 + 2);
      const events = await drops(p);
      expect(events).toMatch(
        new RegExp(
          `drop \\(Policy denied\\) .* ingress endpoint \\d+, .*${p.n.ips[OTHER] ?? ''}:\\d+ -> ${be}:80 tcp SYN`,
        ),
      );
      expect(events).toMatch(new RegExp(`${p.n.ips[FE] ?? ''}:\\d+ -> ${be}:81 tcp SYN`));
      // Others keep their open egress and ingress.
      expect(await connect(p, OTHER, p.world, 80)).toBe('world:80');

      // Egress: "other" may reach the outside address on TCP 80 (toCIDR) and nothing else.
      await importPolicy(
        p,
        JSON.stringify([
          {
            endpointSelector: { matchLabels: { app: 'other' } },
            egress: [
              {
                toCIDR: [`${p.world}/32`],
                toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
              },
            ],
            labels: ['test=egress-cidr'],
          },
          {
            endpointSelector: { matchLabels: { app: 'frontend' } },
            egress: [
              { toEntities: ['world'] },
              { toEndpoints: [{ matchLabels: { app: 'backend' } }] },
            ],
            labels: ['test=egress-world'],
          },
        ]),
      );
      const egress0 = dropped(p, REASON.POLICY_DENIED, METRIC.EGRESS);
      expect(await connect(p, OTHER, p.world, 80)).toBe('world:80');
      expect(await connect(p, OTHER, p.world, 81)).toBe('timeout');
      expect(await connect(p, FE, p.world, 81)).toBe('world:81');
      expect(await connect(p, FE, be, 80)).toBe('backend:80');
      expect(dropped(p, REASON.POLICY_DENIED, METRIC.EGRESS)).toBeGreaterThan(egress0);

      // An ingressDeny beats the allow.
      const deny0 = dropped(p, REASON.POLICY_DENY, METRIC.INGRESS);
      await importPolicy(
        p,
        JSON.stringify([
          {
            endpointSelector: { matchLabels: { app: 'backend' } },
            ingressDeny: [
              {
                fromEndpoints: [{ matchLabels: { app: 'frontend' } }],
                toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
              },
            ],
            labels: ['test=deny'],
          },
        ]),
      );
      expect(await connect(p, FE, be, 80)).toBe('timeout');
      expect(dropped(p, REASON.POLICY_DENY, METRIC.INGRESS)).toBeGreaterThan(deny0);
      expect(await drops(p)).toMatch(/drop \(Policy denied by denylist\) .* ingress endpoint \d+,/);

      // Deleting the rules restores traffic.
      await deletePolicy(p, 'test=deny');
      expect(await connect(p, FE, be, 80)).toBe('backend:80');
      await deletePolicy(p);
      expect(await connect(p, OTHER, be, 80)).toBe('backend:80');
      expect(await connect(p, FE, be, 81)).toBe('backend:81');
      expect(await connect(p, OTHER, p.world, 81)).toBe('world:81');
    });

    it('replies and related ICMP errors pass a direction that is enforced; ping follows icmps rules', async () => {
      const p = await policyNode();
      // "other" lets nothing in, and may only send TCP 80 and UDP 9999 to the outside address.
      await importPolicy(
        p,
        JSON.stringify([
          {
            endpointSelector: { matchLabels: { app: 'other' } },
            ingress: [{}],
            egress: [
              {
                toCIDR: [`${p.world}/32`],
                toPorts: [
                  {
                    ports: [
                      { port: '80', protocol: 'TCP' },
                      { port: '9999', protocol: 'UDP' },
                    ],
                  },
                ],
              },
            ],
            labels: ['test=replies'],
          },
          {
            endpointSelector: { matchLabels: { app: 'backend' } },
            ingress: [{ fromEndpoints: [{}], icmps: [{ fields: [{ type: 8, family: 'IPv4' }] }] }],
            labels: ['test=ping'],
          },
        ]),
      );
      // The answer to its connection comes in although its ingress admits nothing.
      expect(await connect(p, OTHER, p.world, 80)).toBe('world:80');
      // Nothing listens on UDP 9999 outside: the port unreachable error comes back as related.
      const [udp] = await udpClient(
        { ns: p.n.pods[OTHER] ?? '' },
        { host: p.world, port: 9999, connect: true, timeoutMs: 3000 },
        false,
      );
      expect(udp?.error).toBe('ECONNREFUSED');
      // Nothing from outside may open a connection to it.
      const be = p.n.ips[BE] ?? '';
      expect(await connect(p, FE, p.n.ips[OTHER] ?? '', 80)).toBe('timeout');
      // Echo requests to the backend pass (icmps), TCP does not.
      const ping = (ns: string, ip: string) =>
        sh('ip', [
          'netns',
          'exec',
          ns,
          'sh',
          '-c',
          `ping -c 1 -W 2 ${ip} >/dev/null && echo ok || echo no`,
        ]).trim();
      expect(ping(p.n.pods[FE] ?? '', be)).toBe('ok');
      expect(await connect(p, FE, be, 80)).toBe('timeout');
    });

    it('services: a client with enforced ingress gets its replies; NodePort traffic meets the backend ingress policy', async () => {
      const p = await policyNode(['--enable-node-port', '--devices=ext0']);
      const be = p.n.ips[BE] ?? '';
      const svc = (...flags: string[]) => p.n.cli('service', 'update', ...flags);
      expect((await svc('--id=1', '--frontend=10.96.55.10:80', `--backends=${be}:80`)).code).toBe(
        0,
      );
      expect(
        (await svc('--id=2', '--k8s-node-port', '--frontend=0.0.0.0:30080', `--backends=${be}:80`))
          .code,
      ).toBe(0);
      // The frontend lets nothing in; the backend admits the frontend only.
      await importPolicy(
        p,
        JSON.stringify([
          {
            endpointSelector: { matchLabels: { app: 'frontend' } },
            ingress: [{}],
            labels: ['t=fe'],
          },
          {
            endpointSelector: { matchLabels: { app: 'backend' } },
            ingress: [{ fromEndpoints: [{ matchLabels: { app: 'frontend' } }] }],
            labels: ['t=be'],
          },
        ]),
      );
      // Through the ClusterIP: the reply, translated back to the VIP, is a reply, not a new flow.
      expect(await connect(p, FE, '10.96.55.10', 80)).toBe('backend:80');
      expect(await connect(p, OTHER, '10.96.55.10', 80)).toBe('timeout');
      // From outside through the NodePort: the backend's ingress does not admit the world.
      const outside = async () => {
        const [r] = await tcpClient(
          { ns: p.worldNs },
          { host: p.nodeAddr, port: 30080, timeoutMs: 1500, times: 1 },
          false,
        );
        return (r as TcpResult).data ?? (r as TcpResult).error ?? '';
      };
      expect(await outside()).toBe('timeout');
      await importPolicy(
        p,
        JSON.stringify([
          {
            endpointSelector: { matchLabels: { app: 'backend' } },
            ingress: [{ fromEntities: ['world'] }],
            labels: ['t=be-world'],
          },
        ]),
      );
      expect(await outside()).toBe('backend:80');
    });

    it('kill -9 of the agent: the policy stays enforced while it is down and after, never letting denied traffic through', async () => {
      const p = await policyNode();
      const be = p.n.ips[BE] ?? '';
      await importPolicy(p, BACKEND_FROM_FRONTEND);
      // Port 81: everyone but "other", which a deny keeps out (a deny lost would let it in).
      const rev = await importPolicy(
        p,
        JSON.stringify([
          {
            endpointSelector: { matchLabels: { app: 'backend' } },
            ingress: [{ toPorts: [{ ports: [{ port: '81', protocol: 'TCP' }] }] }],
            ingressDeny: [{ fromEndpoints: [{ matchLabels: { app: 'other' } }] }],
            labels: ['test=deny-other'],
          },
        ]),
      );
      // Probes all along: "other" must never get through, the frontend always.
      const probe = { stop: false };
      const leaks: string[] = [];
      const served: string[] = [];
      const probing = (async () => {
        while (!probe.stop) {
          const [o, o81, f, f81] = await Promise.all([
            connect(p, OTHER, be, 80),
            connect(p, OTHER, be, 81),
            connect(p, FE, be, 80),
            connect(p, FE, be, 81),
          ]);
          leaks.push(...[o, o81].filter((r) => r !== 'timeout'));
          served.push(f, f81);
        }
      })();
      await new Promise((r) => setTimeout(r, 1000));
      await p.n.agent.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 2000));
      await p.n.restart('SIGKILL');
      const w = await p.n.cli('policy', 'wait', String(rev), '--max-wait-time', '30s');
      expect(w.code, `${w.stdout}${w.stderr}`).toBe(0);
      await new Promise((r) => setTimeout(r, 1500));
      probe.stop = true;
      await probing;
      expect(leaks).toEqual([]);
      expect(served.length).toBeGreaterThan(2);
      expect(served.filter((s) => s !== 'backend:80' && s !== 'backend:81')).toEqual([]);
      // The restarted agent has the rules, and changing them still works.
      const got = await p.n.cli('policy', 'get');
      expect(got.stdout).toContain('backend-from-frontend');
      await deletePolicy(p);
      expect(await connect(p, OTHER, be, 80)).toBe('backend:80');
    });
  },
);
