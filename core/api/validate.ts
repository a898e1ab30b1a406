import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { JsonSchema } from '../hive/flags.js';
import type { ApiSpec, OperationSpec, ParamSpec } from './spec.js';

type AddFormats = (ajv: Ajv) => Ajv;
// ajv-formats is CommonJS; under Node the default import is the exports object.
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ??
  addFormatsModule) as unknown as AddFormats;

/** A request that broke the spec; the message names the field and the rule. */
export class ValidationError extends Error {
  override name = 'ValidationError';
}

/** Validators of one operation's parameters, body and responses. */
export interface OperationValidator {
  /** Coerces params in place (strings to integers, booleans, arrays) and checks them. */
  params(where: ParamSpec['in'], values: Record<string, unknown>): void;
  body(value: unknown): void;
  /** Checks a reply body against the documented schema (used by tests). */
  response(status: number, value: unknown): void;
}

const SPEC_ID = 'cellium-api';

/** An ajv; with `spec`, the document is added so `$ref`s into it resolve. */
function newAjv(coerce: boolean, spec?: ApiSpec): Ajv {
  const ajv = new Ajv({
    strict: false,
    allErrors: false,
    coerceTypes: coerce ? 'array' : false,
    validateSchema: false,
  });
  addFormats(ajv);
  if (spec) ajv.addSchema({ ...spec.document, $id: SPEC_ID }, undefined, undefined, false);
  return ajv;
}

// Refs inside the document (#/components/...) must resolve against the document.
function rebase(schema: JsonSchema): JsonSchema {
  return JSON.parse(
    JSON.stringify(schema).replaceAll('"$ref":"#/', `"$ref":"${SPEC_ID}#/`),
  ) as JsonSchema;
}

function describe(where: string, e: ErrorObject): string {
  const field = [where, ...e.instancePath.split('/').filter(Boolean)].join('.');
  switch (e.keyword) {
    case 'required':
      return `${field}.${String(e.params.missingProperty)} is required`;
    case 'enum':
      return `${field} must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`;
    case 'type':
      return `${field} must be ${String(e.params.type)}`;
    default:
      return `${field} ${e.message ?? 'is invalid'} (${e.keyword})`;
  }
}

function check(fn: ValidateFunction, where: string, value: unknown): void {
  if (!fn(value)) {
    const e = fn.errors?.[0];
    throw new ValidationError(e ? describe(where, e) : `${where} is invalid`);
  }
}

/**
 * Compiles validators lazily, once per operation, against the spec's own schemas. A schema
 * without a `$ref` is compiled by an ajv that does not hold the spec: adding the document
 * (indexing every schema in it) is ~10 ms, which the first requests (`/healthz`, whose only
 * parameter is a boolean header) then do not wait for.
 */
export class SpecValidator {
  private readonly ajvs = new Map<string, Ajv>();
  private readonly cache = new Map<string, OperationValidator>();

  constructor(private readonly spec: ApiSpec) {}

  /** Compiles a (rebased) schema with the ajv it needs. */
  private compileWith(coerce: boolean, schema: JsonSchema): ValidateFunction {
    const refs = JSON.stringify(schema).includes('"$ref"');
    const key = `${coerce ? 'coerce' : 'strict'}${refs ? '+spec' : ''}`;
    let ajv = this.ajvs.get(key);
    if (!ajv) {
      ajv = newAjv(coerce, refs ? this.spec : undefined);
      this.ajvs.set(key, ajv);
    }
    return ajv.compile(schema);
  }

  /** The validator of an operation. */
  for(op: OperationSpec): OperationValidator {
    let v = this.cache.get(op.id);
    if (!v) {
      v = this.compile(op);
      this.cache.set(op.id, v);
    }
    return v;
  }

  private compile(op: OperationSpec): OperationValidator {
    const paramFns = new Map<string, ValidateFunction>();
    for (const where of ['path', 'query', 'header'] as const) {
      const ps = op.params.filter((p) => p.in === where);
      if (ps.length === 0) continue;
      paramFns.set(
        where,
        this.compileWith(true, {
          type: 'object',
          properties: Object.fromEntries(ps.map((p) => [p.name, rebase(p.schema)])),
          required: ps.filter((p) => p.required).map((p) => p.name),
        }),
      );
    }
    const bodyFn = op.body ? this.compileWith(false, rebase(op.body.schema)) : undefined;
    const responseFns = new Map<number, ValidateFunction>();
    return {
      params: (where, values) => {
        // Coercion would read 0x10, 1e1 or ' 1' as numbers: an integer is written in decimal.
        for (const p of op.params) {
          if (p.in !== where || (p.schema as { type?: unknown }).type !== 'integer') continue;
          const v = values[p.name];
          if (typeof v === 'string' && !/^-?\d+$/.test(v)) {
            throw new ValidationError(
              `${where}.${p.name} must be an integer (${JSON.stringify(v)})`,
            );
          }
        }
        const fn = paramFns.get(where);
        if (fn) check(fn, where, values);
      },
      body: (value) => {
        if (value === undefined) {
          if (op.body?.required) throw new ValidationError('body is required');
          return;
        }
        if (!bodyFn) throw new ValidationError(`body is not accepted by ${op.method} ${op.path}`);
        check(bodyFn, 'body', value);
      },
      response: (status, value) => {
        if (!op.responses.has(status)) {
          throw new ValidationError(`status ${status} is not documented for ${op.id}`);
        }
        const schema = op.responses.get(status);
        if (!schema) return;
        let fn = responseFns.get(status);
        if (!fn) {
          fn = this.compileWith(false, rebase(schema));
          responseFns.set(status, fn);
        }
        check(fn, `response ${status}`, value);
      },
    };
  }
}

/**
 * A validator of one standalone JSON schema (e.g. a state file's), with the same messages as
 * request validation: it throws ValidationError naming the field and the rule.
 */
export function schemaValidator(schema: JsonSchema): (value: unknown, where: string) => void {
  const ajv = new Ajv({ strict: false, allErrors: false, validateSchema: false });
  addFormats(ajv);
  const fn = ajv.compile(schema);
  return (value, where) => {
    check(fn, where, value);
  };
}
