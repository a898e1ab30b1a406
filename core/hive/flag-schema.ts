// Checks a flag's value against its schema without compiling it. Flags use a small subset of
// JSON schema (core/hive/flags.ts: type, enum, pattern, minimum, maximum, items), and compiling
// each of the agent's ~80 flag schemas with ajv cost ~60 ms of every start (its meta-schema
// first). Messages are ajv's words. A schema with any other keyword is not handled here:
// checkFlagSchema returns 'unsupported' and the caller compiles it with ajv.

/** Keywords that only annotate. */
const ANNOTATIONS = new Set(['description', 'default', 'x-kind', 'title']);
const HANDLED = new Set(['type', 'enum', 'pattern', 'minimum', 'maximum', 'items']);

const isType: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  integer: (v) => typeof v === 'number' && Number.isInteger(v),
  number: (v) => typeof v === 'number', // as ajv: NaN is then refused by a minimum
  boolean: (v) => typeof v === 'boolean',
  array: (v) => Array.isArray(v),
  object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  null: (v) => v === null,
};

/** Whether the schema uses only what checkFlagSchema handles. */
export function isSimpleSchema(schema: Record<string, unknown>): boolean {
  for (const [k, v] of Object.entries(schema)) {
    if (ANNOTATIONS.has(k)) continue;
    if (!HANDLED.has(k)) return false;
    if (k === 'type' && (typeof v !== 'string' || !(v in isType))) return false;
    if (
      k === 'items' &&
      !(typeof v === 'object' && v && isSimpleSchema(v as Record<string, unknown>))
    )
      return false;
    if (k === 'enum' && !Array.isArray(v)) return false;
    if ((k === 'minimum' || k === 'maximum') && typeof v !== 'number') return false;
    if (k === 'pattern' && typeof v !== 'string') return false;
  }
  return true;
}

/**
 * What is wrong with `value` under a simple schema (ajv's message, `/0` style paths prefixed
 * for array items), or undefined when it is valid. Call isSimpleSchema first.
 */
export function checkFlagSchema(
  schema: Record<string, unknown>,
  value: unknown,
): string | undefined {
  const type = schema.type as string | undefined;
  if (type !== undefined && !isType[type]?.(value)) return `must be ${type}`;
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => e === value))
    return 'must be equal to one of the allowed values';
  if (
    typeof value === 'string' &&
    typeof schema.pattern === 'string' &&
    !new RegExp(schema.pattern, 'u').test(value)
  )
    return `must match pattern "${schema.pattern}"`;
  if (typeof value === 'number') {
    // Negated as ajv does, so NaN fails a bound; ajv checks maximum first.
    if (typeof schema.maximum === 'number' && !(value <= schema.maximum))
      return `must be <= ${schema.maximum}`;
    if (typeof schema.minimum === 'number' && !(value >= schema.minimum))
      return `must be >= ${schema.minimum}`;
  }
  if (Array.isArray(value) && typeof schema.items === 'object' && schema.items) {
    for (const [i, item] of value.entries()) {
      const bad = checkFlagSchema(schema.items as Record<string, unknown>, item);
      if (bad !== undefined) return `/${i} ${bad}`;
    }
  }
  return undefined;
}
