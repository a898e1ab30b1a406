import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { NodesFileError, parseNodesFile } from './index.js';
import { MAX_NODES_FILE_BYTES, StaticNodesWatcher, type StaticNode } from './static-nodes.js';

describe('nodes file', () => {
  it('takes JSON and YAML lists of nodes', () => {
    const yaml = `- name: b\n  ipv4: 192.168.0.2\n  pod-cidrs: [10.1.0.0/24]\n  health-ipv4: 10.1.0.5\n`;
    expect(parseNodesFile(yaml, 'n.yaml')).toEqual([
      { name: 'b', ipv4: '192.168.0.2', podCidrs: ['10.1.0.0/24'], healthIpv4: '10.1.0.5' },
    ]);
    const json = JSON.stringify({ nodes: [{ name: 'c', ipv6: 'fd00::2' }] });
    expect(parseNodesFile(json, 'n.json')).toEqual([{ name: 'c', ipv6: 'fd00::2', podCidrs: [] }]);
    expect(parseNodesFile('', 'empty')).toEqual([]);
  });

  it.each([
    ['[{"name":"b"}]', 'f: entry 0 ("b"): ipv4: a node needs an ipv4 or ipv6 address'],
    ['[{"ipv4":"1.2.3.4"}]', 'f: entry 0: name: is required'],
    ['[{"name":"b","ipv4":"1.2.3"}]', 'f: entry 0 ("b"): ipv4: "1.2.3" is not an IPv4 address'],
    [
      '[{"name":"a","ipv4":"1.2.3.4"},{"name":"b","ipv4":"1.2.3.5","pod-cidrs":["10.0.0.0/33"]}]',
      'f: entry 1 ("b"): pod-cidrs.0: "10.0.0.0/33" is not a CIDR',
    ],
    [
      '[{"name":"b","ipv4":"1.2.3.4","health-ipv6":"1.2.3.4"}]',
      'health-ipv6: "1.2.3.4" is not an IPv6',
    ],
    ['[{"name":"b","ipv4":"1.2.3.4","ip":"x"}]', 'f: entry 0 ("b"): ip: unknown field'],
    ['[{"name":"b","ipv4":"1.2.3.4"},{"name":"b","ipv4":"1.2.3.5"}]', 'a second node of that name'],
    ['{"name":"b"}', 'f: expected a list of nodes'],
    ['[1', 'f: not JSON or YAML'],
  ])('refuses %s naming the entry and field', (text, message) => {
    expect(() => parseNodesFile(text, 'f')).toThrow(NodesFileError);
    expect(() => parseNodesFile(text, 'f')).toThrow(message);
  });

  it('keeps the previous nodes when the file turns bad, and takes the fixed file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-nodes-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'nodes.json');
    const seen: (readonly StaticNode[])[] = [];
    const errors: string[] = [];
    const w = new StaticNodesWatcher({
      file,
      periodMs: 60_000,
      onNodes: (n) => seen.push(n),
      onError: (e) => errors.push(e.message),
    });
    w.check(true);
    expect(errors[0]).toContain(file); // missing
    writeFileSync(file, '[{"name":"b","ipv4":"10.0.0.2"}]');
    w.check(true);
    expect(seen.at(-1)?.map((n) => n.name)).toEqual(['b']);
    writeFileSync(file, '[{"name":"b","ipv4":"nope"}]');
    w.check(true);
    expect(seen).toHaveLength(1);
    expect(errors.at(-1)).toContain('ipv4: "nope" is not an IPv4 address');
    writeFileSync(file, '[{"name":"b","ipv4":"10.0.0.2"}]');
    w.check(true); // the same text as before the bad one: taken again, the error over
    expect(seen).toHaveLength(2);
  });

  it('refuses a file over the size cap and one that is not a regular file, keeping the nodes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-nodes-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'nodes.json');
    const seen: (readonly StaticNode[])[] = [];
    const errors: string[] = [];
    const w = new StaticNodesWatcher({
      file,
      periodMs: 60_000,
      onNodes: (n) => seen.push(n),
      onError: (e) => errors.push(e.message),
    });
    writeFileSync(file, '[{"name":"b","ipv4":"10.0.0.2"}]');
    w.check(true);
    expect(seen).toHaveLength(1);
    truncateSync(file, MAX_NODES_FILE_BYTES + 1);
    w.check(true);
    expect(errors.at(-1)).toBe(
      `${file}: ${MAX_NODES_FILE_BYTES + 1} bytes, more than the ${MAX_NODES_FILE_BYTES} read`,
    );
    rmSync(file);
    mkdirSync(file);
    w.check(true);
    expect(errors.at(-1)).toBe(`${file}: not a regular file`);
    expect(seen).toHaveLength(1); // the nodes of the good file stay
  });
});
