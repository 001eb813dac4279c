import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labelRuns, parseJsonText, readRuns, readTrace, serializeTrace, validateTrace, writeTrace } from './io.js';
import { emptyTrace, type Trace } from './trace.js';
import { UserError } from './errors.js';
import { setSyntheticPhases } from '../../test/helpers/fixtures.js';

function syntheticTrace(): Trace {
  const t = emptyTrace({ source: 'synthetic', clock: 'monotonic' });
  t.lanes.push({ id: 'p1', kind: 'process', name: 'qemu', pid: 1 });
  t.spans.push({ lane: 'p1', name: 'main', phase: 'toolstack', start: 0, end: 1000, args: { note: 'a "quoted" <name>' } });
  t.instants.push({ lane: 'p1', name: 'marker', at: 500 });
  t.counters.push({ lane: 'p1', name: 'rss', at: 10, value: 3.5 });
  return setSyntheticPhases(t, [{ phase: 'toolstack', at: 0 }, { phase: 'kernel', at: 600 }], 1000);
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
    t.spans[1].start = -5;
    expect(() => validateTrace(t, 'x.hvtrace.json')).toThrowError(/x\.hvtrace\.json: .*spans\.1\.start/);
  });

  it('rejects an unknown phase, listing the valid ones', () => {
    const t = syntheticTrace() as unknown as { spans: Record<string, unknown>[] };
    t.spans[1].phase = 'bios';
    expect(() => validateTrace(t, 'x')).toThrowError(/spans\.1\.phase.*orchestrate, toolstack/);
  });

  it('rejects spans that end before they start and dangling lane references', () => {
    const t1 = syntheticTrace();
    t1.spans[1].start = 10;
    t1.spans[1].end = 5;
    expect(() => validateTrace(t1, 'x')).toThrowError(/spans\.1: end 5 is before start 10/);
    const t2 = syntheticTrace();
    t2.instants[0].lane = 'nope';
    expect(() => validateTrace(t2, 'x')).toThrowError(/instants\.0\.lane: unknown lane "nope"/);
    const t3 = syntheticTrace();
    t3.markers[0].lane = 'gone';
    expect(() => validateTrace(t3, 'x')).toThrowError(/markers\.0\.lane: unknown lane "gone"/);
  });

  it('keeps markers and unresolved phases, and refuses a marker without its boundary', () => {
    const t = syntheticTrace();
    expect(t.markers.map((m) => m.boundary)).toEqual(['toolstack-start', 'kernel-start', 'ready']);
    const text = serializeTrace(t);
    expect(text.split('\n').filter((l) => l.includes('"boundary":'))).toHaveLength(3);
    const bad = JSON.parse(text) as { markers: Record<string, unknown>[] };
    delete bad.markers[0].boundary;
    expect(() => validateTrace(bad, 'x')).toThrowError(/markers\.0: must have required property 'boundary'/);
  });

  it('reads version-1 files, re-deriving their phases, and refuses versions it does not know', () => {
    const v1 = JSON.parse(serializeTrace(syntheticTrace())) as Record<string, unknown>;
    v1.version = 1;
    delete v1.markers;
    delete v1.unresolvedPhases;
    // a version-1 importer's marker instant: the user-space start, on the console
    (v1.instants as unknown[]).push({ lane: 'p1', name: 'Run /init as init process', at: 800, args: { marker: 'user-start', via: 'serial console', rank: 2 } });
    const read = validateTrace(v1, 'v1.hvtrace.json');
    expect(read.version).toBe(2);
    expect(read.spans.filter((s) => s.lane === 'phases').map((s) => [s.name, s.start, s.end])).toEqual([
      ['toolstack', 0, 600],
      ['kernel', 600, 800],
      ['user', 800, 1000],
    ]);
    expect(read.markers.find((m) => m.boundary === 'user-start')).toMatchObject({ name: 'Linux runs init', source: 'serial', rank: 3 });
    expect(() => validateTrace({ ...v1, version: 3 }, 'v3.hvtrace.json')).toThrowError(/^v3\.hvtrace\.json: hvscope trace format version 3 is not supported \(this hvscope reads 1 and 2\)$/);
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
