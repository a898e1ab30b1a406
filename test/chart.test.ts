// The Helm chart (charts/cellium) rendered with default and non-default values by the Go
// renderer (text/template + sprig + Helm's functions, test/support/helm-render), every object
// parsed and checked against what the agent really does: its flags, its health port, its
// mounts, its API calls (the ClusterRole is generated from the code), and the Containerfile that
// builds its image. With `helm` on PATH, `helm lint` and `helm template` are compared too.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1ConfigMap,
  V1Container,
  V1CustomResourceDefinition,
  V1DaemonSet,
  V1PodSpec,
  V1ServiceAccount,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { parsePolicyFile } from '../cells/bgp/index.js';
import type { Wire } from '../cells/k8s/index.js';
import { failOnMissing, hostKernel, kernelPrereqs } from '../core/testing/kernel.js';
import { declaredRules, RBAC_RULES_FILE, rbacRulesYaml } from '../scripts/gen-chart-rbac.js';
import {
  CHART,
  helmRenderPrereqs,
  helmTemplate,
  renderChart,
  type RenderOptions,
} from './support/helm.js';
import { program, ROOT, run, tempDir } from './support/procs.js';

/** The kinds the chart renders, as on the wire. */
interface Kinds {
  DaemonSet: Wire<V1DaemonSet>;
  ConfigMap: Wire<V1ConfigMap>;
  ServiceAccount: Wire<V1ServiceAccount>;
  ClusterRole: Wire<V1ClusterRole>;
  ClusterRoleBinding: Wire<V1ClusterRoleBinding>;
  CustomResourceDefinition: Wire<V1CustomResourceDefinition>;
}
type Doc = Record<string, unknown> & { kind?: string; metadata?: { name?: string } };
type Container = Wire<V1Container>;

/** Renders and fails the test with the renderer's message when it did not render. */
function render(opts: RenderOptions = {}): Doc[] {
  const r = renderChart(opts);
  if (!r.ok) throw new Error(`render failed: ${r.stderr}`);
  return r.docs.map((d) => d.object as Doc);
}

function one<K extends keyof Kinds>(docs: Doc[], kind: K): Kinds[K] {
  const found = docs.filter((d) => d.kind === kind);
  expect(
    found.map((d) => d.metadata?.name),
    `one ${kind}`,
  ).toHaveLength(1);
  return found[0] as unknown as Kinds[K];
}

function podSpec(ds: Kinds['DaemonSet']): Wire<V1PodSpec> {
  return ds.spec!.template.spec!;
}

function container(ds: Kinds['DaemonSet'], name: string, init = false): Container {
  const list = (init ? podSpec(ds).initContainers : podSpec(ds).containers) ?? [];
  const c = list.find((x) => x.name === name);
  expect(c, `${init ? 'init container' : 'container'} ${name}`).toBeDefined();
  return c!;
}

/** The volume a container mounts at `path`, with the mount. */
function mountAt(
  ds: Kinds['DaemonSet'],
  c: Container,
  path: string,
): { mount: Wire<V1VolumeMount>; volume: Wire<V1Volume> } {
  const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === path);
  expect(mount, `${c.name} mounts ${path}`).toBeDefined();
  const volume = (podSpec(ds).volumes ?? []).find((v) => v.name === mount!.name);
  expect(volume, `volume ${mount!.name}`).toBeDefined();
  return { mount: mount!, volume: volume! };
}

/** The flag value an argument list sets (`--name=value`). */
function argValue(args: string[], flag: string): string | undefined {
  return args.find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3);
}

/**
 * Runs the real agent's configuration check (`cellium-agent hive`: flags parsed and validated,
 * the hive built, nothing started) with the ConfigMap as --config-dir and the DaemonSet's args.
 */
async function agentAccepts(
  docs: Doc[],
  inCluster = false,
): Promise<{ code: number | null; out: string }> {
  const dir = tempDir('cellium-chart-config-');
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const cm = one(docs, 'ConfigMap');
  for (const [k, v] of Object.entries(cm.data ?? {})) {
    expect(typeof v, `ConfigMap ${k} is a string`).toBe('string');
    writeFileSync(join(dir, k), v);
  }
  const agent = container(one(docs, 'DaemonSet'), 'cellium-agent');
  const args = (agent.args ?? [])
    .filter((a) => !a.startsWith('--config-dir='))
    .map((a) => a.replace('$(K8S_NODE_NAME)', 'node-1'));
  // In the pod the service account puts the agent in Kubernetes mode (what --ipam=kubernetes
  // needs); here an API server address stands in for it (`hive` connects to nothing).
  if (inCluster) args.push('--k8s-api-server=https://kubernetes.default.svc:443');
  const res = await run([...program('cellium-agent'), 'hive', `--config-dir=${dir}`, ...args], {
    CELLIUM_BPF_BACKEND: 'memory',
  });
  return { code: res.code, out: res.stdout + res.stderr };
}

const NON_DEFAULT = {
  routingMode: 'native',
  autoDirectNodeRoutes: true,
  ipv4NativeRoutingCIDR: '10.0.0.0/8',
  etcd: { enabled: true, endpoints: ['https://etcd-0:2379', 'https://etcd-1:2379'] },
  prometheus: { enabled: true, port: 9963 },
  debug: { enabled: true },
  ipv6: { enabled: true },
  MTU: 1450,
  devices: ['eth0', 'eth1'],
  k8sServiceHost: '10.0.0.1',
  k8sServicePort: '6443',
  extraArgs: ['--bpf-lb-algorithm=maglev'],
  extraConfig: { 'monitor-aggregation': 'low' },
  securityContext: { privileged: false },
  serviceAccounts: { cellium: { name: 'cellium-agent-sa' } },
  image: { repository: 'registry.example/cellium', tag: 'v9', pullPolicy: 'Always' },
};

/** Values of the Kubernetes-mode cells' flags (IPAM, node, identity, loadbalancer). */
const K8S_VALUES = {
  ipam: { mode: 'kubernetes', ipv4Range: '10.9.0.0/24' },
  annotateK8sNode: true,
  identityAllocationMode: 'crd',
  loadBalancer: { serviceTopology: true },
};

const prereqs = helmRenderPrereqs();
const describeChart = prereqs.run ? describe : prereqs.fail ? () => undefined : describe.skip;
if (!prereqs.run && prereqs.fail) describe('charts/cellium', () => failOnMissing(prereqs));

describeChart(`charts/cellium${prereqs.run ? '' : ` (skipped: ${prereqs.reason})`}`, () => {
  it('renders the CRDs first, then the agent objects in Helm install order', () => {
    const r = renderChart();
    expect(r.stderr).toBe('');
    const kinds = r.docs.map((d) => d.object.kind);
    const crds = readdirSync(join(CHART, 'crds')).filter((f) => f.endsWith('.yaml'));
    expect(crds.length).toBeGreaterThan(0);
    expect(kinds.slice(0, crds.length)).toEqual(crds.map(() => 'CustomResourceDefinition'));
    expect(r.docs.slice(0, crds.length).map((d) => d.source)).toEqual(
      [...crds].sort().map((f) => `cellium/crds/${f}`),
    );
    expect(kinds.slice(crds.length)).toEqual([
      'ServiceAccount',
      'ConfigMap',
      'ClusterRole',
      'ClusterRoleBinding',
      'DaemonSet',
    ]);
    for (const d of r.docs.slice(crds.length)) {
      expect(d.source).toMatch(/^cellium\/templates\/[a-z]+\.yaml$/);
      if (d.object.kind !== 'ClusterRole' && d.object.kind !== 'ClusterRoleBinding')
        expect((d.object as Doc & { metadata?: { namespace?: string } }).metadata?.namespace).toBe(
          'kube-system',
        );
    }
  });

  it('the DaemonSet: host network, every node, critical priority, rolling updates', () => {
    const ds = one(render(), 'DaemonSet');
    const pod = podSpec(ds);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(ds.spec?.updateStrategy?.type).toBe('RollingUpdate');
    // The selector selects the pods the template makes.
    const selector = ds.spec?.selector.matchLabels ?? {};
    expect(Object.keys(selector).length).toBeGreaterThan(0);
    expect(ds.spec?.template.metadata?.labels).toMatchObject(selector);
    const agent = container(ds, 'cellium-agent');
    expect(agent.command).toEqual(['cellium-agent']);
    expect(agent.env).toContainEqual({
      name: 'K8S_NODE_NAME',
      valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } },
    });
    expect(agent.args).toContain('--node-name=$(K8S_NODE_NAME)');
  });

  it('mounts: bpffs (Bidirectional where it is mounted), cgroup v2, /var/run/cellium, the ConfigMap, the CNI dirs', () => {
    const docs = render();
    const ds = one(docs, 'DaemonSet');
    const cm = one(docs, 'ConfigMap');
    const agent = container(ds, 'cellium-agent');

    // bpffs: mounted on the host by a privileged init container (Bidirectional needs privilege),
    // seen by the agent as the host changes it.
    const mountBpf = container(ds, 'mount-bpf-fs', true);
    const init = mountAt(ds, mountBpf, '/sys/fs/bpf');
    expect(init.mount.mountPropagation).toBe('Bidirectional');
    expect(mountBpf.securityContext?.privileged).toBe(true);
    expect(init.volume.hostPath).toEqual({ path: '/sys/fs/bpf', type: 'DirectoryOrCreate' });
    const bpf = mountAt(ds, agent, cm.data?.['bpf-root'] ?? '/sys/fs/bpf');
    expect(bpf.volume.name).toBe(init.volume.name);
    expect(bpf.mount.mountPropagation).toBe('HostToContainer');

    // cgroup v2: the host's hierarchy where --cgroup-root says.
    const cgroup = mountAt(ds, agent, cm.data?.['cgroup-root'] ?? '(no --cgroup-root)');
    expect(cgroup.volume.hostPath?.path).toBe('/sys/fs/cgroup');

    // The API socket and the state directory survive the container: a host path.
    const runDir = mountAt(ds, agent, '/var/run/cellium');
    expect(runDir.volume.hostPath).toEqual({ path: '/var/run/cellium', type: 'DirectoryOrCreate' });

    // The ConfigMap where --config-dir says.
    const cfg = mountAt(ds, agent, argValue(agent.args ?? [], 'config-dir') ?? '(no --config-dir)');
    expect(cfg.volume.configMap?.name).toBe(cm.metadata?.name);
    expect(cfg.mount.readOnly).toBe(true);

    // The CNI plugin and conflist go to the host's CNI directories, by the image's installer.
    const cni = container(ds, 'install-cni-binaries', true);
    const [script, binDir, confDir] = cni.command ?? [];
    expect(script).toBe('/opt/cellium/scripts/install-cni.sh');
    expect(mountAt(ds, cni, binDir!).volume.hostPath?.path).toBe('/opt/cni/bin');
    expect(mountAt(ds, cni, confDir!).volume.hostPath?.path).toBe('/etc/cni/net.d');
    expect(cni.env).toContainEqual({ name: 'CNI_HOST_BIN_DIR', value: '/opt/cni/bin' });
  });

  it('probes: startup, liveness and readiness on 127.0.0.1 at the agent health port', () => {
    for (const values of [[], [{ healthPort: 9911 }]]) {
      const docs = render({ values });
      const cm = one(docs, 'ConfigMap');
      const agent = container(one(docs, 'DaemonSet'), 'cellium-agent');
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        expect(agent[probe]?.httpGet, probe).toMatchObject({
          host: '127.0.0.1',
          path: '/healthz',
          port: Number(cm.data?.['agent-health-port']),
          scheme: 'HTTP',
        });
      }
      const startup = agent.startupProbe;
      expect((startup?.failureThreshold ?? 0) * (startup?.periodSeconds ?? 0)).toBe(210);
    }
  });

  it('privileged by default; with securityContext.privileged=false the capabilities it needs', () => {
    const agentOf = (values: RenderOptions['values']): Container =>
      container(one(render({ values }), 'DaemonSet'), 'cellium-agent');
    expect(agentOf([]).securityContext?.privileged).toBe(true);
    const sc = agentOf([{ securityContext: { privileged: false } }]).securityContext;
    expect(sc?.privileged).toBeUndefined();
    expect(sc?.capabilities?.drop).toEqual(['ALL']);
    for (const cap of ['BPF', 'PERFMON', 'NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'IPC_LOCK'])
      expect(sc?.capabilities?.add).toContain(cap);
    expect(sc?.capabilities?.add).not.toContain('SYS_MODULE');
    expect(sc?.seLinuxOptions).toEqual({ level: 's0', type: 'spc_t' });
  });

  it('AppArmor unconfined: the pod field from Kubernetes 1.30, the annotation before', () => {
    const ds130 = one(render({ kubeVersion: '1.30.2' }), 'DaemonSet');
    expect(podSpec(ds130).securityContext?.appArmorProfile).toEqual({
      type: 'Unconfined',
    });
    const ds128 = one(render({ kubeVersion: '1.28.0' }), 'DaemonSet');
    expect(podSpec(ds128).securityContext).toBeUndefined();
    const annotations = ds128.spec?.template.metadata?.annotations ?? {};
    expect(annotations['container.apparmor.security.beta.kubernetes.io/cellium-agent']).toBe(
      'unconfined',
    );
  });

  it('the default ConfigMap is accepted by the real agent (no unknown key, every value valid)', async () => {
    const docs = render();
    const res = await agentAccepts(docs);
    expect(res.out).not.toMatch(/ignoring unknown key/);
    expect(res.out).not.toMatch(/invalid configuration/);
    expect(res.code, res.out).toBe(0);
  });

  it('a bad value in the ConfigMap is refused by that check (the check can fail)', async () => {
    const docs = render({ values: [{ extraConfig: { 'routing-mode': 'carrier-pigeon' } }] });
    expect(one(docs, 'ConfigMap').data?.['routing-mode']).toBe('carrier-pigeon');
    const res = await agentAccepts(docs);
    expect(res.code).toBe(2);
    expect(res.out).toMatch(/--routing-mode: invalid value 'carrier-pigeon'/);
    const unknown = await agentAccepts(
      render({ values: [{ extraConfig: { 'no-such-flag': 'x' } }] }),
    );
    expect(unknown.out).toMatch(/ignoring unknown key 'no-such-flag'/);
  });

  it('non-default values: native routing, etcd, prometheus, extra args, no privilege', async () => {
    const docs = render({ values: [NON_DEFAULT] });
    const data = one(docs, 'ConfigMap').data ?? {};
    expect(data).toMatchObject({
      'routing-mode': 'native',
      'auto-direct-node-routes': 'true',
      'ipv4-native-routing-cidr': '10.0.0.0/8',
      kvstore: 'etcd',
      'kvstore-opt': 'etcd.address=https://etcd-0:2379,https://etcd-1:2379',
      'prometheus-serve-addr': ':9963',
      debug: 'true',
      'enable-ipv6': 'true',
      mtu: '1450',
      devices: 'eth0,eth1',
      'monitor-aggregation': 'low',
    });
    // Not rendered: tunnel settings in native mode.
    for (const k of ['tunnel-protocol', 'tunnel-port']) expect(data[k], k).toBeUndefined();
    const ds = one(docs, 'DaemonSet');
    const agent = container(ds, 'cellium-agent');
    expect(agent.image).toBe('registry.example/cellium:v9');
    expect(agent.imagePullPolicy).toBe('Always');
    expect(agent.args).toContain('--bpf-lb-algorithm=maglev');
    expect(agent.env).toEqual(
      expect.arrayContaining([
        { name: 'KUBERNETES_SERVICE_HOST', value: '10.0.0.1' },
        { name: 'KUBERNETES_SERVICE_PORT', value: '6443' },
      ]),
    );
    expect(agent.ports).toContainEqual({
      name: 'prometheus',
      containerPort: 9963,
      hostPort: 9963,
      protocol: 'TCP',
    });
    expect(ds.spec?.template.metadata?.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '9963',
    });
    const res = await agentAccepts(docs, true);
    expect(res.out).not.toMatch(/ignoring unknown key/);
    expect(res.code, res.out).toBe(0);
  });

  it('Kubernetes-mode values: kubernetes IPAM, node annotations, CRD identities, service topology', async () => {
    const docs = render({ values: [NON_DEFAULT, K8S_VALUES] });
    const data = one(docs, 'ConfigMap').data ?? {};
    expect(data).toMatchObject({
      ipam: 'kubernetes',
      'annotate-k8s-node': 'true',
      'identity-allocation-mode': 'crd',
      'enable-service-topology': 'true',
    });
    // The cluster-pool range is not rendered in kubernetes mode.
    expect(data['ipv4-range']).toBeUndefined();
    const res = await agentAccepts(docs, true);
    expect(res.out).not.toMatch(/ignoring unknown key/);
    expect(res.code, res.out).toBe(0);
  });

  it('cluster-pool ranges and tunnel settings reach the ConfigMap and the agent accepts them', async () => {
    const docs = render({
      values: [
        {
          ipam: { ipv4Range: '10.11.0.0/24', ipv6Range: 'fd00:11::/112' },
          ipv6: { enabled: true },
          tunnelPort: 8473,
        },
      ],
    });
    expect(one(docs, 'ConfigMap').data).toMatchObject({
      ipam: 'cluster-pool',
      'ipv4-range': '10.11.0.0/24',
      'ipv6-range': 'fd00:11::/112',
      'tunnel-protocol': 'vxlan',
      'tunnel-port': '8473',
    });
    const res = await agentAccepts(docs);
    expect(res.code, res.out).toBe(0);
  });

  it('values the agent cannot honour, and a too old cluster, fail the render with a message', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ etcd: { enabled: true } }, /etcd\.endpoints: the etcd URLs are required/],
      [{ bgp: { enabled: true, peeringPolicies: 'rack0' } }, /bgp\.peeringPolicies: a list/],
      [{ ipam: { mode: 'eni' } }, /ipam\.mode "eni"/],
      [{ routingMode: 'geneve' }, /routingMode "geneve"/],
      [{ image: { repository: '' } }, /image\.repository is required/],
    ];
    const old = renderChart({ kubeVersion: '1.24.9' });
    expect(old.ok).toBe(false);
    expect(old.stderr).toMatch(
      /chart requires kubeVersion: >=1\.25\.0-0 which is incompatible with Kubernetes v1\.24\.9/,
    );
    for (const [values, message] of cases) {
      const r = renderChart({ values: [values] });
      expect(r.ok, JSON.stringify(values)).toBe(false);
      expect(r.stderr).toMatch(message);
    }
  });

  it('ServiceAccount, ClusterRoleBinding and DaemonSet name the same account and role', () => {
    for (const values of [[], [NON_DEFAULT]]) {
      const docs = render({ values, namespace: 'cellium-system' });
      const sa = one(docs, 'ServiceAccount');
      const binding = one(docs, 'ClusterRoleBinding');
      const role = one(docs, 'ClusterRole');
      const ds = one(docs, 'DaemonSet');
      expect(podSpec(ds).serviceAccountName).toBe(sa.metadata?.name);
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: sa.metadata?.name, namespace: 'cellium-system' },
      ]);
      expect(sa.metadata?.namespace).toBe('cellium-system');
      expect(binding.roleRef).toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: role.metadata?.name,
      });
    }
    const noSa = render({ values: [{ serviceAccounts: { cellium: { create: false } } }] });
    expect(noSa.filter((d) => d.kind === 'ServiceAccount')).toEqual([]);
    const noRbac = render({ values: [{ rbac: { create: false } }] });
    expect(
      noRbac.filter((d) => d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding'),
    ).toEqual([]);
  });

  it('the ClusterRole is exactly the access rules the code declares, and the checked-in file is current', () => {
    const rules = declaredRules();
    expect(rules.length).toBeGreaterThan(0);
    expect(readFileSync(join(ROOT, RBAC_RULES_FILE), 'utf8')).toBe(rbacRulesYaml(rules));
    const role = one(render(), 'ClusterRole');
    expect(role.rules).toEqual(
      rules.map((r) => ({ apiGroups: [r.group], resources: [r.resource], verbs: [...r.verbs] })),
    );
    // Each rule's reason is written beside it.
    const text = readFileSync(join(ROOT, RBAC_RULES_FILE), 'utf8');
    for (const r of rules) expect(text).toContain(`# ${r.why.replace(/\s+/g, ' ')}\n`);
  });

  it('the shipped CRDs are valid CustomResourceDefinitions of cilium.io', () => {
    const files = readdirSync(join(CHART, 'crds')).filter((f) => f.endsWith('.yaml'));
    for (const f of files) {
      const crd = parse(
        readFileSync(join(CHART, 'crds', f), 'utf8'),
      ) as Kinds['CustomResourceDefinition'];
      expect(crd.apiVersion, f).toBe('apiextensions.k8s.io/v1');
      expect(crd.kind, f).toBe('CustomResourceDefinition');
      expect(crd.spec.group, f).toBe('cilium.io');
      expect(crd.metadata?.name, f).toBe(`${crd.spec.names.plural}.${crd.spec.group}`);
      expect(['Namespaced', 'Cluster'], f).toContain(crd.spec.scope);
      expect(crd.spec.names.kind, f).toMatch(/^Cilium[A-Z]\w+$/);
      const versions = crd.spec.versions;
      expect(
        versions.filter((v) => v.storage),
        f,
      ).toHaveLength(1);
      for (const v of versions) {
        expect(v.served, f).toBe(true);
        expect(v.schema?.openAPIV3Schema?.type, `${f} ${v.name} schema`).toBe('object');
      }
    }
  });

  it('bgp.enabled: the BGP flags, and the peering policies as the file --bgp-config names', async () => {
    const policy = {
      apiVersion: 'cilium.io/v2alpha1',
      kind: 'CiliumBGPPeeringPolicy',
      metadata: { name: 'rack0' },
      spec: {
        nodeSelector: { matchLabels: { rack: 'rack0' } },
        virtualRouters: [
          {
            localASN: 65001,
            exportPodCIDR: true,
            neighbors: [{ peerAddress: '10.0.0.1/32', peerASN: 65000 }],
          },
        ],
      },
    };
    const docs = render({
      values: [{ bgp: { enabled: true, listenPort: 0, peeringPolicies: [policy] } }],
    });
    const data = one(docs, 'ConfigMap').data ?? {};
    expect(data).toMatchObject({
      'enable-bgp-control-plane': 'true',
      'bgp-listen-port': '0',
      'bgp-config': '/tmp/cellium/config-map/.bgp-peering-policies.json',
    });
    // The file the agent reads: where the ConfigMap is mounted, and valid for its parser.
    const agent = container(one(docs, 'DaemonSet'), 'cellium-agent');
    expect(
      mountAt(one(docs, 'DaemonSet'), agent, '/tmp/cellium/config-map').volume.configMap?.name,
    ).toBe('cellium-config');
    const text = data['.bgp-peering-policies.json'] ?? '';
    const parsed = parsePolicyFile(text, 'chart');
    expect(parsed.map((p) => [p.name, p.virtualRouters[0]?.localAsn])).toEqual([['rack0', 65001]]);
    const res = await agentAccepts(docs);
    expect(res.code, res.out).toBe(0);
    // Other policies do not roll the agents (they watch the file); another flag does.
    const checksum = (bgp: object): string | undefined =>
      one(render({ values: [{ bgp: { enabled: true, ...bgp } }] }), 'DaemonSet').spec?.template
        .metadata?.annotations?.['cellium.io/config-checksum'];
    const other = { ...policy, metadata: { name: 'rack1' } };
    expect(checksum({ listenPort: 0, peeringPolicies: [other] })).toBe(
      checksum({ listenPort: 0, peeringPolicies: [policy] }),
    );
    expect(checksum({ listenPort: 1179, peeringPolicies: [policy] })).not.toBe(
      checksum({ listenPort: 0, peeringPolicies: [policy] }),
    );
    // Off (the default): no BGP key at all.
    expect(
      Object.keys(one(render(), 'ConfigMap').data ?? {}).filter((k) => k.includes('bgp')),
    ).toEqual([]);
  });

  it('NOTES.txt and every template parse (a render with all switches on and off)', () => {
    for (const values of [
      [{ cni: { install: false }, prometheus: { enabled: false }, updateStrategy: null }],
      [
        {
          podAnnotations: { a: 'b' },
          podLabels: { c: 'd' },
          resources: { limits: { memory: '1Gi' } },
        },
      ],
    ]) {
      const ds = one(render({ values }), 'DaemonSet');
      expect(podSpec(ds).containers).toHaveLength(1);
    }
    // NOTES.txt warns that one cluster-pool range is for one node only.
    const pool = renderChart({ notes: true });
    expect(pool.notes).toContain('kubectl -n kube-system rollout status daemonset/cellium');
    expect(pool.notes).toMatch(/cluster-pool gives every node the same pod range/);
    const k8s = renderChart({ notes: true, values: [{ ipam: { mode: 'kubernetes' } }] });
    expect(k8s.notes).toContain('IPAM kubernetes');
    expect(k8s.notes).not.toMatch(/same pod range/);
    const noCni = one(render({ values: [{ cni: { install: false } }] }), 'DaemonSet');
    expect((podSpec(noCni).initContainers ?? []).map((c) => c.name)).toEqual(['mount-bpf-fs']);
  });
});

// The renderer itself, on a small chart of its own: the Helm behaviours charts rely on.
describeChart('helm-render follows Helm', () => {
  it('include, tpl, required, toYaml/fromYaml, .Files, .Template, partials, value merging', () => {
    const chart = tempDir('cellium-chart-fixture-');
    onTestFinished(() => rmSync(chart, { recursive: true, force: true }));
    const write = (rel: string, text: string): void => {
      mkdirSync(join(chart, rel, '..'), { recursive: true });
      writeFileSync(join(chart, rel), text);
    };
    write('Chart.yaml', 'apiVersion: v2\nname: fx\nversion: 1.2.3\nappVersion: "4.5"\n');
    write('values.yaml', 'a: {b: 1, c: 2}\nmsg: "{{ .Release.Name }}-x"\nlist: [p, q]\n');
    write('files/f.txt', 'from a file');
    write(
      'crds/z.yaml',
      'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: z}\n',
    );
    write(
      'templates/_h.tpl',
      '{{- define "fx.name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end }}\nkind: Ignored\n',
    );
    write(
      'templates/cm.yaml',
      [
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata:',
        '  name: {{ include "fx.name" . }}',
        '  namespace: {{ .Release.Namespace }}',
        'data:',
        '  tpl: {{ tpl .Values.msg . | quote }}',
        '  file: {{ .Files.Get "files/f.txt" | quote }}',
        '  template: {{ .Template.Name }} {{ .Template.BasePath }}',
        '  chart: {{ .Chart.Version }}/{{ .Chart.AppVersion }} {{ .Release.Service }} {{ .Release.IsInstall }}',
        '  kube: "{{ .Capabilities.KubeVersion.Major }}.{{ .Capabilities.KubeVersion.Minor }}"',
        '  a: {{ toYaml .Values.a | fromYaml | toJson | quote }}',
        '  missing: "{{ .Values.nothing }}"',
        '  list: |',
        '    {{- toYaml .Values.list | nindent 4 }}',
        '---',
        '# only a comment and blanks: a document of its own',
        '---',
        '',
        'apiVersion: v1',
        'kind: ServiceAccount',
        'metadata: {name: sa}',
        '',
      ].join('\n'),
    );
    write(
      'templates/req.yaml',
      '{{- if .Values.need }}{{ required "need.value is required" .Values.need.value }}{{ end }}\n',
    );
    const r = renderChart({
      chart,
      name: 'rel',
      namespace: 'ns',
      values: [{ a: { c: null, d: 3 } }],
    });
    expect(r.stderr).toBe('');
    expect(r.docs.map((d) => [d.source, d.object.kind])).toEqual([
      ['fx/crds/z.yaml', 'CustomResourceDefinition'],
      ['fx/templates/cm.yaml', 'ServiceAccount'],
      ['fx/templates/cm.yaml', 'ConfigMap'],
    ]);
    expect(r.stdout).toContain('---\n# Source: fx/templates/cm.yaml\n# only a comment and blanks');
    expect(r.stdout).not.toContain('Ignored');
    const cm = r.docs.find((d) => d.object.kind === 'ConfigMap')!.object as {
      metadata: { name: string; namespace: string };
      data: Record<string, string>;
    };
    expect(cm.metadata).toEqual({ name: 'fx-rel', namespace: 'ns' });
    expect(cm.data).toEqual({
      tpl: 'rel-x',
      file: 'from a file',
      template: 'fx/templates/cm.yaml fx/templates',
      chart: '1.2.3/4.5 Helm true',
      kube: '1.30',
      // A null in an override deletes the key; maps merge deeply.
      a: '{"b":1,"d":3}',
      missing: '',
      list: '- p\n- q\n',
    });
    const failed = renderChart({ chart, values: [{ need: { other: 1 } }] });
    expect(failed.ok).toBe(false);
    expect(failed.stderr).toMatch(/need\.value is required/);
  });
});

const helmOnPath = hostKernel().onPath('helm');
describe.skipIf(!helmOnPath || !prereqs.run)(
  `helm lint and helm template agree with the Go renderer${helmOnPath ? '' : ' (skipped: no helm binary on PATH; neither Debian nor npm ships one)'}`,
  () => {
    it('helm lint passes and helm template renders the same objects', () => {
      const lint = spawnSync('helm', ['lint', CHART, '--strict'], { encoding: 'utf8' });
      expect(lint.status, lint.stdout + lint.stderr).toBe(0);
      for (const values of [[], [NON_DEFAULT]]) {
        const ours = renderChart({ values });
        const helm = helmTemplate({ values });
        expect(helm.ok, helm.stderr).toBe(true);
        const key = (o: Record<string, unknown>): string =>
          `${String(o.kind)}/${String((o.metadata as { name?: string } | undefined)?.name)}`;
        const byKey = (r: typeof ours): Record<string, unknown> =>
          Object.fromEntries(r.docs.map((d) => [key(d.object), d.object]));
        expect(byKey(ours)).toEqual(byKey(helm));
      }
    });
  },
);

// The init container's installer, run as the chart runs it: the plugin it leaves must run on
// the "host" with nothing of the image (its own node, bundle and koffi).
const built = kernelPrereqs({ root: false, objects: [join(ROOT, 'dist', 'cellium-cni.cjs')] });
describe.skipIf(!built.run && !built.fail)(
  `scripts/install-cni.sh as the chart's init container${built.run ? '' : ` (skipped: ${built.reason})`}`,
  () => {
    failOnMissing(built);
    it.runIf(built.run)('installs a self-contained cellium-cni that answers VERSION', async () => {
      const host = tempDir('cellium-cni-host-');
      onTestFinished(() => rmSync(host, { recursive: true, force: true }));
      const bin = join(host, 'opt', 'cni', 'bin');
      const conf = join(host, 'etc', 'cni', 'net.d');
      for (let i = 0; i < 2; i++) {
        const res = await run([join(ROOT, 'scripts', 'install-cni.sh'), bin, conf], {
          CNI_HOST_BIN_DIR: bin,
        });
        expect(res.code, res.stderr).toBe(0);
      }
      const wrapper = readFileSync(join(bin, 'cellium-cni'), 'utf8');
      expect(wrapper).not.toContain(ROOT);
      const copies = readdirSync(bin).filter((f) => f.startsWith('.cellium-cni-'));
      expect(copies).toHaveLength(1);
      expect(JSON.parse(readFileSync(join(conf, '05-cellium.conflist'), 'utf8'))).toMatchObject({
        plugins: [{ type: 'cellium-cni' }],
      });
      const version = await run([join(bin, 'cellium-cni')], {
        CNI_COMMAND: 'VERSION',
        PATH: '/usr/bin:/bin',
        NODE_PATH: '',
      });
      expect(version.code, version.stderr).toBe(0);
      const answer = JSON.parse(version.stdout) as { supportedVersions?: unknown };
      expect(answer.supportedVersions).toContain('1.0.0');
    });
  },
);

// The Containerfile cannot be built here (no registry): its stages are checked, and that every
// file it copies exists after `npm run build`.
const builtImage = kernelPrereqs({
  root: false,
  objects: [
    join(ROOT, 'dist', 'cellium-agent.cjs'),
    join(ROOT, 'datapath-c', 'build', 'bpf_lxc.o'),
  ],
});
describe.skipIf(!builtImage.run && !builtImage.fail)(
  `Containerfile${builtImage.run ? '' : ` (skipped: ${builtImage.reason})`}`,
  () => {
    failOnMissing(builtImage);
    it.runIf(builtImage.run)(
      'stages are consistent, every copied file exists, it runs cellium-agent',
      () => {
        const text = readFileSync(join(ROOT, 'Containerfile'), 'utf8').replace(/\\\n/g, ' ');
        const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
        const stages: string[] = [];
        let workdir = '/';
        const copies: { from: string | undefined; src: string; dst: string }[] = [];
        for (const l of lines) {
          const [op, ...rest] = l.trim().split(/\s+/);
          if (op === 'FROM') {
            expect(rest[0]).toBe('docker.io/library/node:20-bookworm-slim');
            stages.push(rest[1] === 'AS' ? rest[2]! : `#${stages.length}`);
            workdir = '/';
          } else if (op === 'WORKDIR') workdir = rest[0]!;
          else if (op === 'COPY') {
            const from = rest.find((a) => a.startsWith('--from='))?.slice('--from='.length);
            if (from !== undefined)
              expect(stages.slice(0, -1), `COPY --from=${from}`).toContain(from);
            const args = rest.filter((a) => !a.startsWith('--'));
            const dst = join(workdir, args.at(-1)!);
            for (const src of args.slice(0, -1)) copies.push({ from, src, dst });
          }
        }
        expect(stages).toEqual(['build', '#1']);
        // The build stage copies from the repository into /src.
        for (const c of copies.filter((x) => x.from === undefined)) {
          expect(existsSync(join(ROOT, c.src)), `${c.src} exists`).toBe(true);
          expect(c.dst.startsWith('/src'), c.dst).toBe(true);
        }
        // The final stage copies what `npm run build` made, keeping the repository's layout under
        // /opt/cellium (the agent finds datapath-c/build and node_modules from dist/).
        const fromBuild = copies.filter((x) => x.from === 'build');
        for (const c of fromBuild) {
          expect(c.src.startsWith('/src/'), c.src).toBe(true);
          const rel = c.src.slice('/src/'.length);
          expect(existsSync(join(ROOT, rel)), `${rel} exists after npm run build`).toBe(true);
          expect(c.dst).toBe(`/opt/cellium/${rel}`);
        }
        // What the chart runs from the image is there.
        const dsts = fromBuild.map((x) => x.dst);
        for (const need of ['dist', 'datapath-c/build', 'node_modules', 'scripts/install-cni.sh'])
          expect(dsts).toContain(`/opt/cellium/${need}`);
        expect(text).toContain(
          'ln -s /opt/cellium/dist/cellium-agent.cjs /usr/local/bin/cellium-agent',
        );
        expect(lines.at(-1)).toBe('ENTRYPOINT ["cellium-agent"]');
      },
    );
  },
);
