import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { serializeTrace, validateTrace } from '../model/io.js';
import { PHASE_LANE_ID } from '../model/trace.js';
import { emptyTrace } from '../model/trace.js';
import { setSyntheticPhases } from '../../test/helpers/fixtures.js';
import { exportChrome } from '../render/chrome.js';
import { phaseBreakdown } from '../analysis/phases.js';
import { importChrome } from './chrome.js';

const NODE_FIXTURE = 'fixtures/chrome/node-20-startup.json';

/** Message of the UserError the call throws (fails the test if it throws anything else or nothing). */
function userErrorOf(call: () => unknown): string {
  try {
    call();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error('expected a UserError');
}

interface RawEvent {
  ph: string;
  name: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

describe('importChrome on a real Node.js trace', () => {
  const text = readFileSync(NODE_FIXTURE, 'utf8');
  const raw = (JSON.parse(text) as { traceEvents: RawEvent[] }).traceEvents;
  const trace = importChrome(text, NODE_FIXTURE);

  it('produces a valid hvscope trace (schema and invariants, after a file round trip)', () => {
    expect(() => validateTrace(JSON.parse(serializeTrace(trace)), 'imported')).not.toThrow();
    expect(trace.meta.source).toBe('chrome');
    expect(trace.meta.inputs).toEqual([NODE_FIXTURE]);
  });

  it('puts t0 at the earliest non-metadata event and converts µs to integer ns', () => {
    const timed = raw.filter((e) => e.ph !== 'M');
    const t0 = Math.min(...timed.map((e) => e.ts));
    expect(trace.meta.t0ClockUs).toBe(t0);
    for (const e of raw.filter((e) => e.ph === 'X')) {
      const span = trace.spans.find((s) => s.name === e.name && s.start === Math.round((e.ts - t0) * 1000));
      expect(span, e.name).toBeDefined();
      expect(span!.end - span!.start).toBe(Math.round(e.dur! * 1000));
    }
    for (const s of trace.spans) {
      expect(Number.isInteger(s.start) && Number.isInteger(s.end)).toBe(true);
      expect(s.start).toBeGreaterThanOrEqual(0);
    }
  });

  it('turns every X, every B/E pair and the b/e async pair into one span each', () => {
    const count = (ph: string) => raw.filter((e) => e.ph === ph).length;
    expect(trace.spans).toHaveLength(count('X') + count('B') + count('b'));
    expect(count('B')).toBe(count('E'));
    // MinorGC comes as B/E; its duration is E.ts - B.ts of the first pair on the main thread.
    const bs = raw.filter((e) => e.ph === 'B' && e.name === 'MinorGC').sort((a, b) => a.ts - b.ts);
    const es = raw.filter((e) => e.ph === 'E' && e.name === 'MinorGC').sort((a, b) => a.ts - b.ts);
    const gc = trace.spans.filter((s) => s.name === 'MinorGC');
    expect(gc).toHaveLength(bs.length);
    expect(gc[0].end - gc[0].start).toBe(Math.round((es[0].ts - bs[0].ts) * 1000));
    // E args merge into the span, as Chrome shows them.
    expect(gc[0].args).toMatchObject({ usedHeapSizeBefore: bs[0].args!.usedHeapSizeBefore, usedHeapSizeAfter: es[0].args!.usedHeapSizeAfter });
    const env = trace.spans.find((s) => s.name === 'Environment')!;
    expect(env.args?.async_id).toBeDefined();
    expect(env.args?.unclosed).toBeUndefined();
    // Nested args survive as JSON text.
    expect(JSON.parse(String(env.args!.args)).exec_args).toContain('--trace-events-enabled');
  });

  it('names lanes from process_name / thread_name metadata, threads under their process', () => {
    const main = raw.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.args!.name === 'JavaScriptMainThread')!;
    const processLane = trace.lanes.find((l) => l.kind === 'process')!;
    expect(processLane).toMatchObject({ name: 'node', pid: main.pid });
    const mainLane = trace.lanes.find((l) => l.name === 'JavaScriptMainThread')!;
    expect(mainLane).toMatchObject({ kind: 'thread', pid: main.pid, tid: main.tid, parent: processLane.id });
    // Only threads that carry events get lanes (the idle workers here have metadata only).
    const laneThreads = new Set(trace.lanes.filter((l) => l.kind === 'thread').map((l) => l.tid));
    const eventThreads = new Set(raw.filter((e) => e.ph !== 'M').map((e) => e.tid));
    expect(laneThreads).toEqual(eventThreads);
  });

  it('keeps the bootstrap instants on their thread, in time order', () => {
    const names = raw.filter((e) => e.ph === 'I').sort((a, b) => a.ts - b.ts).map((e) => e.name);
    expect(trace.instants.map((i) => i.name)).toEqual(names);
    expect(names[0]).toBe('nodeStart');
  });
});

describe('importChrome on a real TypeScript --generateTrace trace (bare array, fractional µs)', () => {
  const file = 'fixtures/chrome/tsc-5.9-generate-trace.json';
  const text = readFileSync(file, 'utf8');
  const raw = JSON.parse(text) as RawEvent[];
  const trace = importChrome(text, file);
  const t0 = Math.min(...raw.filter((e) => e.ph !== 'M').map((e) => e.ts));
  const rel = (us: number) => Math.round((us - t0) * 1000);

  it('imports every X and B/E pair with ns times from the fractional µs', () => {
    expect(() => validateTrace(JSON.parse(serializeTrace(trace)), 'imported')).not.toThrow();
    expect(trace.spans).toHaveLength(raw.filter((e) => e.ph === 'X' || e.ph === 'B').length);
    for (const e of raw.filter((e) => e.ph === 'X')) {
      const span = trace.spans.find((s) => s.name === e.name && s.start === rel(e.ts));
      expect(span, e.name).toBeDefined();
      expect(span!.end - span!.start).toBe(Math.round(e.dur! * 1000));
    }
    const b = raw.find((e) => e.ph === 'B' && e.name === 'createProgram')!;
    const end = raw.filter((e) => e.ph === 'E' && e.name === 'createProgram').sort((x, y) => x.ts - y.ts)[0];
    expect(trace.spans.find((s) => s.name === 'createProgram')).toMatchObject({ start: rel(b.ts), end: rel(end.ts) });
  });

  it('names the process and thread from metadata', () => {
    expect(trace.lanes.map((l) => [l.kind, l.name])).toEqual([
      ['process', 'tsc'],
      ['thread', 'Main'],
    ]);
  });
});

describe('importChrome: shapes, phases and matching', () => {
  it('accepts the bare array form, float µs, counters and process-scoped instants', () => {
    const t = importChrome(
      JSON.stringify([
        { ph: 'M', name: 'process_name', pid: 7, tid: 0, args: { name: 'qemu' } },
        { ph: 'X', name: 'kvm_create_vm', cat: 'toolstack', ts: 1000.5, dur: 2.25, pid: 7, tid: 8 },
        { ph: 'C', name: 'mem', ts: 1001, pid: 7, args: { value: 5, rss: 9 } },
        { ph: 'i', name: 'ready', s: 'p', ts: 1010, pid: 7, tid: 8, args: { phase: 'user', port: 244 } },
      ]),
      'a.json',
    );
    expect(t.spans).toEqual([{ lane: 'p7.t8', name: 'kvm_create_vm', phase: 'toolstack', start: 0, end: 2250 }]);
    expect(t.counters).toEqual([
      { lane: 'p7', name: 'mem', at: 500, value: 5 },
      { lane: 'p7', name: 'mem.rss', at: 500, value: 9 },
    ]);
    expect(t.instants).toEqual([{ lane: 'p7', name: 'ready', phase: 'user', at: 9500, args: { port: 244 } }]);
    expect(t.lanes.map((l) => [l.id, l.kind, l.name])).toEqual([
      ['p7', 'process', 'qemu'],
      ['p7.t8', 'thread', 'tid 8'],
    ]);
  });

  it('keeps sub-µs precision for epoch-based timestamps (ts ~1.7e15 µs)', () => {
    const t = importChrome(
      JSON.stringify([
        { ph: 'X', name: 'a', ts: 1764190000000000, dur: 0.5, pid: 1, tid: 1 },
        { ph: 'i', name: 'b', ts: 1764190000000123.25, pid: 1, tid: 1 },
      ]),
      'epoch.json',
    );
    expect(t.spans[0]).toMatchObject({ start: 0, end: 500 });
    expect(t.instants[0].at).toBe(123_250);
    expect(t.meta.t0ClockUs).toBe(1764190000000000);
  });

  it('takes the phase from a comma-separated category', () => {
    const t = importChrome(JSON.stringify([{ ph: 'X', name: 'vif', cat: 'xen,devices', ts: 0, dur: 1, pid: 1, tid: 1 }]), 'c.json');
    expect(t.spans[0].phase).toBe('devices');
  });

  it('matches B/E per thread as a stack, even when the file is out of time order', () => {
    const t = importChrome(
      JSON.stringify({
        traceEvents: [
          { ph: 'E', ts: 40, pid: 1, tid: 1 },
          { ph: 'B', name: 'outer', ts: 0, pid: 1, tid: 1 },
          { ph: 'B', name: 'inner', ts: 10, pid: 1, tid: 1 },
          { ph: 'B', name: 'other-thread', ts: 15, pid: 1, tid: 2 },
          { ph: 'E', ts: 20, pid: 1, tid: 1 },
          { ph: 'E', ts: 30, pid: 1, tid: 2 },
        ],
      }),
      'b.json',
    );
    expect(t.spans.map((s) => [s.name, s.lane, s.start, s.end])).toEqual([
      ['outer', 'p1.t1', 0, 40000],
      ['inner', 'p1.t1', 10000, 20000],
      ['other-thread', 'p1.t2', 15000, 30000],
    ]);
  });

  it('closes a B left open at the end of the trace and marks it unclosed', () => {
    const t = importChrome(
      JSON.stringify([
        { ph: 'B', name: 'cut-off', ts: 5, pid: 1, tid: 1 },
        { ph: 'X', name: 'later', ts: 10, dur: 20, pid: 1, tid: 2 },
      ]),
      'u.json',
    );
    expect(t.spans.find((s) => s.name === 'cut-off')).toEqual({ lane: 'p1.t1', name: 'cut-off', start: 0, end: 25000, args: { unclosed: true } });
  });

  it('rebuilds the phases lane from a thread named "phases" whose spans are phase names', () => {
    const t = importChrome(
      JSON.stringify([
        { ph: 'M', name: 'thread_name', pid: 1, tid: 3, args: { name: 'phases' } },
        { ph: 'X', name: 'toolstack', ts: 0, dur: 10, pid: 1, tid: 3 },
        { ph: 'X', name: 'kernel', ts: 10, dur: 5, pid: 1, tid: 3 },
      ]),
      'p.json',
    );
    expect(t.lanes.find((l) => l.id === PHASE_LANE_ID)).toMatchObject({ kind: 'phases', name: 'phases' });
    expect(t.spans.map((s) => [s.lane, s.name, s.phase])).toEqual([
      [PHASE_LANE_ID, 'toolstack', 'toolstack'],
      [PHASE_LANE_ID, 'kernel', 'kernel'],
    ]);
    // A "phases" thread with other span names stays an ordinary thread.
    const other = importChrome(
      JSON.stringify([
        { ph: 'M', name: 'thread_name', pid: 1, tid: 3, args: { name: 'phases' } },
        { ph: 'X', name: 'compile', ts: 0, dur: 10, pid: 1, tid: 3 },
      ]),
      'q.json',
    );
    expect(other.lanes.some((l) => l.kind === 'phases')).toBe(false);
  });

  it('reads back an hvscope Chrome export: the phases lane, span phases and ns times', () => {
    const original = emptyTrace({ source: 'synthetic-roundtrip', clock: 'monotonic' });
    original.lanes.push({ id: 'q', kind: 'process', name: 'qemu' });
    original.spans.push({ lane: 'q', name: 'init', phase: 'toolstack', start: 1_001, end: 20_000_333, args: { k: 1 } });
    setSyntheticPhases(original, [{ phase: 'toolstack', at: 1_001 }, { phase: 'kernel', at: 20_000_333 }], 90_000_000);
    const back = importChrome(JSON.stringify(exportChrome([{ label: 'r', trace: original }])), 'export.json');
    expect(back.lanes.find((l) => l.id === PHASE_LANE_ID)).toMatchObject({ kind: 'phases', name: 'phases' });
    // Times come back relative to the earliest event (1001 ns); the exported lane is the evidence of the phases.
    const times = (p: { phase: string; start: number; end: number }, shift = 0) => [p.phase, p.start + shift, p.end + shift];
    expect(phaseBreakdown(back).map((p) => times(p, 1_001))).toEqual(phaseBreakdown(original).map((p) => times(p)));
    expect(phaseBreakdown(back)[0].start_evidence).toMatchObject({ marker: 'recorded phase boundary (toolstack-start)', source: 'chrome phases lane' });
    expect(back.spans.find((s) => s.name === 'init')).toMatchObject({ phase: 'toolstack', start: 0, end: 19_999_332, args: { k: 1 } });
  });

  it('imports an empty event list as an empty, valid trace', () => {
    const t = importChrome('{"traceEvents": []}', 'empty.json');
    expect([t.lanes, t.spans, t.instants, t.counters]).toEqual([[], [], [], []]);
    expect(() => validateTrace(JSON.parse(serializeTrace(t)), 'empty')).not.toThrow();
  });

  it('lists event kinds it does not import in meta.unavailable', () => {
    const t = importChrome(
      JSON.stringify([
        { ph: 'X', name: 'a', ts: 0, dur: 1, pid: 1, tid: 1 },
        { ph: 's', name: 'flow', id: 1, ts: 0, pid: 1, tid: 1 },
        { ph: 's', name: 'flow', id: 2, ts: 0, pid: 1, tid: 1 },
      ]),
      'f.json',
    );
    expect(t.meta.unavailable).toEqual([expect.objectContaining({ what: '2 Chrome event(s) with ph "s"' })]);
  });
});

describe('importChrome: malformed input', () => {
  it('names the line of a JSON syntax error', () => {
    const text = '{"traceEvents": [\n  {"ph": "X", "name": "a", "ts": 1, "dur": 2, "pid": 1, "tid": 1},\n  {"ph": "X",, }\n]}';
    expect(userErrorOf(() => importChrome(text, 'bad.json'))).toMatch(/^bad\.json:3: not valid JSON/);
  });

  it('accepts the array form without its closing bracket, as the format allows', () => {
    const text = '[{"ph": "X", "name": "a", "ts": 1, "dur": 2, "pid": 1, "tid": 1},\n{"ph": "X", "name": "b", "ts": 4, "dur": 1, "pid": 1, "tid": 1},\n';
    expect(importChrome(text, 'cut.json').spans.map((s) => s.name)).toEqual(['a', 'b']);
    // A real syntax error in such a file is still reported with its line.
    expect(userErrorOf(() => importChrome('[{"ph": "X"},\n{"ph" 1}', 'cut2.json'))).toMatch(/^cut2\.json:2: not valid JSON/);
  });

  it('names the JSON path of a bad field', () => {
    const events = Array.from({ length: 13 }, (_, i) => ({ ph: 'X', name: `s${i}`, ts: i, dur: 1, pid: 1, tid: 1 }));
    (events[12] as Record<string, unknown>).ts = '12';
    expect(userErrorOf(() => importChrome(JSON.stringify({ traceEvents: events }), 't.json'))).toBe(
      't.json: traceEvents[12].ts: expected a number',
    );
    expect(userErrorOf(() => importChrome(JSON.stringify([{ ph: 'X', name: 'a', ts: 0, pid: 1, tid: 1 }]), 'd.json'))).toBe(
      'd.json: [0].dur: expected a number',
    );
    expect(userErrorOf(() => importChrome(JSON.stringify([{ ph: 'X', name: 'a', ts: 0, dur: -1, pid: 1, tid: 1 }]), 'n.json'))).toBe(
      'n.json: [0].dur: expected a duration >= 0, got -1',
    );
    expect(userErrorOf(() => importChrome(JSON.stringify([{ ph: 'C', name: 'c', ts: 0, pid: 1, args: { v: 'x' } }]), 'c.json'))).toBe(
      'c.json: [0].args.v: expected a number (counter value)',
    );
    expect(userErrorOf(() => importChrome('{"events": []}', 'o.json'))).toMatch(/^o\.json: \(top level\): expected an array/);
  });

  it('rejects an E with no open B on its thread', () => {
    const text = JSON.stringify({
      traceEvents: [
        { ph: 'B', name: 'a', ts: 0, pid: 1, tid: 1 },
        { ph: 'E', ts: 5, pid: 1, tid: 2 },
      ],
    });
    expect(userErrorOf(() => importChrome(text, 'e.json'))).toBe('e.json: traceEvents[1]: "E" event with no open "B" on pid 1 tid 2');
  });
});
