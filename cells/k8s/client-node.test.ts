import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServerDouble } from '../../test/support/apiserver.js';
import { AccessRules } from './access.js';
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
});
