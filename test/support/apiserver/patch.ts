// The three patch formats the API server accepts (by Content-Type):
// - application/json-patch+json: RFC 6902 (add, remove, replace, move, copy, test).
// - application/merge-patch+json: RFC 7386 (objects merged, null deletes, lists replaced).
// - application/strategic-merge-patch+json: merge patch, but the lists Kubernetes' Go types tag
//   `patchStrategy:"merge"` are merged by their `patchMergeKey` (containers by name, conditions by
//   type, service ports by port, ...; table STRATEGIC below, built-in kinds only), with the
//   directives `$patch: delete|replace|merge`, `$retainKeys` and `$deleteFromPrimitiveList/<f>`;
//   `$setElementOrder/<f>` is accepted and ignored (order is the patch's, then the rest).
//   Simplified: lists not in the table are replaced, as merge patch does.
import { badRequest, invalid, type QualifiedResource } from './status.js';

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** Whether a JSON value is an object (not an array, not null). */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386 merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// The merge lists of the built-in kinds: dotted path (`[]` for list items) → patchMergeKey;
// '' for a list of primitives merged as a set.
const STRATEGIC: Readonly<Record<string, string>> = {
  'metadata.ownerReferences': 'uid',
  'metadata.finalizers': '',
  'spec.podCIDRs': '',
  'spec.containers': 'name',
  'spec.initContainers': 'name',
  'spec.ephemeralContainers': 'name',
  'spec.volumes': 'name',
  'spec.imagePullSecrets': 'name',
  'spec.ports': 'port',
  'status.conditions': 'type',
  'status.addresses': 'type',
  'status.podIPs': 'ip',
  'spec.template.spec.containers': 'name',
};
for (const c of ['containers', 'initContainers', 'ephemeralContainers']) {
  Object.assign(STRATEGIC, {
    [`spec.${c}[].ports`]: 'containerPort',
    [`spec.${c}[].env`]: 'name',
    [`spec.${c}[].volumeMounts`]: 'mountPath',
  });
}

function strategicList(path: string, target: unknown, patch: unknown[]): unknown[] {
  const key = STRATEGIC[path];
  if (key === undefined) return structuredClone(patch);
  const base = Array.isArray(target) ? [...(target as unknown[])] : [];
  if (key === '') {
    for (const v of patch) if (!base.includes(v)) base.push(v);
    return base;
  }
  for (const item of patch) {
    if (!isObject(item)) throw badRequest(`strategic merge patch: ${path}: expected objects`);
    const id = item[key];
    const i = base.findIndex((b) => isObject(b) && b[key] === id);
    if (item.$patch === 'delete') {
      if (i >= 0) base.splice(i, 1);
    } else if (item.$patch === 'replace') {
      throw badRequest(`strategic merge patch: $patch: replace in a list item of ${path}`);
    } else if (i >= 0) base[i] = strategic(`${path}[]`, base[i], item);
    else base.push(strategic(`${path}[]`, undefined, item));
  }
  return base;
}

/** Strategic merge patch onto a built-in kind (see the file's header for what is supported). */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  return strategic('', target, patch);
}

function strategic(path: string, target: unknown, patch: unknown): unknown {
  if (Array.isArray(patch)) return strategicList(path, target, patch);
  if (!isObject(patch)) return structuredClone(patch);
  const directive = patch.$patch;
  if (directive === 'replace') {
    const { $patch: _, ...rest } = patch;
    return structuredClone(rest);
  }
  let out: JsonObject = isObject(target) ? { ...target } : {};
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    const keep = new Set(retain);
    out = Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    const child = path ? `${path}.${k}` : k;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const f = k.slice('$deleteFromPrimitiveList/'.length);
      const drop = Array.isArray(v) ? v : [];
      const cur = out[f];
      if (Array.isArray(cur)) out[f] = cur.filter((x) => !drop.includes(x));
      continue;
    }
    if (v === null || (isObject(v) && v.$patch === 'delete')) Reflect.deleteProperty(out, k);
    else out[k] = strategic(child, out[k], v);
  }
  return out;
}

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function pointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw badRequest(`json patch: invalid path "${p}"`);
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

type Container = JsonObject | unknown[];

// The container holding the last token of `path`, and that token.
function locate(doc: unknown, path: string[], what: string): [Container, string] {
  let cur = doc;
  for (const tok of path.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(tok)];
    else if (isObject(cur)) cur = cur[tok];
    else cur = undefined;
    if (cur === undefined) throw new Error(`${what}: missing path element "${tok}"`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw new Error(`${what}: path is not a container`);
  return [cur, path[path.length - 1] ?? ''];
}

function getAt(doc: unknown, path: string[], what: string): unknown {
  if (path.length === 0) return doc;
  const [c, tok] = locate(doc, path, what);
  const v = Array.isArray(c) ? c[Number(tok)] : c[tok];
  if (v === undefined) throw new Error(`${what}: missing value at "/${path.join('/')}"`);
  return v;
}

function removeAt(doc: unknown, path: string[], what: string): unknown {
  const [c, tok] = locate(doc, path, what);
  const v = getAt(doc, path, what);
  if (Array.isArray(c)) c.splice(Number(tok), 1);
  else Reflect.deleteProperty(c, tok);
  return v;
}

function addAt(
  doc: unknown,
  path: string[],
  value: unknown,
  replace: boolean,
  what: string,
): unknown {
  if (path.length === 0) return structuredClone(value);
  const [c, tok] = locate(doc, path, what);
  if (Array.isArray(c)) {
    const i = tok === '-' ? c.length : Number(tok);
    if (!Number.isInteger(i) || i < 0 || i > c.length) throw new Error(`${what}: bad index ${tok}`);
    if (replace) c[i] = structuredClone(value);
    else c.splice(i, 0, structuredClone(value));
  } else {
    if (replace && !Object.hasOwn(c, tok)) throw new Error(`${what}: missing value at "${tok}"`);
    c[tok] = structuredClone(value);
  }
  return doc;
}

/** RFC 6902 JSON patch; a failed operation (a `test` that does not hold) is 422 Invalid. */
export function jsonPatch(
  target: unknown,
  ops: unknown,
  r: QualifiedResource,
  kind: string,
  name: string,
): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch: the body must be a JSON array');
  let doc = structuredClone(target);
  for (const raw of ops as unknown[]) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw badRequest(`json patch: invalid operation ${JSON.stringify(raw)}`);
    const op = raw as unknown as JsonPatchOp;
    const path = pointer(op.path);
    const what = `jsonpatch ${op.op} operation`;
    try {
      switch (op.op) {
        case 'add':
          doc = addAt(doc, path, op.value, false, what);
          break;
        case 'replace':
          doc = addAt(doc, path, op.value, true, what);
          break;
        case 'remove':
          removeAt(doc, path, what);
          break;
        case 'move': {
          const v = removeAt(doc, pointer(op.from ?? ''), what);
          doc = addAt(doc, path, v, false, what);
          break;
        }
        case 'copy':
          doc = addAt(doc, path, getAt(doc, pointer(op.from ?? ''), what), false, what);
          break;
        case 'test':
          if (JSON.stringify(getAt(doc, path, what)) !== JSON.stringify(op.value))
            throw new Error(`testing value ${op.path} failed`);
          break;
        default:
          throw badRequest(`json patch: unknown operation "${op.op}"`);
      }
    } catch (e) {
      if (!(e instanceof Error) || e.name === 'ApiError') throw e;
      throw invalid(r, kind, name, [
        { reason: 'FieldValueInvalid', field: op.path, message: e.message },
      ]);
    }
  }
  return doc;
}
