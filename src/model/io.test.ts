import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labelRuns, parseJsonText, readRuns, readTrace, serializeTrace, validateTrace, writeTrace } from './io.js';
import { emptyTrace, phaseSpans, type Trace } from './trace.js';
import { UserError } from './errors.js';

function syntheticTrace(): Trace {
  const t = emptyTrace({ source: 'synthetic', clock: 'monotonic' });
  t.lanes.push({ id: 'p1', kind: 'process', name: 'qemu', pid: 1 }, { id: 'phases', kind: 'phases', name: 'phases' });
  t.spans.push({ lane: 'p1', name: 'main', phase: 'toolstack', start: 0, end: 1000, args: { note: 'a "quoted" <name>' } });
  t.spans.push(...phaseSpans([{ phase: 'toolstack', at: 0 }, { phase: 'kernel', at: 600 }], 1000));
  t.instants.push({ lane: 'p1', name: 'marker', at: 500 });
  t.counters.push({ lane: 'p1', name: 'rss', at: 10, value: 3.5 });
  return t;
}

const dir = mkdtempSync(join(tmpdir(), 'hvscope-io-'));

describe('trace file', () => {
  it('round-trips through write and read unchanged', () => {
    const file = join(dir, 'a.hvtrace.json');
    const t = syntheticTrace();
    writeTrace(file, t);
    expect(readTrace(file)).toEqual(t);
  });

  it('writes one span per line so errors and diffs can point at a line', () => {
    const text = serializeTrace(syntheticTrace());
    const spanLines = text.split('\n').filter((l) => l.includes('"lane":') && l.includes('"end":'));
    expect(spanLines).toHaveLength(3);
  });

  it('names file and line for a JSON syntax error', () => {
    const file = join(dir, 'broken.hvtrace.json');
    const text = serializeTrace(syntheticTrace()).replace('"name":"marker"', '"name":"marker",,');
    writeFileSync(file, text);
    const line = text.split('\n').findIndex((l) => l.includes('marker')) + 1;
    expect(() => readTrace(file)).toThrowError(new RegExp(`^${file.replace(/[.]/g, '\\.')}:${line}: not valid JSON`));
  });

  it('names the JSON path for a schema violation', () => {
    const t = syntheticTrace() as unknown as { spans: Record<string, unknown>[] };
    t.spans[0].start = -5;
    expect(() => validateTrace(t, 'x.hvtrace.json')).toThrowError(/x\.hvtrace\.json: .*spans\.0\.start/);
  });

  it('rejects an unknown phase, listing the valid ones', () => {
    const t = syntheticTrace() as unknown as { spans: Record<string, unknown>[] };
    t.spans[0].phase = 'bios';
    expect(() => validateTrace(t, 'x')).toThrowError(/spans\.0\.phase.*orchestrate, toolstack/);
  });

  it('rejects spans that end before they start and dangling lane references', () => {
    const t1 = syntheticTrace();
    t1.spans[0].start = 10;
    t1.spans[0].end = 5;
    expect(() => validateTrace(t1, 'x')).toThrowError(/spans\.0: end 5 is before start 10/);
    const t2 = syntheticTrace();
    t2.instants[0].lane = 'nope';
    expect(() => validateTrace(t2, 'x')).toThrowError(/instants\.0\.lane: unknown lane "nope"/);
  });

  it('reports unreadable files as user errors', () => {
    expect(() => readTrace(join(dir, 'missing.hvtrace.json'))).toThrowError(UserError);
    expect(() => parseJsonText('{', 'f.json')).toThrowError(/^f\.json:1: not valid JSON/);
  });

  it('reads a directory of runs in name order', () => {
    const runsDir = join(dir, 'runs');
    mkdirSync(runsDir);
    writeTrace(join(runsDir, 'run-2.hvtrace.json'), syntheticTrace());
    writeTrace(join(runsDir, 'run-1.hvtrace.json'), syntheticTrace());
    writeFileSync(join(runsDir, 'notes.txt'), 'ignored');
    expect(readRuns([runsDir]).map((r) => r.label)).toEqual(['run-1', 'run-2']);
    expect(() => readRuns([join(dir, 'nothing-here')])).toThrowError(/no such file or directory/);
  });
});

describe('labelRuns', () => {
  it('keeps plain names and prefixes the directory where two runs share a name', () => {
    expect(labelRuns(['a/run-1.hvtrace.json', 'a/run-2.hvtrace.json'])).toEqual(['run-1', 'run-2']);
    expect(labelRuns(['pc/run.hvtrace.json', 'microvm/run.hvtrace.json', 'x.json'])).toEqual(['pc/run', 'microvm/run', 'x']);
  });
});

describe('phaseSpans', () => {
  it('makes each phase run to the next boundary, sorted by time', () => {
    const spans = phaseSpans(
      [
        { phase: 'kernel', at: 50 },
        { phase: 'toolstack', at: 0 },
        { phase: 'user', at: 80 },
      ],
      100,
    );
    expect(spans.map((s) => [s.name, s.start, s.end])).toEqual([
      ['toolstack', 0, 50],
      ['kernel', 50, 80],
      ['user', 80, 100],
    ]);
  });
});
