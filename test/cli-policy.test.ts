// `cellium policy import|get|delete|wait|selectors|trace`: argument parsing and rendering as pure
// functions, then every command against the whole agent (in-memory maps), as Cilium's
// `cilium-dbg policy` is used: files of rules and manifests in, revisions and verdicts out.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Model } from '../core/api/types.js';
import { CelliumClient } from '../core/api/typed-client.js';
import {
  behind,
  joinPolicies,
  parseDport,
  parseDuration,
  parseRevision,
  policyText,
  readPolicyFiles,
  selectorsText,
} from '../cells/cmd/cli/policy.js';
import { cellium, celliumJson } from './support/cli.js';
import { program, run, tempDir } from './support/procs.js';
import { startWholeAgent, type WholeAgent } from './support/whole-agent.js';

type Policy = Model<'Policy'>;

describe('policy arguments and output', () => {
  it('parses revisions as non-negative integers', () => {
    expect(parseRevision('0')).toBe(0);
    expect(parseRevision('42')).toBe(42);
    for (const bad of ['', '-1', '1.5', 'x', '0x10', '99999999999999999999']) {
      expect(() => parseRevision(bad)).toThrow(`invalid revision '${bad}'`);
    }
  });

  it("parses durations in Go's syntax or plain seconds", () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('45')).toBe(45_000);
    expect(parseDuration('1.5')).toBe(1500);
    for (const bad of ['', 's', '10x', '-1s', '1 s', 'ms', '1s2']) {
      expect(() => parseDuration(bad)).toThrow(`invalid duration '${bad}'`);
    }
  });

  it('parses --dport as port[/protocol], ANY by default', () => {
    expect(parseDport('80/tcp')).toEqual({ port: 80, protocol: 'TCP' });
    expect(parseDport('53/UDP')).toEqual({ port: 53, protocol: 'UDP' });
    expect(parseDport('443')).toEqual({ port: 443, protocol: 'ANY' });
    expect(() => parseDport('80/foo')).toThrow("invalid protocol in '80/foo'");
    for (const bad of ['', 'http', '65536', '80/tcp/x', '-1']) {
      expect(() => parseDport(bad)).toThrow(`invalid port '${bad}'`);
    }
  });

  it('prints the policy, the selectors (one row per identity) and who is behind', () => {
    expect(policyText({ revision: 3, policy: '[]' })).toBe('[]\nRevision: 3');
    expect(JSON.parse(joinPolicies([{ policy: '[{"a":1}]' }, { policy: '[{"b":2}]' }]))).toEqual([
      { a: 1 },
      { b: 2 },
    ]);
    const text = selectorsText([
      {
        selector: '{"matchLabels":{"any:app":"web"}}',
        labels: [{ source: 'unspec', key: 'name', value: 'web' }],
        users: 2,
        identities: [1001, 1002],
      },
      { selector: 'other', labels: [], users: 1, identities: [] },
    ]);
    expect(text.split('\n')).toEqual([
      expect.stringMatching(/^SELECTOR +LABELS +USERS +IDENTITIES$/),
      expect.stringMatching(/^\{"matchLabels":\{"any:app":"web"\}\} +unspec:name=web +2 +1001$/),
      expect.stringMatching(/^ +1002$/),
      expect.stringMatching(/^other +1$/),
    ]);
    const ep = (id: number, rev?: number): Model<'Endpoint'> =>
      ({
        id,
        status: rev === undefined ? {} : { policy: { realized: { 'policy-revision': rev } } },
      }) as Model<'Endpoint'>;
    expect(behind([ep(1, 5), ep(2, 3), ep(3)], 4)).toEqual(['2 (revision 3)', '3 (revision 0)']);
  });

  it('reads files and stdin, naming a file it cannot read', async () => {
    const dir = tempDir('cellium-policy-');
    writeFileSync(join(dir, 'a.json'), '[]');
    expect(await readPolicyFiles([join(dir, 'a.json'), '-'], Readable.from(['x: 1\n']))).toEqual([
      '[]',
      'x: 1\n',
    ]);
    await expect(readPolicyFiles([join(dir, 'nope.yaml')])).rejects.toThrow(
      /^Cannot read policy file '.*nope\.yaml': ENOENT/,
    );
  });
});

const CNP = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: db
  namespace: prod
spec:
  endpointSelector:
    matchLabels:
      app: db
  ingress:
    - fromEndpoints:
        - matchLabels:
            app: backend
      toPorts:
        - ports:
            - port: "5432"
              protocol: TCP
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata:
  name: dns
spec:
  endpointSelector: {}
  egress:
    - toEntities: [cluster]
`;

const rule = (labels: string[], port = '80') =>
  JSON.stringify([
    {
      endpointSelector: { matchLabels: { app: 'backend' } },
      ingress: [
        {
          fromEndpoints: [{ matchLabels: { app: 'frontend' } }],
          toPorts: [{ ports: [{ port, protocol: 'TCP' }] }],
        },
      ],
      labels,
    },
  ]);

describe('cellium policy with the whole agent', () => {
  let whole: WholeAgent;
  let dir: string;
  const cli = (line: string) => cellium(whole.socket, ...line.split(' '));
  const json = <T>(line: string) => celliumJson<T>(whole.socket, ...line.split(' '));
  const file = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const revision = async (): Promise<number> => (await json<Policy>('policy get')).revision ?? 0;
  const rules = async (line = 'policy get'): Promise<Record<string, unknown>[]> =>
    JSON.parse((await json<Policy>(line)).policy ?? '') as Record<string, unknown>[];

  const ids: number[] = [];
  /** One pod as the CNI plugin adds it (IPAM, veth, endpoint). */
  const addPod = async (pod: string, labels: string[]): Promise<void> => {
    const api = new CelliumClient(whole.socket);
    try {
      const ipam = await api.postIpam({ query: { owner: `default/${pod}` } });
      const ifname = `lxc${pod}`;
      const ep = await api.putEndpointID({
        params: { id: 'cilium-local:0' },
        body: {
          addressing: { ipv4: ipam.address.ipv4 ?? '' },
          'container-id': `cid-${pod}`,
          'interface-name': ifname,
          'interface-index': whole.links.addVeth(ifname),
          'k8s-namespace': 'default',
          'k8s-pod-name': pod,
          labels,
          state: 'waiting-for-identity',
          'sync-build-endpoint': true,
        },
      });
      ids.push(ep.id ?? -1);
    } finally {
      api.close();
    }
  };

  beforeAll(async () => {
    whole = await startWholeAgent('10.79.0.0/24');
    dir = tempDir('cellium-policy-');
    // Two frontend identities (so a selector selects two) and the backend.
    await addPod('fe1', ['k8s:app=frontend', 'k8s:v=1']);
    await addPod('fe2', ['k8s:app=frontend', 'k8s:v=2']);
    await addPod('be', ['k8s:app=backend']);
  });
  afterAll(() => whole.stop());
  beforeEach(async () => {
    await cli('policy delete --all');
  });

  it('imports a YAML manifest file and a JSON rule file; get shows all or by labels', async () => {
    const before = await revision();
    const r1 = await cli(`policy import ${file('cnp.yaml', CNP)}`);
    expect(r1).toEqual({ code: 0, stdout: `Revision: ${before + 1}\n`, stderr: '' });
    const r2 = await cli(`policy import ${file('be.json', rule(['app=be']))} --print`);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toMatch(new RegExp(`^\\[\\n[^]*"app"[^]*\\]\\nRevision: ${before + 2}\\n$`));
    expect(await rules()).toHaveLength(3);

    const text = await cli('policy get');
    expect(text.stdout).toMatch(new RegExp(`^\\[[^]*\\]\\nRevision: ${before + 2}\\n$`));
    const db = await rules('policy get k8s:io.cilium.k8s.policy.name=db');
    expect(db).toHaveLength(1);
    expect(JSON.stringify(db[0]?.labels)).toContain('"value":"prod"');
    expect(await rules('policy get unspec:app=be')).toHaveLength(1);
    expect(
      await rules('policy get io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy'),
    ).toHaveLength(1);

    const none = await cli('policy get app=nothing');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^Error: Cannot get policy: GET \/v1\/policy: 404: .*app=nothing/);
  });

  it('imports several files in order, one revision each; -o json is the Policy model', async () => {
    const before = await revision();
    const out = await json<Policy>(
      `policy import ${file('a.json', rule(['n=a']))} ${file('b.json', rule(['n=b']))}`,
    );
    expect(out.revision).toBe(before + 2);
    expect(JSON.parse(out.policy ?? '')).toHaveLength(2);
    const missing = await cli(
      `policy import ${file('c.json', rule(['n=c']))} ${join(dir, 'nope')}`,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: Cannot read policy file '.*nope': ENOENT/);
    expect(await revision()).toBe(before + 2);
  });

  it("refuses an invalid file with the agent's message, and nothing changes", async () => {
    await cli(`policy import ${file('ok.json', rule(['n=ok']))}`);
    const before = await json<Policy>('policy get');
    const bad = await cli(`policy import ${file('bad.json', rule(['n=bad'], '99999'))}`);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(
      /^Error: Cannot import policy: PUT \/v1\/policy: 400: invalid policy in the body: .*ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port/,
    );
    expect(await json<Policy>('policy get')).toEqual(before);
    const second = await cli(
      `policy import ${file('ok2.json', rule(['n=ok2']))} ${join(dir, 'bad.json')}`,
    );
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /^Error: Cannot import policy from '.*bad\.json' \(after importing .*ok2\.json, revision \d+\): PUT \/v1\/policy: 400: /,
    );
  });

  it('--replace replaces rules with the same labels; --replace-with-labels those with them', async () => {
    await cli(`policy import ${file('r1.json', rule(['team=x', 'v=1']))}`);
    await cli(`policy import ${file('r2.json', rule(['team=x', 'v=1'], '81'))} --replace`);
    const replaced = await rules();
    expect(replaced).toHaveLength(1);
    expect(JSON.stringify(replaced[0])).toContain('"81"');
    await cli(`policy import ${file('r3.json', rule(['team=x', 'v=2'], '82'))}`);
    expect(await rules()).toHaveLength(2);
    const r = await cli(
      `policy import ${file('r4.json', rule(['team=y'], '83'))} --replace-with-labels team=x`,
    );
    expect(r.code).toBe(0);
    const left = await rules();
    expect(left).toHaveLength(1);
    expect(JSON.stringify(left[0])).toContain('"83"');
  });

  it('reads the policy from stdin with -', async () => {
    const r = await run(
      [...program('cellium'), '-H', `unix://${whole.socket}`, 'policy', 'import', '-'],
      {},
      CNP,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Revision: \d+\n$/);
    expect(await rules()).toHaveLength(2);
  });

  it('selectors: a table with one row per identity, -o json the SelectorCache', async () => {
    await cli(`policy import ${file('sel.json', rule(['n=sel']))}`);
    const text = await cli('policy selectors');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^SELECTOR +LABELS +USERS +IDENTITIES\n/);
    const sc = await json<Model<'SelectorCache'>>('policy selectors');
    const fe = sc.find((s) => (s.selector ?? '').includes('frontend'));
    expect(fe?.identities).toHaveLength(2);
    const [a, b] = fe?.identities ?? [];
    expect(text.stdout).toMatch(
      new RegExp(
        `\\n\\{"matchLabels":\\{"any:app":"frontend"\\}\\} +unspec:n=sel +1 +${a}\\n +${b}\\n`,
      ),
    );
  });

  it('trace: ALLOWED on the allowed port, DENIED on another; -o json the result', async () => {
    await cli(`policy import ${file('tr.json', rule(['n=tr']))}`);
    const allowed = await cli('policy trace -s k8s:app=frontend -d k8s:app=backend --dport 80/tcp');
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(/^Tracing From: /);
    expect(allowed.stdout).toMatch(/\nFinal verdict: ALLOWED\n$/);
    const denied = await cli(
      'policy trace --src k8s:app=frontend --dst k8s:app=backend --dport 81/tcp',
    );
    expect(denied.code).toBe(0);
    expect(denied.stdout).toMatch(/\nFinal verdict: DENIED\n$/);
    const res = await json<Model<'PolicyTraceResult'>>(
      'policy trace -s k8s:app=frontend,k8s:tier=web -d k8s:app=backend --dport 80/tcp --dport 81/tcp -v',
    );
    expect(res.verdict).toBe('denied');
    const missing = await cli('policy trace -s k8s:app=frontend');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: give both source and destination labels/);
    const badPort = await cli('policy trace -s a=b -d c=d --dport 80/xyz');
    expect(badPort.code).toBe(1);
    expect(badPort.stderr).toMatch(/^Error: invalid protocol in '80\/xyz'/);
  });

  it('delete: by labels, --all, and neither is an error', async () => {
    await cli(`policy import ${file('d1.json', rule(['del=1']))}`);
    await cli(`policy import ${file('d2.json', rule(['del=2']))}`);
    const before = await revision();
    expect(await cli('policy delete del=1')).toEqual({
      code: 0,
      stdout: `Revision: ${before + 1}\n`,
      stderr: '',
    });
    expect(await rules()).toHaveLength(1);
    const gone = await cli('policy delete del=1');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^Error: Cannot delete policy: DELETE \/v1\/policy: 404: /);
    const neither = await cli('policy delete');
    expect(neither.code).toBe(1);
    expect(neither.stderr).toBe('Error: give labels or --all: delete { <labels> | --all }\n');
    expect((await cli('policy delete --all')).stdout).toBe(`Revision: ${before + 2}\n`);
    expect(await rules()).toEqual([]);
  });

  it('wait: until every endpoint runs the revision; names those behind on timeout', async () => {
    const r = await cli(`policy import ${file('w.json', rule(['n=w']))}`);
    const rev = Number(/Revision: (\d+)/.exec(r.stdout)?.[1]);
    const ok = await cli(`policy wait ${rev} --max-wait-time 10s`);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`Revision ${rev} is realized \\(3/3 endpoints\\)\\n$`));

    const late = await cli('policy wait 999 --max-wait-time 1s');
    expect(late.code).toBe(1);
    expect(late.stdout).toMatch(/^Waiting for endpoints to run policy revision 999: 0\/3\n/);
    expect(late.stderr).toBe(
      `Error: Max wait time of 1s reached: endpoints ${ids.map((i) => `${i} (revision ${rev})`).join(', ')} have not realized policy revision 999\n`,
    );
    const bad = await cli('policy wait -3');
    expect(bad.code).not.toBe(0);
    const notNumber = await cli('policy wait x');
    expect(notNumber.stderr).toBe("Error: invalid revision 'x': give a non-negative integer\n");
    const badTime = await cli('policy wait 1 --max-wait-time soon');
    expect(badTime.stderr).toMatch(/^Error: invalid duration 'soon'/);
  });
});
