import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { traceValidatorSource } from './trace-validator-source.js';
import { validate, validateV1 } from './trace-validator.js';

const FILE = fileURLToPath(new URL('./trace-validator.ts', import.meta.url));

describe('trace-validator.ts (the schema compiled ahead of time)', () => {
  it('is what the schema compiles to today (npm run gen:validator rewrites it)', () => {
    const fresh = traceValidatorSource();
    if (process.env.HVSCOPE_REGENERATE === '1') writeFileSync(FILE, fresh);
    expect(readFileSync(FILE, 'utf8'), 'trace-validator.ts is stale: run `npm run gen:validator`').toBe(fresh);
  });

  it('accepts a trace and reports the first error as ajv does', () => {
    const v1 = { format: 'hvscope-trace', version: 1, meta: { source: 'synthetic', clock: 'monotonic' }, lanes: [{ id: 'a', kind: 'process', name: 'a' }], spans: [], instants: [], counters: [] };
    const trace = { ...v1, version: 2, markers: [], unresolvedPhases: [] };
    expect(validateV1(v1)).toBe(true);
    expect(validate(v1)).toBe(false);
    expect(validate(trace)).toBe(true);
    expect(validate({ ...trace, lanes: [{ id: '', kind: 'process', name: 'a' }] })).toBe(false);
    expect((validate as unknown as { errors: { instancePath: string; keyword: string }[] }).errors[0]).toMatchObject({ instancePath: '/lanes/0/id', keyword: 'minLength' });
  });
});
