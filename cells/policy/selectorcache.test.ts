// The selector cache: selections follow identities incrementally, and only the selectors an
// identity matches are reported as changed.
import { describe, expect, it } from 'vitest';
import { cidrIdentityInfo } from './cidr-ids.js';
import { compileSelector } from './selector.js';
import { SelectorCache, type PeerSelector } from './selectorcache.js';

const sel = (key: string, m: Record<string, string>): PeerSelector => ({
  kind: 'endpoints',
  key,
  selector: compileSelector({ matchLabels: m }),
});

describe('SelectorCache', () => {
  it('adds and removes identities incrementally, touching only the selectors they match', () => {
    const c = new SelectorCache();
    c.addUser(sel('web', { app: 'web' }));
    c.addUser(sel('db', { 'k8s:app': 'db' }));
    c.addUser({ kind: 'entity', key: 'entity:world', entity: 'world' });
    c.addUser({ kind: 'entity', key: 'entity:cluster', entity: 'cluster' });
    c.addUser({
      kind: 'cidr',
      key: 'cidr:10/8',
      cidr: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] },
    });
    expect(c.upsertIdentity({ id: 300, labels: ['k8s:app=web'] }).sort()).toEqual([
      'entity:cluster',
      'web',
    ]);
    // unspec: the selector asked for k8s: only.
    expect(c.upsertIdentity({ id: 301, labels: ['unspec:app=db'] })).toEqual(['entity:cluster']);
    expect(c.upsertIdentity({ id: 302, labels: ['k8s:app=db'] }).sort()).toEqual([
      'db',
      'entity:cluster',
    ]);
    expect(c.upsertIdentity(cidrIdentityInfo('10.2.0.0/16', 1 << 24)).sort()).toEqual([
      'cidr:10/8',
      'entity:world',
    ]);
    expect(c.upsertIdentity(cidrIdentityInfo('10.1.2.0/24', (1 << 24) + 1))).toEqual([
      'entity:world',
    ]);
    expect([...c.selection('web').ids]).toEqual([300]);
    expect([...c.selection('cidr:10/8').ids]).toEqual([1 << 24]);
    // Labels change: the identity moves between selections.
    expect(c.upsertIdentity({ id: 300, labels: ['k8s:app=db'] }).sort()).toEqual(['db', 'web']);
    expect([...c.selection('db').ids].sort()).toEqual([300, 302]);
    expect(c.deleteIdentity(302).sort()).toEqual(['db', 'entity:cluster']);
    expect(c.deleteIdentity(999)).toEqual([]);
  });

  it('computes a new selector over known identities, counts users, forgets the last', () => {
    const c = new SelectorCache();
    c.upsertIdentity({ id: 1, labels: ['reserved:host'] });
    c.upsertIdentity({ id: 2, labels: ['reserved:world'] });
    c.upsertIdentity({ id: 400, labels: ['k8s:app=web', 'k8s:env=prod'] });
    c.addUser({ kind: 'entity', key: 'entity:host', entity: 'host' });
    c.addUser({ kind: 'cidr', key: 'cidr:0/0', cidr: { cidr: '0.0.0.0/0', except: [] } });
    c.addUser(sel('prod', { env: 'prod' }));
    c.addUser(sel('prod', { env: 'prod' }));
    expect([...c.selection('entity:host').ids]).toEqual([1]);
    expect([...c.selection('cidr:0/0').ids]).toEqual([2]);
    expect(c.list().find((s) => s.key === 'prod')?.users).toBe(2);
    c.removeUser('prod');
    expect(c.selection('prod').ids.size).toBe(1);
    c.removeUser('prod');
    expect(c.list().map((s) => s.key)).not.toContain('prod');
    c.addUser(sel('all', {}));
    expect(c.selection('all').wildcard).toBe(true);
  });

  it('endpoint selectors never select the world, whatever their labels', () => {
    const c = new SelectorCache();
    c.upsertIdentity({ id: 2, labels: ['reserved:world'] });
    c.upsertIdentity(cidrIdentityInfo('198.51.100.0/24', 1 << 24));
    c.upsertIdentity({ id: 300, labels: ['k8s:app=web'] });
    c.addUser(sel('world-label', { 'reserved:world': '' }));
    c.addUser({
      kind: 'endpoints',
      key: 'no-app',
      selector: compileSelector({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }),
    });
    expect([...c.selection('world-label').ids]).toEqual([]);
    expect([...c.selection('no-app').ids]).toEqual([]);
  });
});
