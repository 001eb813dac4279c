// Read, validate and write *.hvtrace.json files.
import { readdirSync, statSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import { UserError, fileError, lineOfOffset, printableMessage } from './errors.js';
import { checkJsonNesting, readInputText } from './input.js';
import { firstJsonErrorOffset } from './json-locate.js';
import { TRACE_VERSION, type Run, type Trace } from './trace.js';
import { upgradeTraceV1, type TraceV1 } from './upgrade.js';
import { ITEM_CHECKS } from './trace-check.js';
import { readTraceValueStreamed } from './trace-stream.js';
import { columnsFit, columnsOf, type ItemColumns } from './span-columns.js';
// The schemas (schema.ts) compiled ahead of time: compiling them here cost a third of a render's start-up.
import { validate as validateSchema, validateV1 as validateSchemaV1 } from './trace-validator.js';

export const TRACE_SUFFIX = '.hvtrace.json';

type CompiledValidator = ((value: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** Parses JSON text, turning a syntax error into `file:line: ...`. */
export function parseJsonText(text: string, file: string): unknown {
  checkJsonNesting(text, file);
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const offset = firstJsonErrorOffset(text);
    const line = offset >= 0 ? lineOfOffset(text, offset) : undefined;
    // Node's message quotes the input around the error (over several lines, when the input has them): keep only its first clause.
    const reason = printableMessage(message.replace(/ in JSON at position \d+.*$/s, '').replace(/,\s*(\.\.\.)?"[\s\S]*$/, '').replace(/\s+/g, ' ')).slice(0, 120);
    throw fileError(file, line, `not valid JSON: ${reason}`);
  }
}

function describeSchemaError(e: ErrorObject): string {
  const path = e.instancePath === '' ? '(top level)' : e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const extra =
    e.keyword === 'additionalProperties'
      ? ` (${(e.params as { additionalProperty: string }).additionalProperty})`
      : e.keyword === 'enum'
        ? ` (one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})`
        : '';
  return `${path}: ${e.message ?? 'invalid'}${extra}`;
}

/** Line of the first item of each large array (the streamed reader knows them), so errors can name a line. */
export type ItemLines = Partial<Record<string, number>>;

/** Per large array, the indexes of the only items that still need the schema's item check (trace-stream.ts). */
export type UncheckedItems = Partial<Record<string, number[]>>;

type Invalid = (path: string, index: number | undefined, message: string) => never;

/** The arrays of a value that the streamed reader holds as columns, by key. */
type HeldAsColumns = Partial<Record<string, ItemColumns>>;

/** The columns behind a value's spans and instants; for any version but 2 they are built as objects first. */
function heldAsColumns(value: object, v2: boolean): HeldAsColumns {
  const held: HeldAsColumns = {};
  for (const key of ['spans', 'instants'] as const) {
    const c = columnsOf(value, key);
    if (c && v2) held[key] = c;
    else if (c) void (value as Record<string, unknown>)[key]; // only version 2 is checked over the columns
  }
  return held;
}

/**
 * The schema check of a version-2 trace: the precompiled validator on the
 * trace without its large arrays, then each item of those through a fast
 * check (trace-check.ts), the validator deciding about any item it refuses.
 * Errors read as the validator's would: `at spans.12.start: must be integer`.
 */
function checkSchemaV2(value: Record<string, unknown>, validate: CompiledValidator, invalid: Invalid, unchecked: UncheckedItems, columns: HeldAsColumns): void {
  // Items held as columns (span-columns.ts) are not read through `value.spans`, which would build them.
  const isBig = (key: string) => columns[key] !== undefined || Array.isArray(value[key]);
  const big = ITEM_CHECKS.filter(([key]) => isBig(key));
  const skeleton: Record<string, unknown> = {};
  for (const key of Object.keys(value)) skeleton[key] = columns[key] ? [] : value[key];
  for (const [key] of big) skeleton[key] = [];
  const schemaError = (e: ErrorObject | undefined, key?: string, index?: number): never => {
    if (!e) return invalid('?', undefined, 'invalid');
    // The item was checked alone (index 0): put its index back into the path.
    const path = key === undefined ? e.instancePath : e.instancePath.replace(`/${key}/0`, `/${key}/${index}`);
    return invalid(describeSchemaError({ ...e, instancePath: path }), key === undefined ? undefined : index, '');
  };
  if (!validate(skeleton)) schemaError(validate.errors?.[0]);
  for (const [key, ok] of big) {
    const cols = columns[key];
    const items = cols ? undefined : (value[key] as unknown[]);
    const itemAt = (i: number) => (cols ? cols.at(i) : items![i]);
    const only = unchecked[key];
    for (let n = 0, count = only ? only.length : cols ? cols.count : items!.length; n < count; n++) {
      const i = only ? only[n] : n;
      const item = itemAt(i);
      if (ok(item)) continue;
      skeleton[key] = [item];
      if (!validate(skeleton)) schemaError(validate.errors?.[0], key, i);
      skeleton[key] = [];
    }
  }
}

/**
 * Checks a parsed value against the trace schema and the model's invariants.
 * A version-1 file is upgraded (upgrade.ts): its phases are re-derived.
 * `itemLines` (from the streamed reader) lets an error in an item name its line;
 * `unchecked` (from it too) says which items its fast path has not checked already.
 */
export function validateTrace(value: unknown, file: string, itemLines: ItemLines = {}, unchecked: UncheckedItems = {}): Trace {
  const version = (value as { version?: unknown } | null)?.version;
  const v1 = version === 1;
  const validate = (v1 ? validateSchemaV1 : validateSchema) as unknown as CompiledValidator;
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  const columns = isObject ? heldAsColumns(value as object, version === TRACE_VERSION) : {};
  if (isObject && typeof version === 'number' && version !== 1 && version !== TRACE_VERSION)
    throw fileError(file, undefined, `hvscope trace format version ${version} is not supported (this hvscope reads 1 and ${TRACE_VERSION})`);
  // `path` is "spans.3.start"; its array's first line + index is the item's line, when known.
  const invalid: Invalid = (path, index, message) => {
    const first = itemLines[path.split('.')[0]];
    const line = first !== undefined && index !== undefined ? first + index : undefined;
    throw fileError(file, line, `not a valid hvscope trace at ${path}${message}`);
  };
  if (isObject && version === TRACE_VERSION) checkSchemaV2(value as Record<string, unknown>, validate, invalid, unchecked, columns);
  else if (!validate(value)) {
    const first = validate.errors?.[0];
    throw fileError(file, undefined, `not a valid hvscope trace at ${first ? describeSchemaError(first) : '?'}`);
  }
  const trace = value as unknown as Trace;
  const laneIds = new Set(trace.lanes.map((l) => l.id));
  if (laneIds.size !== trace.lanes.length) throw fileError(file, undefined, 'not a valid hvscope trace: duplicate lane id');
  const check = (kind: string, items: { lane?: string }[]) => {
    for (let i = 0; i < items.length; i++)
      if (items[i].lane !== undefined && !laneIds.has(items[i].lane!)) invalid(`${kind}.${i}.lane`, i, `: unknown lane "${items[i].lane}"`);
  };
  // Over the columns where they hold the items; where they find a fault, over the objects, which name it.
  const fit = (key: 'spans' | 'instants') => columns[key] !== undefined && columnsFit(columns[key], laneIds);
  const spansChecked = fit('spans');
  if (!spansChecked) check('spans', trace.spans);
  if (!fit('instants')) check('instants', trace.instants);
  check('counters', trace.counters);
  if (!v1) check('markers', trace.markers);
  for (let i = 0; !spansChecked && i < trace.spans.length; i++) {
    const s = trace.spans[i];
    if (s.end < s.start) invalid(`spans.${i}`, i, `: end ${s.end} is before start ${s.start}`);
  }
  return v1 ? upgradeTraceV1(value as TraceV1) : trace;
}

/**
 * Reads a trace file: streamed when it is in serializeTrace's layout
 * (trace-stream.ts), else read whole, which also names the line of an error.
 */
export function readTrace(file: string): Trace {
  const streamed = readTraceValueStreamed(file);
  if (streamed) return validateTrace(streamed.value, file, streamed.itemLines, streamed.unchecked);
  return validateTrace(parseJsonText(readInputText(file, 'trace'), file), file);
}

/** Expands directories into their *.hvtrace.json files (sorted) and reads each as a run. */
export function readRuns(paths: string[]): Run[] {
  const files: string[] = [];
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      throw new UserError(`${p}: no such file or directory`);
    }
    if (isDir) {
      const found = readdirSync(p).filter((n) => n.endsWith(TRACE_SUFFIX)).sort();
      if (found.length === 0) throw new UserError(`${p}: directory holds no *${TRACE_SUFFIX} files`);
      files.push(...found.map((n) => join(p, n)));
    } else files.push(p);
  }
  return labelRuns(files).map((label, i) => ({ label, trace: readTrace(files[i]) }));
}

/** Run labels from file names; where two runs share a name (dirA/run.hvtrace.json, dirB/run.hvtrace.json), prefix the directory. */
export function labelRuns(files: string[]): string[] {
  const short = (f: string) => basename(f).replace(TRACE_SUFFIX, '').replace(/\.json$/, '');
  const labels = files.map(short);
  return labels.map((label, i) =>
    labels.indexOf(label) !== labels.lastIndexOf(label) ? `${basename(dirname(resolve(files[i])))}/${label}` : label,
  );
}

/** Serialises with one span/instant/counter per line: diffable, and errors can name a line. */
export function serializeTrace(trace: Trace): string {
  const list = (items: unknown[]) =>
    items.length === 0 ? '[]' : `[\n${items.map((i) => '    ' + JSON.stringify(i)).join(',\n')}\n  ]`;
  return (
    '{\n' +
    `  "format": ${JSON.stringify(trace.format)},\n` +
    `  "version": ${trace.version},\n` +
    `  "meta": ${JSON.stringify(trace.meta)},\n` +
    `  "lanes": ${list(trace.lanes)},\n` +
    `  "spans": ${list(trace.spans)},\n` +
    `  "instants": ${list(trace.instants)},\n` +
    `  "counters": ${list(trace.counters)},\n` +
    `  "markers": ${list(trace.markers)},\n` +
    `  "unresolvedPhases": ${list(trace.unresolvedPhases)}\n` +
    '}\n'
  );
}

/** Writes a file atomically (temp + rename), creating its directory. */
export function writeFileAtomic(file: string, content: string | Buffer): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

export function writeTrace(file: string, trace: Trace): void {
  writeFileAtomic(file, serializeTrace(trace));
}
