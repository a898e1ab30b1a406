// Walks a reply along its schema in the API spec and names every sub-object or list the schema
// defines that the reply leaves out. Clients generated from Cilium's spec dereference nested
// objects without checking them, so an absent (or null) one is a crash on their side even
// though the schema itself allows it.

/** A schema of the spec (OpenAPI 3.0 / JSON schema subset), as parsed from the YAML. */
export type Schema = Readonly<Record<string, unknown>>;

type Json = Readonly<Record<string, unknown>>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Follows local `$ref`s (`#/components/schemas/X`) until a schema without one. */
export function resolveSchema(doc: Json, schema: Schema, seen: readonly string[] = []): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  if (!ref.startsWith('#/')) throw new Error(`only local $refs are followed, not ${ref}`);
  if (seen.includes(ref)) throw new Error(`$ref cycle: ${[...seen, ref].join(' → ')}`);
  let cur: unknown = doc;
  for (const part of ref.slice(2).split('/')) {
    cur = isObject(cur) ? cur[part] : undefined;
  }
  if (!isObject(cur)) throw new Error(`$ref ${ref} does not resolve`);
  return resolveSchema(doc, cur, [...seen, ref]);
}

/** The schema's own properties and those of its `allOf` parts. */
function propertiesOf(doc: Json, s: Schema): [string, Schema][] {
  const own = isObject(s.properties) ? Object.entries(s.properties as Record<string, Schema>) : [];
  const parts = Array.isArray(s.allOf) ? (s.allOf as Schema[]) : [];
  return [...own, ...parts.flatMap((p) => propertiesOf(doc, resolveSchema(doc, p)))];
}

/** Whether a (resolved) schema describes an object or a list, the things clients dereference. */
export function isContainer(s: Schema): boolean {
  if (s.type === 'object' || s.type === 'array') return true;
  return s.type === undefined && (isObject(s.properties) || Array.isArray(s.allOf) || 'items' in s);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * The JSON paths (`kube-proxy-replacement.features.nodePort`, `[0].status.policy.spec.l4`) of
 * every object or array property that `schema` defines and `value` lacks or sets to null, at
 * every nesting level: through `$ref`s, `allOf`, array items and `additionalProperties` values.
 * Scalars may be left out (Cilium's models omit empty strings and zeros too).
 */
export function missingContainers(doc: Json, schema: Schema, value: unknown, path = ''): string[] {
  const s = resolveSchema(doc, schema);
  const out: string[] = [];
  if (Array.isArray(value)) {
    const items = isObject(s.items) ? s.items : undefined;
    if (items) {
      value.forEach((v, i) => out.push(...missingContainers(doc, items, v, `${path}[${i}]`)));
    }
    return out;
  }
  if (!isObject(value)) return out;
  const props = propertiesOf(doc, s);
  const named = new Set(props.map(([k]) => k));
  for (const [key, sub] of props) {
    const p = join(path, key);
    const resolved = resolveSchema(doc, sub);
    const v = value[key];
    if (v === undefined || v === null) {
      if (isContainer(resolved)) out.push(p);
      continue;
    }
    out.push(...missingContainers(doc, resolved, v, p));
  }
  const extra = s.additionalProperties;
  if (isObject(extra)) {
    for (const [key, v] of Object.entries(value)) {
      if (!named.has(key)) out.push(...missingContainers(doc, extra, v, join(path, key)));
    }
  }
  return out;
}
