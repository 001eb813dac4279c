// Source text of trace-validator.ts: the trace schema (schema.ts) compiled ahead of time
// by ajv's standalone code generator, so reading a trace does not pay for compiling the
// schema (ajv's compiler was a third of `hvscope render`'s start-up). Used only by
// trace-validator.test.ts, which checks the committed file is current and rewrites it
// under `npm run gen:validator`.
import { Ajv } from 'ajv';
import standaloneModule from 'ajv/dist/standalone/index.js';
import { traceSchema, traceSchemaV1 } from './schema.js';

const HEADER = `// GENERATED from schema.ts by ajv's standalone code generator (trace-validator-source.ts).
// Do not edit: run \`npm run gen:validator\` after changing the schema.
// @ts-nocheck
`;

export function traceValidatorSource(): string {
  // The same options io.ts always used: first error only, unknown keywords tolerated.
  const ajv = new Ajv({ allErrors: false, strict: false, code: { source: true, esm: true } });
  // A CommonJS module: its function is the namespace's `default` (Node) or the import itself (bundlers).
  type Generate = (ajv: Ajv, refsOrFunc: unknown) => string;
  const generate = ((standaloneModule as unknown as { default?: Generate }).default ?? standaloneModule) as unknown as Generate;
  ajv.addSchema(traceSchema).addSchema(traceSchemaV1);
  // Two exports: `validate` (the current version) and `validateV1` (files written before version 2, upgraded on read).
  let code = generate(ajv, { validate: traceSchema.$id, validateV1: traceSchemaV1.$id });
  // ajv writes require() for its runtime helpers even in ESM output: hoist them as imports.
  const imports: string[] = [];
  code = code.replace(/require\("(ajv\/dist\/runtime\/[a-z0-9]+)"\)/g, (_: string, path: string) => {
    const name = `runtime${imports.length}`;
    // Node hands an ESM import of a CommonJS module its exports object; a bundler may hand its default.
    imports.push(`import ${name}Module from '${path}.js';`, `const ${name} = typeof ${name}Module === 'function' ? { default: ${name}Module } : ${name}Module;`);
    return name;
  });
  return `${HEADER}${imports.join('\n')}\n${code}\n`;
}
