import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { userErrorOf } from '../../test/helpers/fixtures.js';
import { readTrace, serializeTrace, validateTrace } from './io.js';
import { ItemColumns, columnsOf, instantCount, spanCount } from './span-columns.js';
import { readTraceValueStreamed } from './trace-stream.js';
import { emptyTrace, type Instant, type Span, type Trace } from './trace.js';

const dir = mkdtempSync(join(tmpdir(), 'hvscope-columns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Synthetic unit-test data: spans and instants in every key order the columns hold, and ones they do not. */
function mixedTrace(): Trace {
  const t = emptyTrace({ source: 'synthetic', clock: 'monotonic' });
  t.lanes.push({ id: 'a', kind: 'thread', name: 'a' }, { id: 'b', kind: 'thread', name: 'b' });
  const big = 2 ** 31 + 7; // times past 2^31 are doubles, not small integers
  for (let i = 0; i < 50; i++) {
    const lane = i % 3 ? 'a' : 'b';
    const start = i < 25 ? i : big + i * 1e9;
    const span: Record<string, unknown> =
      i % 5 === 0
        ? { lane, name: `f${i % 4}`, start, end: start + 3 }
        : i % 5 === 1
          ? { lane, name: `f${i % 4}`, start, end: start + 3, phase: 'kernel' }
          : i % 5 === 2
            ? { lane, name: `f${i % 4}`, phase: 'firmware', start, end: start }
            : i % 5 === 3
              ? { lane, name: `g${i}`, start, end: start + 1, args: { i, ok: i % 2 === 0 } }
              : { name: `odd order ${i}`, lane, end: start + 2, start };
    t.spans.push(span as unknown as Span);
  }
  t.spans.push({ lane: 'a', name: 'x'.repeat(100), start: Number.MAX_SAFE_INTEGER - 1, end: Number.MAX_SAFE_INTEGER });
  for (let i = 0; i < 20; i++) {
    const at = i < 10 ? i : big + i;
    const lane = i % 2 ? 'a' : 'b';
    const instant: Record<string, unknown> = [
      { lane, name: 'm', at },
      { lane, name: 'm', at, phase: 'user' },
      { lane, name: `m${i}`, phase: 'kernel', at },
      { lane, name: 'm', at, args: { i } },
      { at, lane, name: 'odd' },
    ][i % 5];
    t.instants.push(instant as unknown as Instant);
  }
  return t;
}

describe('span columns', () => {
  it('give back every span as JSON.parse builds it, keys in the same order', () => {
    const text = serializeTrace(mixedTrace());
    const file = write('mixed.hvtrace.json', text);
    for (const chunk of [7, 4096]) {
      const s = readTraceValueStreamed(file, chunk)!;
      const columns = columnsOf(s.value, 'spans')!;
      expect(columns).toBeInstanceOf(ItemColumns);
      // Most spans are columns (those with args too, their args beside); the ones in another key order are kept as objects.
      expect(columns.argsList.length).toBe(10);
      expect(columns.objects.length).toBe(10);
      expect(columns.objects.length).toBeLessThan(columns.count);
      const parsed = (JSON.parse(text) as Trace).spans;
      for (let i = 0; i < parsed.length; i++) expect(JSON.stringify(columns.at(i))).toBe(JSON.stringify(parsed[i]));
      expect(JSON.stringify(s.value.spans)).toBe(JSON.stringify(parsed));
      const instants = columnsOf(s.value, 'instants')!;
      expect(instants.count - instants.objects.length).toBe(12);
      expect(JSON.stringify(s.value.instants)).toBe(JSON.stringify((JSON.parse(text) as Trace).instants));
    }
    expect(serializeTrace(readTrace(file))).toBe(text);
  });

  it('are turned into objects once, on first use; assigning spans replaces them', () => {
    const file = write('lazy.hvtrace.json', serializeTrace(mixedTrace()));
    const trace = readTrace(file);
    expect(columnsOf(trace, 'spans')).toBeDefined();
    expect(spanCount(trace)).toBe(51);
    expect(instantCount(trace)).toBe(20);
    const spans = trace.spans;
    expect(columnsOf(trace, 'spans')).toBeUndefined();
    expect(trace.spans).toBe(spans);
    expect(spanCount(trace)).toBe(51);
    const again = readTrace(file);
    again.spans = [];
    expect(again.spans).toEqual([]);
    expect(Object.keys(again)).toEqual(Object.keys(emptyTrace({ source: 'x', clock: 'x' })));
  });

  it('grow past their first size', () => {
    const c = new ItemColumns('spans', 2);
    for (let i = 0; i < 9; i++) {
      const at = c.reserve();
      c.shape[at] = 1;
      c.start[at] = i;
      c.end[at] = i + 1;
    }
    c.strings.push('lane');
    expect(c.count).toBe(9);
    expect(c.toArray().map((s) => s.end)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('name the line of an unknown lane or a span that ends before it starts, as the general path does', () => {
    const text = serializeTrace(mixedTrace());
    const lines = text.split('\n');
    const span = lines.findIndex((l) => l.includes('"name":"f2"'));
    const instant = lines.findIndex((l) => l.includes('"name":"m2"'));
    const gone = (l: string) => l.replace('"lane":"a"', '"lane":"gone"').replace('"lane":"b"', '"lane":"gone"');
    for (const [name, first, edit] of [
      ['lane', span, gone],
      ['instant-lane', instant, gone],
      ['order', span, (l: string) => l.replace(/"end":\d+/, '"end":0').replace(/"start":\d+/, '"start":5')],
    ] as const) {
      const bad = [...lines];
      bad[first] = edit(bad[first]);
      const file = write(`bad-${name}.hvtrace.json`, bad.join('\n'));
      const general = readTraceValueStreamed(file, undefined, false)!;
      const expected = userErrorOf(() => validateTrace(general.value, file, general.itemLines, general.unchecked)).message;
      expect(expected).toMatch(new RegExp(`:${first + 1}: `));
      expect(userErrorOf(() => readTrace(file)).message).toBe(expected);
    }
  });
});
