// The fast path of the streamed reader (trace-scan.ts) against the general path
// (JSON.parse of each line, the full schema check): the same traces, the same errors.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureTraces, userErrorOf } from '../../test/helpers/fixtures.js';
import { parseJsonText, readTrace, serializeTrace, validateTrace } from './io.js';
import { readInputText } from './input.js';
import { ITEM_CHECKS } from './trace-check.js';
import { readTraceValueStreamed, type StreamedValue } from './trace-stream.js';
import { emptyTrace, PHASES, type Span, type Trace } from './trace.js';

const dir = mkdtempSync(join(tmpdir(), 'hvscope-scan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function write(text: string | Buffer): string {
  const file = join(dir, `t${files++}.hvtrace.json`);
  writeFileSync(file, text);
  return file;
}

const wholeFileRead = (file: string) => validateTrace(parseJsonText(readInputText(file, 'trace'), file), file);
const checked = (file: string, s: StreamedValue) => validateTrace(s.value, file, s.itemLines, s.unchecked);

/** Items the fast path took (not in `unchecked`), per array. */
function fastTaken(s: StreamedValue): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, idx] of Object.entries(s.unchecked)) out[key] = (s.value[key] as unknown[]).length - idx!.length;
  return out;
}

/** Both paths read the file alike: the same value, key order included, and the same trace after the checks. */
function expectSamePaths(file: string): StreamedValue {
  const fast = readTraceValueStreamed(file, 4096, true);
  const general = readTraceValueStreamed(file, 4096, false);
  expect(fast, file).toBeDefined();
  expect(general, file).toBeDefined();
  expect(fast!.value).toStrictEqual(general!.value);
  expect(JSON.stringify(fast!.value)).toBe(JSON.stringify(general!.value));
  expect(fast!.itemLines).toEqual(general!.itemLines);
  // What the fast path took skips the item check: every one of those items must pass it.
  for (const [key, ok] of ITEM_CHECKS) {
    const items = (fast!.value[key] ?? []) as unknown[];
    const left = new Set(fast!.unchecked[key] ?? items.map((_, i) => i));
    items.forEach((item, i) => left.has(i) || expect(ok(item), `${key}.${i} ${JSON.stringify(item)}`).toBe(true));
  }
  expect(checked(file, fast!)).toStrictEqual(wholeFileRead(file));
  return fast!;
}

/** JSON text with spaces and tabs around its colons and commas (outside strings). */
function spaceOut(json: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === '\\') out += c + json[++i];
      else out += c;
      if (c === '"') inString = false;
    } else if (c === ':' || c === ',') out += ` ${c}\t`;
    else {
      out += c;
      if (c === '"') inString = true;
    }
  }
  return out;
}

/** A trace file in serializeTrace's layout whose span lines are given as text. */
function withSpanLines(lines: string[], instantLines: string[] = []): string {
  const t = emptyTrace({ source: 'synthetic', clock: 'monotonic' });
  t.lanes.push({ id: 't0', kind: 'thread', name: 'thread 0' }, { id: 'l\u00e9', kind: 'thread', name: 'é' });
  const text = serializeTrace(t);
  const list = (items: string[]) => (items.length === 0 ? '[]' : `[\n${items.map((l, i) => l + (i < items.length - 1 ? ',' : '')).join('\n')}\n  ]`);
  return text.replace('"spans": []', `"spans": ${list(lines)}`).replace('"instants": []', `"instants": ${list(instantLines)}`);
}

describe('fast path of the streamed reader', () => {
  it('reads every fixture trace as the general path does, taking most items', () => {
    let taken = 0;
    for (const file of fixtureTraces()) {
      const s = expectSamePaths(file);
      taken += Object.values(fastTaken(s)).reduce((a, b) => a + b, 0);
    }
    expect(taken).toBeGreaterThan(1000);
  });

  it('gives the same items for escapes, unicode, number forms, extra and reordered keys, whitespace', () => {
    const lines = [
      '    {"lane":"t0","name":"plain","start":1,"end":2}',
      '    {"lane":"t0","name":"q \\" b \\\\ n \\n u \\u00e9 \\ud83d\\ude00","start":1,"end":2}',
      '    {"lane":"lé","name":"✓ «x» 😀","start":3,"end":4,"phase":"kernel"}',
      '    {"lane":"t0","name":"exp","start":1e3,"end":1.5E+3,"args":{"neg":-2.5e-3,"big":12345678901234567,"z":-0,"f":0.1}}',
      '    {"lane":"t0","name":"big","start":9007199254740993,"end":99999999999999999999}',
      '    {"lane":"t0","name":"zero","start":-0,"end":0}',
      '    {"end":9,"start":8,"name":"reordered","lane":"t0"}',
      '    {"lane":"t0","phase":"user","name":"reordered2","args":{"b":1,"a":2,"1":3},"end":9,"start":8}',
      '\t { "lane" : "t0" ,\t"name": "spaced" , "start" : 5 , "end" : 6 } ',
      '    {"lane":"t0","name":"args kinds","start":5,"end":6,"args":{"s":"x","t":true,"f":false,"n":null},"phase":"firmware"}',
      '    {"lane":"t0","name":"empty args","start":5,"end":6,"args":{}}',
      '    {"lane":"t0","name":"dup args","start":5,"end":6,"args":{"a":1,"b":2,"a":3}}',
      '    {"lane":"t0","name":"","start":0,"end":0}',
      `    {"lane":"t0","name":"${'long'.repeat(40)}","start":0,"end":1}`,
    ];
    const instants = ['    {"lane":"t0","name":"i","at":7,"phase":"user"}', '    {"at":7,"lane":"t0","name":"j"}', '    {"lane":"t0","name":"k","at":1e2}'];
    const s = expectSamePaths(write(withSpanLines(lines, instants)));
    // Plain ASCII lines are the fast path's (reordered and spaced ones too), escapes and UTF-8 are not.
    expect(s.unchecked.spans).toEqual([1, 2]);
  });

  it('refuses to the general path what the schema must judge, with the same error and line', () => {
    const bad = ['"start":1.5', '"start":-1', '"start":"1"', '"start":1e400', '"start":1,"x":2', '"start":1,"phase":"bios"', '"start":1,"args":{"a":[1]}', '"start":1,"args":{"__proto__":{"x":1}}', '"start":9,"end":3,"x":null'];
    for (const member of bad) {
      const text = withSpanLines(['    {"lane":"t0","name":"ok","start":1,"end":2}', `    {"lane":"t0","name":"bad",${member},"end":3}`]);
      const file = write(text);
      const line = text.split('\n').findIndex((l) => l.includes('"bad"')) + 1;
      const message = userErrorOf(() => readTrace(file)).message;
      expect(message, member).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:${line}: not a valid hvscope trace at spans\\.1[.:]`));
      expect(message.split('\n')).toHaveLength(1);
      const general = readTraceValueStreamed(file, 4096, false)!;
      expect(userErrorOf(() => checked(file, general)).message).toBe(message);
    }
    // A duplicate key is valid JSON (the last one wins): the fast path leaves it to JSON.parse.
    const dup = expectSamePaths(write(withSpanLines(['    {"lane":"t0","name":"dup","start":1,"start":2,"end":3}'])));
    expect(dup.unchecked.spans).toEqual([0]);
    // An args number too large for a double is Infinity, which the schema takes (its fast check does not): JSON.parse's.
    const inf = expectSamePaths(write(withSpanLines(['    {"lane":"t0","name":"inf","start":1,"end":3,"args":{"a":1e999}}'])));
    expect(inf.unchecked.spans).toEqual([0]);
  });

  it('leaves syntax errors to the whole-file reader, which names the line', () => {
    for (const broken of ['"start":01', '"start":1,,', '"start":1.', '"start":-', '"start":tru', '"start":1}{']) {
      const text = withSpanLines(['    {"lane":"t0","name":"ok","start":1,"end":2}', `    {"lane":"t0","name":"bad",${broken},"end":3}`]);
      const file = write(text);
      expect(readTraceValueStreamed(file), broken).toBeUndefined();
      const line = text.split('\n').findIndex((l) => l.includes('"bad"')) + 1;
      expect(userErrorOf(() => readTrace(file)).message, broken).toMatch(new RegExp(`:(${line}|${line + 1}): not valid JSON`));
    }
  });

  it('reads random traces (any strings, numbers and args) as the general path does', () => {
    const str = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('t0', 'fn1', 'a"b', 'c\\d', 'e\nf'));
    const ns = fc.oneof(fc.nat(), fc.integer({ min: 2 ** 31, max: Number.MAX_SAFE_INTEGER }), fc.constant(0));
    const argValue = fc.oneof(str, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.integer());
    const span = fc.record(
      { lane: fc.constant('t0'), name: str, start: ns, end: ns, phase: fc.constantFrom(...PHASES), args: fc.dictionary(str, argValue, { maxKeys: 4 }) },
      { requiredKeys: ['lane', 'name', 'start', 'end'] },
    );
    fc.assert(
      fc.property(fc.array(span, { maxLength: 8 }), fc.boolean(), (spans, spaced) => {
        const t: Trace = emptyTrace({ source: 'synthetic', clock: 'monotonic' });
        t.lanes.push({ id: 't0', kind: 'thread', name: 'thread 0' });
        t.spans = spans.map((s) => ({ ...s, end: Math.max(s.start, s.end) }) as Span);
        t.instants = spans.map((s) => ({ lane: 't0', name: s.name, at: s.start }));
        t.counters = spans.map((s) => ({ lane: 't0', name: s.name, at: s.end, value: s.start / 3 }));
        let text = serializeTrace(t);
        if (spaced) text = text.replace(/^ {4}\{.*$/gm, spaceOut);
        expectSamePaths(write(text));
      }),
      { numRuns: 150 },
    );
  });

  it('takes the synthetic bench shape whole (no line left to JSON.parse)', () => {
    const t = emptyTrace({ source: 'synthetic', clock: 'monotonic' });
    t.lanes.push({ id: 't0', kind: 'thread', name: 'thread 0' });
    for (let i = 0; i < 100; i++) t.spans.push({ lane: 't0', name: `fn${i % 7}`, start: i * 3e9, end: i * 3e9 + 5, ...(i % 5 ? { args: { depth: i, left: -i } } : {}), ...(i % 3 ? { phase: 'kernel' as const } : {}) });
    const s = expectSamePaths(write(serializeTrace(t)));
    expect(s.unchecked.spans).toEqual([]);
    expect(readTrace(write(serializeTrace(t)))).toStrictEqual(t);
  });
});
