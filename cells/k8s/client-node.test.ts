import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServerDouble } from '../../test/support/apiserver.js';
import { AccessRules } from './access.js';
import { writeKubeconfig } from '../../test/support/apiserver/tls.js';
import { connect } from './client-node.js';

describe('client-node transport against the API server double', () => {
  let api: ApiServerDouble;
  beforeAll(async () => {
    api = await startApiServer({ bookmarkIntervalMs: 0 });
  });
  afterAll(async () => {
    await api.stop();
  });

  it('gives up a typed call the API server never answers (its timeout), and the next one is answered', async () => {
    const cn = await import('@kubernetes/client-node');
    const access = new AccessRules();
    access.declare({ group: '', resource: 'namespaces', verbs: ['list'], why: 'test' });
    const t = connect(
      cn,
      { kubeconfigPath: api.kubeconfigPath, apiServer: '', inCluster: false },
      access,
      { answered: () => undefined, unreachable: () => undefined },
      200, // the request timeout under test
    );
    const undo = api.failRequests({
      match: (r) => r.resource === 'namespaces',
      code: 500,
      hang: true,
      times: 1,
    });
    // Without a timeout this call would wait for as long as the connection stays open.
    await expect(t.apis.core.listNamespace()).rejects.toThrow(/abort|timeout/i);
    undo();
    const list = await t.apis.core.listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toContain('default');
  });

  it("gives up a typed call when the caller's signal aborts (a stopping job), long before its timeout", async () => {
    const cn = await import('@kubernetes/client-node');
    const access = new AccessRules();
    access.declare({ group: '', resource: 'namespaces', verbs: ['list'], why: 'test' });
    const t = connect(
      cn,
      { kubeconfigPath: api.kubeconfigPath, apiServer: '', inCluster: false },
      access,
      { answered: () => undefined, unreachable: () => undefined },
      3_600_000, // an hour: only the signal can end the call within the test
    );
    const undo = api.failRequests({
      match: (r) => r.resource === 'namespaces',
      code: 500,
      hang: true,
      times: 1,
    });
    const ctl = new AbortController();
    const call = t.apis.core.listNamespace({}, t.callOptions(ctl.signal));
    await api.waitForRequest((r) => r.resource === 'namespaces');
    ctl.abort();
    await expect(call).rejects.toThrow(/abort/i);
    undo();
    // The options keep the configuration's own middleware: the access check still applies.
    await expect(
      t.apis.core.listNode({}, t.callOptions(new AbortController().signal)),
    ).rejects.toThrow(/nodes/);
  });

  it('ends a watch stream that outlives its timeoutSeconds without a byte (a dead connection), so the reader resumes', async () => {
    // A server that answers a watch's headers and then never sends or closes anything.
    const open: ServerResponse[] = [];
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      open.push(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const dir = mkdtempSync(join(tmpdir(), 'cellium-k8s-dead-'));
    try {
      const { port } = server.address() as AddressInfo;
      const kubeconfigPath = writeKubeconfig(dir, `http://127.0.0.1:${port}`, 't', undefined);
      const cn = await import('@kubernetes/client-node');
      const access = new AccessRules();
      access.declare({ group: '', resource: 'pods', verbs: ['watch'], why: 'test' });
      const t = connect(
        cn,
        { kubeconfigPath, apiServer: '', inCluster: false },
        access,
        { answered: () => undefined, unreachable: () => undefined },
        100,
      );
      const events: unknown[] = [];
      // Without the deadline this never settles: the server keeps the stream open.
      await t.watch(
        '/api/v1/pods',
        { resourceVersion: '5', timeoutSeconds: 1 },
        (e) => events.push(e),
        new AbortController().signal,
      );
      expect(events).toEqual([]);
      expect(open.length).toBe(1);
    } finally {
      for (const r of open) r.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
