import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chromeTraceViolations } from '../../test/helpers/chrome-trace-rules.js';
import { readTrace } from '../model/io.js';
import { emptyTrace, PHASE_LANE_ID, type Run, type Span } from '../model/trace.js';
import { importChrome } from '../sources/chrome.js';
import { phaseBreakdown } from '../analysis/phases.js';
import { exportChrome, nestedTracks, type ChromeEvent } from './chrome.js';
import { fixtureTraces, setSyntheticPhases } from '../../test/helpers/fixtures.js';

/** A synthetic QEMU-like run: phases lane, nested spans, one partial overlap, instants, counters. */
function syntheticRun(label: string): Run {
  const trace = emptyTrace({ source: 'synthetic-export', clock: 'monotonic', hypervisor: 'qemu 7.2 tcg' });
  trace.lanes.push(
    { id: 'qemu', kind: 'process', name: 'qemu-system-x86_64', pid: 100 },
    { id: 'vcpu0', kind: 'thread', name: 'CPU 0/TCG', pid: 100, tid: 101, parent: 'qemu' },
  );
  trace.spans.push(
    { lane: 'qemu', name: 'qemu_init', phase: 'toolstack', start: 1_500, end: 34_200_500, args: { machine: 'microvm' } },
    { lane: 'qemu', name: 'kvm_create_vm', phase: 'toolstack', start: 2_000, end: 9_000 },
    // Starts inside qemu_init and ends after it: a partial overlap that must go to a second thread.
    { lane: 'qemu', name: 'tap_open', phase: 'devices', start: 30_000_000, end: 40_000_000 },
    { lane: 'vcpu0', name: 'seabios', phase: 'firmware', start: 34_200_500, end: 43_100_000 },
    { lane: 'vcpu0', name: 'linux', phase: 'kernel', start: 43_100_000, end: 121_900_000 },
    { lane: 'vcpu0', name: 'zero', start: 50_000_000, end: 50_000_000 },
  );
  trace.instants.push(
    { lane: 'vcpu0', name: 'port 0xf4: 6', phase: 'kernel', at: 43_100_000, args: { code: 6 } },
    { lane: 'qemu', name: 'runstate running', at: 34_200_500 },
  );
  trace.counters.push(
    { lane: 'qemu', name: 'rss_kb', at: 0, value: 1000 },
    { lane: 'vcpu0', name: 'rss_kb', at: 1000, value: 2000 },
    { lane: 'vcpu0', name: 'exits', at: 1000, value: 7 },
  );
  setSyntheticPhases(
    trace,
    [
      { phase: 'toolstack', at: 0 },
      { phase: 'firmware', at: 34_200_500 },
      { phase: 'kernel', at: 43_100_000 },
    ],
    121_900_000,
  );
  return { label, trace };
}

const byName = (events: ChromeEvent[], ph: string, name: string) => events.filter((e) => e.ph === ph && e.name === name);
const threadName = (events: ChromeEvent[], pid: number, tid: number) =>
  events.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.pid === pid && e.tid === tid)?.args?.name;

describe('exportChrome', () => {
  const runs = [syntheticRun('baseline'), syntheticRun('tuned')];
  const out = exportChrome(runs);

  it('follows the Trace Event rules (independent checker)', () => {
    expect(chromeTraceViolations(out)).toEqual([]);
    expect(out.displayTimeUnit).toBe('ms');
  });

  it('gives each run a process named by its label and each lane a named thread', () => {
    const processes = out.traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => [e.pid, e.args!.name]);
    expect(processes).toEqual([
      [1, 'baseline'],
      [2, 'tuned'],
    ]);
    const threads = out.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.pid === 1).map((e) => e.args!.name);
    expect(threads).toEqual(['phases', 'qemu-system-x86_64', 'qemu-system-x86_64 (2)', 'CPU 0/TCG']);
  });

  it('moves the partially overlapping span to the lane\'s extra thread and keeps ns precision in µs', () => {
    const tap = byName(out.traceEvents, 'X', 'tap_open').find((e) => e.pid === 1)!;
    expect(threadName(out.traceEvents, 1, tap.tid)).toBe('qemu-system-x86_64 (2)');
    const init = byName(out.traceEvents, 'X', 'qemu_init').find((e) => e.pid === 1)!;
    expect(threadName(out.traceEvents, 1, init.tid)).toBe('qemu-system-x86_64');
    expect(init.ts).toBe(1.5);
    expect(init.dur).toBe(34_199);
    expect(init.cat).toBe('toolstack');
    expect(init.args).toEqual({ machine: 'microvm', phase: 'toolstack' });
    const zero = byName(out.traceEvents, 'X', 'zero')[0];
    expect(zero.dur).toBe(0);
  });

  it('exports every span, instant and counter once per run with its time', () => {
    for (const run of runs) {
      const pid = runs.indexOf(run) + 1;
      const xs = out.traceEvents.filter((e) => e.ph === 'X' && e.pid === pid);
      expect(xs.map((e) => [e.name, Math.round(e.ts! * 1000), Math.round((e.ts! + e.dur!) * 1000)]).sort()).toEqual(
        run.trace.spans.map((s) => [s.name, s.start, s.end]).sort(),
      );
      const instants = out.traceEvents.filter((e) => e.ph === 'i' && e.pid === pid);
      expect(instants.map((e) => [e.name, e.s, e.ts])).toEqual([
        ['runstate running', 't', 34_200.5],
        ['port 0xf4: 6', 't', 43_100],
      ]);
    }
    // rss_kb is on two lanes: names are kept apart so the process's counter track does not mix them.
    const counters = out.traceEvents.filter((e) => e.ph === 'C' && e.pid === 1).map((e) => [e.name, e.ts, e.args]);
    expect(counters).toEqual([
      ['qemu-system-x86_64/rss_kb', 0, { value: 1000 }],
      ['CPU 0/TCG/rss_kb', 1, { value: 2000 }],
      ['exits', 1, { value: 7 }],
    ]);
  });

  it('is deterministic: same output again and whatever the span order in the trace', () => {
    expect(JSON.stringify(exportChrome(runs))).toBe(JSON.stringify(out));
    const shuffled = syntheticRun('baseline');
    shuffled.trace.spans.reverse();
    expect(JSON.stringify(exportChrome([shuffled]).traceEvents)).toBe(
      JSON.stringify(exportChrome([syntheticRun('baseline')]).traceEvents),
    );
  });

  it('keeps random synthetic spans valid and complete (seeded, 200 spans over 3 lanes)', () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const trace = emptyTrace({ source: 'synthetic-random', clock: 'monotonic' });
    for (const id of ['a', 'b', 'c']) trace.lanes.push({ id, kind: 'thread', name: id });
    for (let i = 0; i < 200; i++) {
      const start = rand(1_000_000);
      trace.spans.push({ lane: ['a', 'b', 'c'][rand(3)], name: `s${i}`, start, end: start + rand(200_000) });
    }
    const exported = exportChrome([{ label: 'random', trace }]);
    expect(chromeTraceViolations(exported)).toEqual([]);
    expect(exported.traceEvents.filter((e) => e.ph === 'X')).toHaveLength(200);
    // The data overlaps partially, so the split into extra threads was exercised.
    const names = exported.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args!.name);
    expect(names).toContain('a (2)');
  });

  it.each(['fixtures/chrome/node-20-startup.json', 'fixtures/chrome/tsc-5.9-generate-trace.json'])(
    'exports a real imported Chrome trace (%s) validly',
    (file) => {
      const trace = importChrome(readFileSync(file, 'utf8'), file);
      const exported = exportChrome([{ label: 'real', trace }]);
      expect(chromeTraceViolations(exported)).toEqual([]);
      expect(exported.traceEvents.filter((e) => e.ph === 'X')).toHaveLength(trace.spans.length);
    },
  );
});

describe('nestedTracks', () => {
  const span = (name: string, start: number, end: number): Span => ({ lane: 'l', name, start, end });

  it('keeps nested and back-to-back spans on one track, identical ones nested', () => {
    const tracks = nestedTracks([span('b', 10, 20), span('a', 0, 100), span('c', 20, 20), span('d', 0, 100)]);
    expect(tracks.map((t) => t.map((s) => s.name))).toEqual([['a', 'd', 'b', 'c']]);
  });

  it('opens a second track only for the span that overlaps partially', () => {
    const tracks = nestedTracks([span('a', 0, 10), span('b', 5, 15), span('c', 10, 20), span('d', 12, 14)]);
    expect(tracks.map((t) => t.map((s) => s.name))).toEqual([['a', 'c', 'd'], ['b']]);
  });
});

// The real QEMU recordings (fixtures/qemu-tcg-*/run.hvtrace.json) must be there: a missing one fails.
const fixtures = fixtureTraces();
describe('exportChrome on recorded fixtures', () => {
  it('finds the recorded QEMU fixtures', () => expect(fixtures.filter((f) => f.includes('qemu-tcg-')).length).toBeGreaterThanOrEqual(2));
  it.each(fixtures)('%s exports to a valid Chrome trace with every span', (file) => {
    const trace = readTrace(file);
    const exported = exportChrome([{ label: file, trace }]);
    expect(chromeTraceViolations(exported)).toEqual([]);
    expect(exported.traceEvents.filter((e) => e.ph === 'X')).toHaveLength(trace.spans.length);
    // Read back, the phase durations are the recorded ones.
    const back = importChrome(JSON.stringify(exported), 'export.json');
    expect(phaseBreakdown(back).map((p) => [p.phase, p.duration])).toEqual(phaseBreakdown(trace).map((p) => [p.phase, p.duration]));
  });
});
