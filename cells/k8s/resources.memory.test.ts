import { describe, expect, it } from 'vitest';
import { DB } from '../../core/statedb/index.js';
import { newMemoryK8sResources } from './resources.memory.js';

describe('in-memory K8sResources', () => {
  it('keeps objects by namespace/name and is synced only when told', async () => {
    const db = new DB();
    const r = newMemoryK8sResources(db);
    r.upsert('pods', { metadata: { name: 'a', namespace: 'ns1', labels: { app: 'x' } } });
    expect(r.pods.table.get(db.readTxn(), 'ns1/a')?.metadata.labels).toEqual({ app: 'x' });
    expect(r.pods.synced()).toBe(false);
    const waited = r.pods.waitSynced();
    r.setSynced('pods');
    await waited;
    expect(r.pods.synced()).toBe(true);
    expect(r.services.synced()).toBe(false);
    r.remove('pods', { metadata: { name: 'a', namespace: 'ns1' } });
    expect(r.pods.table.count(db.readTxn())).toBe(0);
  });
});
