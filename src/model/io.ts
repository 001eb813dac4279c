// Read, validate and write *.hvtrace.json files.
import { readFileSync, readdirSync, statSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import { UserError, fileError, lineOfOffset } from './errors.js';
import { firstJsonErrorOffset } from './json-locate.js';
import type { Run, Trace } from './trace.js';
// The schema (schema.ts) compiled ahead of time: compiling it here cost a third of a render's start-up.
import { validate as validateSchema } from './trace-validator.js';

export const TRACE_SUFFIX = '.hvtrace.json';

/** Parses JSON text, turning a syntax error into `file:line: ...`. */
export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const offset = firstJsonErrorOffset(text);
    const line = offset >= 0 ? lineOfOffset(text, offset) : undefined;
    // Node's message may quote the whole input; keep only its first clause.
    const reason = message.replace(/ in JSON at position \d+.*$/, '').replace(/, ".*" is not valid JSON$/s, '');
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

/** Checks a parsed value against the trace schema and the model's invariants. */
export function validateTrace(value: unknown, file: string): Trace {
  if (!validateSchema(value)) {
    const first = (validateSchema as unknown as { errors?: ErrorObject[] | null }).errors?.[0];
    throw fileError(file, undefined, `not a valid hvscope trace at ${first ? describeSchemaError(first) : '?'}`);
  }
  const trace = value as unknown as Trace;
  const laneIds = new Set(trace.lanes.map((l) => l.id));
  if (laneIds.size !== trace.lanes.length) throw fileError(file, undefined, 'not a valid hvscope trace: duplicate lane id');
  const check = (kind: string, items: { lane: string }[]) => {
    for (let i = 0; i < items.length; i++)
      if (!laneIds.has(items[i].lane))
        throw fileError(file, undefined, `not a valid hvscope trace at ${kind}.${i}.lane: unknown lane "${items[i].lane}"`);
  };
  check('spans', trace.spans);
  check('instants', trace.instants);
  check('counters', trace.counters);
  for (let i = 0; i < trace.spans.length; i++) {
    const s = trace.spans[i];
    if (s.end < s.start) throw fileError(file, undefined, `not a valid hvscope trace at spans.${i}: end ${s.end} is before start ${s.start}`);
  }
  return trace;
}

export function readTrace(file: string): Trace {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return validateTrace(parseJsonText(text, file), file);
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
    `  "counters": ${list(trace.counters)}\n` +
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
