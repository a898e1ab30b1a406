import { describe, expect, it } from 'vitest';
import { isContainer, missingContainers, resolveSchema } from './spec-walk.js';

// A hand-written spec in the shape of Cilium's StatusResponse: objects nested three deep, a
// list of objects, a map of objects and scalars that may be left out.
const doc = {
  components: {
    schemas: {
      Status: {
        type: 'object',
        properties: {
          state: { type: 'string' },
          proxy: { $ref: '#/components/schemas/Proxy' },
          'kube-proxy-replacement': { $ref: '#/components/schemas/Kpr' },
          nodes: { type: 'array', items: { $ref: '#/components/schemas/Node' } },
          byName: { type: 'object', additionalProperties: { $ref: '#/components/schemas/Node' } },
          anything: {},
        },
      },
      Proxy: { type: 'object', properties: { port: { type: 'integer' } } },
      Kpr: {
        type: 'object',
        properties: {
          mode: { type: 'string' },
          devices: { type: 'array', items: { type: 'string' } },
          features: {
            type: 'object',
            properties: {
              nodePort: { type: 'object', properties: { enabled: { type: 'boolean' } } },
              hostPort: { $ref: '#/components/schemas/Toggle' },
            },
          },
        },
      },
      Toggle: { type: 'object', properties: { enabled: { type: 'boolean' } } },
      Node: {
        allOf: [{ $ref: '#/components/schemas/Named' }],
        properties: { addressing: { $ref: '#/components/schemas/Proxy' } },
      },
      Named: { type: 'object', properties: { tags: { type: 'array', items: {} } } },
      Loop: { $ref: '#/components/schemas/Loop' },
    },
  },
};
const root = { $ref: '#/components/schemas/Status' };

function complete(): Record<string, unknown> {
  return {
    state: 'Ok',
    proxy: {},
    'kube-proxy-replacement': {
      mode: 'False',
      devices: [],
      features: { nodePort: { enabled: false }, hostPort: { enabled: false } },
    },
    nodes: [{ tags: [], addressing: {} }],
    byName: { a: { tags: [], addressing: {} } },
  };
}

describe('missingContainers', () => {
  it('accepts a reply with every object and list present, scalars left out', () => {
    expect(missingContainers(doc, root, complete())).toEqual([]);
  });

  it('names a missing nested object by its JSON path', () => {
    const v = complete();
    const kpr = v['kube-proxy-replacement'] as { features: Record<string, unknown> };
    delete kpr.features.nodePort;
    expect(missingContainers(doc, root, v)).toEqual(['kube-proxy-replacement.features.nodePort']);
  });

  it('reports a whole missing branch once, at its top, and null like absent', () => {
    const v = complete();
    delete v['kube-proxy-replacement'];
    v.proxy = null;
    expect(missingContainers(doc, root, v).sort()).toEqual(['kube-proxy-replacement', 'proxy']);
  });

  it('walks list items, allOf parts and additionalProperties values', () => {
    const v = complete();
    v.nodes = [{ tags: [], addressing: {} }, { addressing: {} }, { tags: [] }];
    v.byName = { a: { tags: [] } };
    expect(missingContainers(doc, root, v)).toEqual([
      'nodes[1].tags',
      'nodes[2].addressing',
      'byName.a.addressing',
    ]);
  });

  it('walks a top-level list of models', () => {
    const list = { type: 'array', items: root };
    expect(missingContainers(doc, list, [complete(), { state: 'Ok' }])).toEqual([
      '[1].proxy',
      '[1].kube-proxy-replacement',
      '[1].nodes',
      '[1].byName',
    ]);
  });

  it('tells containers from scalars and follows refs, refusing cycles', () => {
    const s = doc.components.schemas;
    expect(isContainer(resolveSchema(doc, { $ref: '#/components/schemas/Toggle' }))).toBe(true);
    expect(isContainer({ type: 'array', items: {} })).toBe(true);
    expect(isContainer({ type: 'string', format: 'binary' })).toBe(false);
    expect(isContainer({})).toBe(false);
    expect(isContainer(s.Node)).toBe(true);
    expect(() => resolveSchema(doc, { $ref: '#/components/schemas/Loop' })).toThrow(/cycle/);
    expect(() => resolveSchema(doc, { $ref: '#/components/schemas/Nope' })).toThrow(/resolve/);
  });
});
