// A knob entry in a profile section is a scalar, or `{ value, why, source }` (the form the
// shipped profiles use for every knob). Shared by the Xen and QEMU targets.
import path from 'node:path';
import { entrySchema, unwrapEntry as unwrapProfileEntry } from '../profile.js';

/** JSON Schema accepting `valueSchema` alone or wrapped as `{ value, why, source }` (profile.ts). */
export const knobEntrySchema = entrySchema;

/** Integer, or a string of digits (as a variable expands to). */
export const integerValue = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^([0-9]+|0x[0-9a-fA-F]+)$' }] };
/** A non-empty string, or null (= absent / remove). */
export const stringOrNull = { anyOf: [{ type: 'string', minLength: 1 }, { type: 'null' }] };
export const withNull = (schema: Record<string, unknown>): Record<string, unknown> => ({ anyOf: [schema, { type: 'null' }] });
export const enumValue = (...values: (string | number | boolean)[]): Record<string, unknown> => ({ enum: values });

/** The entry's value as knob text (numbers/booleans stringified, null kept), its why and source. */
export function unwrapEntry(entry: unknown): { value: string | null; why?: string; source?: string } {
  const e = unwrapProfileEntry(entry);
  const raw = e.value;
  const value = raw === null || raw === undefined ? null : typeof raw === 'boolean' ? (raw ? 'on' : 'off') : String(raw);
  return { value, ...(e.why ? { why: e.why } : {}), ...(e.source ? { source: e.source } : {}) };
}

/** Knob fields for why/source (the engine shows `source` too), leaving out what is unset. */
export const explain = (e: { why?: string; source?: string }): { why?: string; source?: string } => ({
  ...(e.why ? { why: e.why } : {}),
  ...(e.source ? { source: e.source } : {}),
});

/** Host path under the tune root (`--root`). */
export const underRoot = (root: string, hostPath: string): string => path.join(root || '/', hostPath);
