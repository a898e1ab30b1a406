// Generates core/api/spec.gen.ts from api-spec/openapi.yaml: the API's TypeScript types come
// from the spec, never written twice. `npm run gen:api`; a test fails when it is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
export const SPEC_PATH = `${root}api-spec/openapi.yaml`;
export const GEN_PATH = `${root}core/api/spec.gen.ts`;

/** The generated source for the current spec. */
export async function generate(): Promise<string> {
  const ast = await openapiTS(readFileSync(SPEC_PATH, 'utf8'), { alphabetize: true });
  return `// Generated from api-spec/openapi.yaml by scripts/gen-api-types.ts. Do not edit.\n\n${astToString(ast)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(GEN_PATH, await generate());
  console.log(`wrote ${GEN_PATH}`);
}
