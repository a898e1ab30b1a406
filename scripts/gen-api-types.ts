// Generates the API's TypeScript from api-spec/openapi.yaml, never written twice:
// core/api/spec.gen.ts (the models and operations' types) and core/api/ops.gen.ts (the typed
// client: one method per operation); and the health API's models from api-spec/health.yaml
// (core/api/health.gen.ts). `npm run gen:api`; a test fails when any is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
export const SPEC_PATH = `${root}api-spec/openapi.yaml`;
export const GEN_PATH = `${root}core/api/spec.gen.ts`;
export const OPS_PATH = `${root}core/api/ops.gen.ts`;
export const HEALTH_SPEC_PATH = `${root}api-spec/health.yaml`;
export const HEALTH_GEN_PATH = `${root}core/api/health.gen.ts`;

const HEADER =
  '// Generated from api-spec/openapi.yaml by scripts/gen-api-types.ts. Do not edit.\n\n';
const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

/** The generated types for the current spec (or, with `health`, the health API's). */
export async function generate(which: 'agent' | 'health' = 'agent'): Promise<string> {
  const path = which === 'agent' ? SPEC_PATH : HEALTH_SPEC_PATH;
  const ast = await openapiTS(readFileSync(path, 'utf8'), {
    alphabetize: true,
    defaultNonNullable: false,
  });
  const header = which === 'agent' ? HEADER : HEADER.replace('openapi.yaml', 'health.yaml');
  return `${header}${astToString(ast)}`;
}

interface Param {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
}
interface Operation {
  operationId: string;
  summary?: string;
  parameters?: (Param | { $ref: string })[];
  requestBody?: { required?: boolean };
  responses: Record<string, { content?: Record<string, { schema?: { format?: string } }> }>;
}

/** The generated typed client for the current spec. */
export function generateOps(): string {
  const spec = parse(readFileSync(SPEC_PATH, 'utf8')) as {
    paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
    components: { parameters: Record<string, Param> };
  };
  const resolve = (p: Param | { $ref: string }): Param =>
    '$ref' in p ? (spec.components.parameters[p.$ref.split('/').pop() ?? ''] as Param) : p;
  const table: string[] = [];
  const methods: string[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params = (op.parameters ?? []).map(resolve);
      const names = (where: Param['in']): string =>
        `[${params
          .filter((p) => p.in === where)
          .map((p) => `'${p.name}'`)
          .join(', ')}]`;
      const ok = Object.entries(op.responses).find(([s]) => s.startsWith('2'))?.[1];
      const stream = ok?.content?.['application/json']?.schema?.format === 'binary';
      const required = params.some((p) => p.required) || op.requestBody?.required === true;
      const id = op.operationId;
      table.push(
        `  ${id}: { method: '${method.toUpperCase()}', path: '${path}', path_params: ${names('path')}, ` +
          `query: ${names('query')}, headers: ${names('header')}, stream: ${stream} },`,
      );
      const fn = id.charAt(0).toLowerCase() + id.slice(1);
      const args = required ? `args: CallArgs<'${id}'>` : `args: CallArgs<'${id}'> = {}`;
      const [ret, via] = stream ? ['Readable', 'stream'] : [`Success<'${id}'>`, 'call'];
      methods.push(
        `  /** ${method.toUpperCase()} ${path}${op.summary ? `: ${op.summary}` : ''} */`,
        `  ${fn}(${args}): Promise<${ret}> {`,
        `    return this.${via}('${id}', args);`,
        `  }`,
      );
    }
  }
  return `${HEADER}import type { Readable } from 'node:stream';
import type { CallArgs, OperationId, Success } from './types.js';

/** Where each operation lives: method, path template and where its parameters go. */
export const OPERATIONS = {
${table.join('\n')}
} as const satisfies Record<OperationId, OperationRoute>;

/** How one operation is sent. */
export interface OperationRoute {
  readonly method: string;
  readonly path: string;
  readonly path_params: readonly string[];
  readonly query: readonly string[];
  readonly headers: readonly string[];
  /** The reply is a stream (of JSON objects), not one JSON document. */
  readonly stream: boolean;
}

/** One typed method per operation of the spec; a transport implements \`call\` and \`stream\`. */
export abstract class Operations {
  /** Sends one operation and resolves with its success body. */
  protected abstract call<K extends OperationId>(op: K, args: CallArgs<K>): Promise<Success<K>>;
  /** Sends one operation whose reply is a stream and resolves with the open body. */
  protected abstract stream<K extends OperationId>(op: K, args: CallArgs<K>): Promise<Readable>;

${methods.join('\n')}
}
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(GEN_PATH, await generate());
  writeFileSync(OPS_PATH, generateOps());
  writeFileSync(HEALTH_GEN_PATH, await generate('health'));
  console.log(`wrote ${GEN_PATH}, ${OPS_PATH} and ${HEALTH_GEN_PATH}`);
}
