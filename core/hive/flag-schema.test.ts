// The flag schema checker against ajv, which it stands in for at start-up: the same verdict
// and the same message for every flag of the agent and for the schemas the builders make,
// over values of every type and at every bound.
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { agent } from '../../cells/agent.js';
import { checkFlagSchema, isSimpleSchema } from './flag-schema.js';
import { flag, type JsonSchema } from './flags.js';
import { listFlags } from './hive.js';

const ajv = new Ajv({ allErrors: true, strict: false });

function ajvSays(schema: JsonSchema, value: unknown): string | undefined {
  const validate = ajv.compile(schema);
  if (validate(value)) return undefined;
  const e = validate.errors?.[0];
  return e?.instancePath ? `${e.instancePath} ${e.message ?? ''}` : e?.message;
}

const VALUES: unknown[] = [
  '',
  'x',
  'veth',
  '10.0.0.0/8',
  '1s',
  0,
  1,
  -1,
  1.5,
  65535,
  65536,
  2 ** 31,
  Number.MAX_SAFE_INTEGER,
  NaN,
  Infinity,
  true,
  false,
  null,
  [],
  ['a'],
  ['a', 1],
  [null],
  {},
  { a: 1 },
];

describe('checkFlagSchema', () => {
  const builderSchemas: JsonSchema[] = [
    flag.string('', 'd').schema,
    flag.string('a', 'd', { pattern: '^[a-z]+$' }).schema,
    flag.int(1, 'd').schema,
    flag.int(1, 'd', { min: 1, max: 65535 }).schema,
    flag.bool(false, 'd').schema,
    flag.duration('1s', 'd', { min: '1ms' }).schema,
    flag.list([], 'd').schema,
    flag.oneOf(['veth', 'ipvlan'], 'veth', 'd').schema,
  ];
  const agentSchemas = listFlags([agent]).map((f) => f.spec.schema);

  it('covers every flag of the agent (none needs ajv at start-up)', () => {
    expect(agentSchemas.length).toBeGreaterThan(20);
    expect(agentSchemas.filter((s) => !isSimpleSchema(s))).toEqual([]);
  });

  it("gives ajv's verdict and message for every schema and value", () => {
    for (const schema of [...builderSchemas, ...agentSchemas]) {
      const values = [...VALUES];
      for (const k of ['minimum', 'maximum'] as const) {
        const b = schema[k];
        if (typeof b === 'number') values.push(b - 1, b, b + 1, b - 0.5);
      }
      if (Array.isArray(schema.enum)) values.push(...(schema.enum as unknown[]));
      if (schema.default !== undefined) values.push(schema.default);
      for (const v of values) {
        // ajv takes Infinity for an integer (Infinity % 1 is NaN); a flag never should.
        if (v === Infinity && schema.type === 'integer') {
          expect(checkFlagSchema(schema, v)).toBe('must be integer');
          continue;
        }
        expect([JSON.stringify(schema), v, checkFlagSchema(schema, v)]).toEqual([
          JSON.stringify(schema),
          v,
          ajvSays(schema, v),
        ]);
      }
    }
  });

  it('leaves other keywords to ajv', () => {
    expect(isSimpleSchema({ type: 'string', minLength: 1 })).toBe(false);
    expect(isSimpleSchema({ type: 'array', items: { type: 'string', format: 'ipv4' } })).toBe(
      false,
    );
    expect(isSimpleSchema({ type: ['string', 'null'] })).toBe(false);
    expect(isSimpleSchema({ type: 'string', description: 'd', 'x-kind': 'list' })).toBe(true);
  });
});
