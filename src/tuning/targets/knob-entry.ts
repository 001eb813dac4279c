// A knob entry in a profile section is a scalar, or `{ value, why, source }` (the form the
// shipped profiles use for every knob). Shared by the Xen and QEMU targets.
import path from 'node:path';

export interface KnobEntryObject {
  value: unknown;
  why?: string;
  source?: string;
}

/** JSON Schema accepting `valueSchema` alone or wrapped as `{ value, why, source }`. */
export function knobEntrySchema(valueSchema: Record<string, unknown>): Record<string, unknown> {
  return {
    anyOf: [
      valueSchema,
      {
        type: 'object',
        properties: { value: valueSchema, why: { type: 'string' }, source: { type: 'string' } },
        required: ['value'],
        additionalProperties: false,
      },
    ],
  };
}

/** Integer, or a string of digits (also `${var}` in case a schema check runs before expansion). */
export const integerValue = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^([0-9]+|0x[0-9a-fA-F]+|.*\\$\\{.*)$' }] };
/** A non-empty string, or null (= absent / remove). */
export const stringOrNull = { anyOf: [{ type: 'string', minLength: 1 }, { type: 'null' }] };
export const withNull = (schema: Record<string, unknown>): Record<string, unknown> => ({ anyOf: [schema, { type: 'null' }] });
export const enumValue = (...values: (string | number)[]): Record<string, unknown> => ({ enum: values });

const isEntryObject = (e: unknown): e is KnobEntryObject =>
  typeof e === 'object' && e !== null && !Array.isArray(e) && 'value' in e;

/** The entry's value as knob text (numbers/booleans stringified, null kept) and its why. */
export function unwrapEntry(entry: unknown): { value: string | null; why?: string } {
  const raw = isEntryObject(entry) ? entry.value : entry;
  const value = raw === null || raw === undefined ? null : typeof raw === 'boolean' ? (raw ? 'on' : 'off') : String(raw);
  if (!isEntryObject(entry)) return { value };
  const why = [entry.why, entry.source ? `source: ${entry.source}` : undefined].filter(Boolean).join(' — ');
  return why ? { value, why } : { value };
}

/** Host path under the tune root (`--root`). */
export const underRoot = (root: string, hostPath: string): string => path.join(root || '/', hostPath);
