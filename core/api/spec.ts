import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { JsonSchema } from '../hive/flags.js';
import { findUp } from '../paths.js';

/** One parameter of an operation (path, query or header). */
export interface ParamSpec {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header';
  readonly required: boolean;
  readonly schema: JsonSchema;
}

/** One operation of the API, as the server needs it. */
export interface OperationSpec {
  readonly id: string;
  readonly method: string;
  /** The spec's path, e.g. `/endpoint/{id}`. */
  readonly path: string;
  /** The cell that serves it (`x-cellium-cell`), for the 501 message. */
  readonly cell: string;
  readonly params: readonly ParamSpec[];
  readonly body?: { readonly required: boolean; readonly schema: JsonSchema };
  /** Response schemas by status code (absent when the response has no body). */
  readonly responses: ReadonlyMap<number, JsonSchema | undefined>;
}

/** The parsed spec: the raw document (for schema refs) and the operations. */
export interface ApiSpec {
  readonly basePath: string;
  readonly document: Record<string, unknown>;
  readonly operations: ReadonlyMap<string, OperationSpec>;
}

/** Finds api-spec/openapi.yaml from this file, both in the sources and in dist/. */
export function specPath(): string {
  const p = findUp('api-spec/openapi.yaml');
  if (!p)
    throw new Error('api-spec/openapi.yaml not found above ' + fileURLToPath(import.meta.url));
  return p;
}

type Obj = Record<string, unknown>;

function resolveRef(doc: Obj, v: unknown): Obj {
  const o = (v ?? {}) as Obj;
  const ref = o.$ref;
  if (typeof ref !== 'string') return o;
  let cur: unknown = doc;
  for (const part of ref.replace(/^#\//, '').split('/')) cur = (cur as Obj)[part];
  return resolveRef(doc, cur);
}

function jsonSchemaOf(content: unknown): JsonSchema | undefined {
  const json = (content as Obj | undefined)?.['application/json'] as Obj | undefined;
  return json?.schema as JsonSchema | undefined;
}

// Set by scripts/build.ts: the spec as JSON, so the built agent does not parse YAML at start.
declare const __CELLIUM_SPEC__: string | undefined;
// Set by scripts/build.ts: the other specs of api-spec/ (e.g. health.yaml) as JSON, by file name.
declare const __CELLIUM_SPECS__: string | undefined;

function readSpecDocument(path: string | undefined): Obj {
  if (path === undefined && typeof __CELLIUM_SPEC__ === 'string') {
    return JSON.parse(__CELLIUM_SPEC__) as Obj;
  }
  return parseYaml(readFileSync(path ?? specPath(), 'utf8')) as Obj;
}

let cached: ApiSpec | undefined;
const others = new Map<string, ApiSpec>();

/**
 * Loads and indexes another spec of api-spec/ by file name (`health.yaml`: the health API's),
 * embedded in the built programs, read from the sources otherwise; once per process.
 */
export function loadSpecFile(file: string): ApiSpec {
  const hit = others.get(file);
  if (hit) return hit;
  let doc: Obj | undefined;
  if (typeof __CELLIUM_SPECS__ === 'string') {
    doc = (JSON.parse(__CELLIUM_SPECS__) as Record<string, Obj | undefined>)[file];
  }
  if (!doc) {
    const p = findUp(`api-spec/${file}`);
    if (!p) throw new Error(`api-spec/${file} not found above ${fileURLToPath(import.meta.url)}`);
    doc = parseYaml(readFileSync(p, 'utf8')) as Obj;
  }
  const spec = indexSpec(doc);
  others.set(file, spec);
  return spec;
}

/** Loads and indexes the spec (api-spec/openapi.yaml unless `path` is given) once per process. */
export function loadSpec(path?: string): ApiSpec {
  if (cached && path === undefined) return cached;
  const spec = indexSpec(readSpecDocument(path));
  if (path === undefined) cached = spec;
  return spec;
}

function indexSpec(doc: Obj): ApiSpec {
  const operations = new Map<string, OperationSpec>();
  const servers = doc.servers as { url: string }[] | undefined;
  for (const [p, item] of Object.entries(doc.paths as Obj)) {
    for (const [method, raw] of Object.entries(item as Obj)) {
      const op = raw as Obj;
      const id = op.operationId as string;
      const params = ((op.parameters ?? []) as unknown[]).map((x) => {
        const r = resolveRef(doc, x);
        return {
          name: r.in === 'header' ? (r.name as string).toLowerCase() : (r.name as string),
          in: r.in as ParamSpec['in'],
          required: r.required === true,
          schema: r.schema as JsonSchema,
        };
      });
      const rb = op.requestBody ? resolveRef(doc, op.requestBody) : undefined;
      const bodySchema = rb ? jsonSchemaOf(rb.content) : undefined;
      const responses = new Map<number, JsonSchema | undefined>();
      for (const [code, r] of Object.entries((op.responses ?? {}) as Obj)) {
        responses.set(Number(code), jsonSchemaOf(resolveRef(doc, r).content));
      }
      operations.set(id, {
        id,
        method: method.toUpperCase(),
        path: p,
        cell: (op['x-cellium-cell'] as string | undefined) ?? 'unknown',
        params,
        ...(bodySchema ? { body: { required: rb?.required === true, schema: bodySchema } } : {}),
        responses,
      });
    }
  }
  return { basePath: servers?.[0]?.url ?? '/v1', document: doc, operations };
}
