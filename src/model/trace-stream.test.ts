import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureTraces, userErrorOf } from '../../test/helpers/fixtures.js';
import { parseJsonText, readTrace, serializeTrace, validateTrace } from './io.js';
import { readInputText, setMaxInput } from './input.js';
import { counterOk, instantOk, markerOk, spanOk } from './trace-check.js';
import { readTraceValueStreamed } from './trace-stream.js';
import { emptyTrace, type Trace } from './trace.js';
import { validate } from './trace-validator.js';

const dir = mkdtempSync(join(tmpdir(), 'hvscope-stream-'));
afterEach(() => setMaxInput(undefined));

/** The reader before streaming: the whole text, JSON.parse, the schema. */
const wholeFileRead = (file: string) => validateTrace(parseJsonText(readInputText(file, 'trace'), file), file);

function streamed(file: string, chunk?: number): Trace | undefined {
  const s = readTraceValueStreamed(file, chunk);
  return s && validateTrace(s.value, file, s.itemLines);
}

/** A synthetic trace (unit-test data) with non-ASCII names, args and every item kind. */
function syntheticTrace(): Trace {
  const t = emptyTrace({ source: 'synthetic', clock: 'monotonic', command: ['qemu', '-name', 'gäst'] });
  t.lanes.push({ id: 'p1', kind: 'process', name: 'qemü', pid: 1 }, { id: 't2', kind: 'thread', name: 'vcpu 0', pid: 1, tid: 2, parent: 'p1' });
  for (let i = 0; i < 40; i++)
    t.spans.push({ lane: i % 2 ? 'p1' : 't2', name: `fn${i} ✓ «x»`, start: i * 10, end: i * 10 + 5, ...(i % 3 ? { phase: 'kernel' as const } : {}), ...(i % 7 === 0 ? { args: { n: i, ok: true, s: 'a\tb "q"', z: null } } : {}) });
  t.instants.push({ lane: 'p1', name: 'Run /init as init process', at: 100, phase: 'user' });
  t.counters.push({ lane: 't2', name: 'rss', at: 5, value: 3.5 });
  t.markers.push({ boundary: 'kernel-start', name: 'first KVM_RUN', source: 'bpftrace qemu', rank: 1, at: 0, lane: 't2', detail: 'x' });
  t.unresolvedPhases.push({ phase: 'user', reason: 'no ready marker', start: 300 });
  return t;
}

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('streamed trace reader', () => {
  it('reads every fixture trace as the whole-file reader does, at any piece size', () => {
    const files = fixtureTraces();
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const expected = wholeFileRead(file);
      expect(streamed(file), file).toEqual(expected);
      expect(readTrace(file), file).toEqual(expected);
    }
    // Pieces cut everywhere: inside lines, items, strings and numbers.
    for (const file of files.slice(0, 3)) for (const chunk of [1, 7, 64, 1000]) expect(streamed(file, chunk), `${file} ${chunk}`).toEqual(wholeFileRead(file));
  });

  it('decodes UTF-8 cut across pieces as the whole file decodes it, and re-serializes to the same text', () => {
    const text = serializeTrace(syntheticTrace());
    const file = write('utf8.hvtrace.json', text);
    for (const chunk of [1, 2, 3, 5, 13, 4096]) expect(streamed(file, chunk)).toEqual(wholeFileRead(file));
    expect(serializeTrace(readTrace(file))).toBe(text);
    // Invalid UTF-8 becomes U+FFFD either way.
    const bad = Buffer.from(text.replace('vcpu 0', 'vcpu \u00ff'), 'utf8');
    bad[bad.indexOf('vcpu ') + 5] = 0xc3; // a lead byte whose continuation is missing
    bad[bad.indexOf('vcpu ') + 6] = 0x20;
    const badFile = join(dir, 'bad-utf8.hvtrace.json');
    writeFileSync(badFile, bad);
    expect(streamed(badFile, 3)).toEqual(wholeFileRead(badFile));
  });

  it('leaves other layouts to the whole-file reader, with the same result', () => {
    const t = syntheticTrace();
    for (const [name, text] of [
      ['minified', JSON.stringify(t)],
      ['indented', JSON.stringify(t, null, 2)],
      ['crlf', serializeTrace(t).replace(/\n/g, '\r\n')],
    ] as const) {
      const file = write(`${name}.hvtrace.json`, text);
      expect(readTraceValueStreamed(file), name).toBeUndefined();
      expect(readTrace(file), name).toEqual(validateTrace(JSON.parse(text), file));
    }
    // Two items on one line still stream, but errors in that array no longer name a line.
    const two = serializeTrace(t).replace('},\n    {"lane":"t2"', '}, {"lane":"t2"');
    const s = readTraceValueStreamed(write('two-per-line.hvtrace.json', two));
    expect(s?.itemLines.spans).toBeUndefined();
    expect(s?.itemLines.instants).toBeDefined();
    expect(validateTrace(s!.value, 'x')).toEqual(t);
  });

  it('names file and line of a truncated file, wherever it was cut', () => {
    const text = serializeTrace(syntheticTrace());
    const lines = text.split('\n');
    for (const cut of [text.indexOf('"spans"') + 40, text.indexOf('"instants"') - 3, text.length - 4, text.lastIndexOf('}')]) {
      const file = write('cut.hvtrace.json', text.slice(0, cut));
      const line = text.slice(0, cut).split('\n').length;
      const err = userErrorOf(() => readTrace(file));
      expect(err.message).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:(\\d+): not valid JSON`));
      expect(Number(/:(\d+):/.exec(err.message)![1])).toBeLessThanOrEqual(line);
      expect(Number(/:(\d+):/.exec(err.message)![1])).toBeGreaterThanOrEqual(Math.min(line, lines.length) - 1);
    }
  });

  it('refuses a missing comma or a trailing comma between items, wherever the pieces are cut', () => {
    const text = serializeTrace(syntheticTrace());
    const noComma = text.replace(/("name":"fn3[^\n]*),\n/, '$1\n');
    const trailing = text.replace(/("at":5,"value":3.5\})\n/, '$1,\n');
    expect(noComma).not.toBe(text);
    expect(trailing).not.toBe(text);
    for (const [name, bad] of [['no-comma', noComma], ['trailing-comma', trailing]]) {
      const file = write(`${name}.hvtrace.json`, bad);
      for (const chunk of [16, 4096]) expect(readTraceValueStreamed(file, chunk), `${name} ${chunk}`).toBeUndefined();
      expect(userErrorOf(() => readTrace(file)).message).toMatch(/:\d+: not valid JSON/);
    }
  });

  it('names the line of an item the schema refuses, and of a dangling lane', () => {
    const text = serializeTrace(syntheticTrace());
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.includes('"name":"fn12 '));
    lines[at] = lines[at].replace(/"start":\d+/, '"start":"12"');
    const file = write('bad-item.hvtrace.json', lines.join('\n'));
    expect(userErrorOf(() => readTrace(file)).message).toBe(`${file}:${at + 1}: not a valid hvscope trace at spans.12.start: must be integer`);
    const lane = text.split('\n');
    const inst = lane.findIndex((l) => l.includes('Run /init'));
    lane[inst] = lane[inst].replace('"lane":"p1"', '"lane":"gone"');
    const file2 = write('bad-lane.hvtrace.json', lane.join('\n'));
    expect(userErrorOf(() => readTrace(file2)).message).toBe(`${file2}:${inst + 1}: not a valid hvscope trace at instants.0.lane: unknown lane "gone"`);
  });

  it('bounds nesting: a deep member is refused with its line, deep item args are a schema error', () => {
    const text = serializeTrace(syntheticTrace());
    const deepMeta = text.replace('"meta": {', `"meta": {"x": ${'['.repeat(100)}${']'.repeat(100)}, `);
    expect(userErrorOf(() => readTrace(write('deep-meta.hvtrace.json', deepMeta))).message).toMatch(/:4: nested deeper than 64 levels/);
    const deepArgs = text.replace('"args":{"n":0,', `"args":{"deep":${'['.repeat(100000)}${']'.repeat(100000)},"n":0,`);
    expect(userErrorOf(() => readTrace(write('deep-args.hvtrace.json', deepArgs))).message).toMatch(/spans\.0\.args\.deep: must be string,number,boolean,null/);
  });

  it('keeps the bounded reader: size cap, --max-input, regular files only', () => {
    const file = write('capped.hvtrace.json', serializeTrace(syntheticTrace()));
    setMaxInput('1k');
    expect(userErrorOf(() => readTrace(file)).message).toMatch(/^.*capped\.hvtrace\.json: trace: .* over the 1 KiB input limit; raise it with --max-input/);
    setMaxInput('1M');
    expect(readTrace(file).spans).toHaveLength(40);
    const fifo = join(dir, 'fifo.hvtrace.json');
    execFileSync('mkfifo', [fifo]);
    expect(userErrorOf(() => readTrace(fifo)).message).toMatch(/fifo\.hvtrace\.json: cannot read trace: a FIFO \(pipe\), not a regular file/);
    expect(userErrorOf(() => readTrace(dir)).message).toMatch(/cannot read trace: a directory/);
    expect(userErrorOf(() => readTrace(join(dir, 'none.hvtrace.json'))).message).toMatch(/none\.hvtrace\.json: cannot read trace: no such file/);
  });
});

describe('fast item checks', () => {
  const skeleton = () => ({ ...emptyTrace({ source: 's', clock: 'c' }), lanes: [] as unknown[] }) as Record<string, unknown>;
  const accepts = (key: string, item: unknown) => validate({ ...skeleton(), [key]: [item] });
  const span = { lane: 'a', name: 'b', start: 1, end: 2 };
  const cases: [string, (x: unknown) => boolean, unknown][] = [
    ['spans', spanOk, span],
    ['spans', spanOk, { ...span, phase: 'kernel', args: { a: 1, b: 'x', c: true, d: null } }],
    ['spans', spanOk, { ...span, phase: 'bios' }],
    ['spans', spanOk, { ...span, start: 1.5 }],
    ['spans', spanOk, { ...span, start: -1 }],
    ['spans', spanOk, { ...span, start: -0 }],
    ['spans', spanOk, { ...span, start: Infinity }],
    ['spans', spanOk, { ...span, start: '1' }],
    ['spans', spanOk, { ...span, extra: 1 }],
    ['spans', spanOk, { ...span, args: { a: [1] } }],
    ['spans', spanOk, { ...span, args: [] }],
    ['spans', spanOk, { ...span, args: { a: Infinity } }],
    ['spans', spanOk, JSON.parse('{"lane":"a","name":"b","start":1,"end":2,"__proto__":{"x":1}}')],
    ['spans', spanOk, { lane: 'a', name: 'b', start: 1 }],
    ['spans', spanOk, null],
    ['spans', spanOk, [span]],
    ['instants', instantOk, { lane: 'a', name: 'b', at: 3, phase: 'user' }],
    ['instants', instantOk, { lane: 'a', name: 'b', at: 3, end: 4 }],
    ['counters', counterOk, { lane: 'a', name: 'b', at: 3, value: -2.5 }],
    ['counters', counterOk, { lane: 'a', name: 'b', at: 3, value: '1' }],
    ['markers', markerOk, { boundary: 'ready', name: 'n', source: 's', rank: 0, at: 1, lane: 'l', detail: 'd' }],
    ['markers', markerOk, { boundary: 'ready', name: 'n', source: 's', rank: 0.5, at: 1 }],
    ['markers', markerOk, { boundary: 'done', name: 'n', source: 's', rank: 0, at: 1 }],
    ['markers', markerOk, { boundary: 'ready', name: 'n', source: 's', rank: 0, at: 1, lane: 3 }],
  ];
  it('accept only what the schema accepts (and the common items)', () => {
    for (const [key, ok, item] of cases) {
      if (ok(item)) expect(accepts(key, item), `${key} ${JSON.stringify(item)}`).toBe(true);
    }
    expect(cases.filter(([, ok, item]) => ok(item))).toHaveLength(6);
  });
});

// Clean-up of the temporary directory when the worker exits.
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
