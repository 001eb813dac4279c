import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chromeTraceViolations } from '../../test/helpers/chrome-trace-rules.js';
import { readTrace } from '../model/io.js';
import { emptyTrace, PHASE_LANE_ID, type Run, type Span } from '../model/trace.js';
import { importChrome } from '../sources/chrome.js';
import { phaseBreakdown } from '../analysis/phases.js';
import { exportChrome, nestedTracks, SYNTHETIC_ID_BASE, type ChromeEvent } from './chrome.js';
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
const meta = (events: ChromeEvent[], name: string) => events.filter((e) => e.ph === 'M' && e.name === name);
/** pid → process name, and pid → run label (process_labels). */
const processes = (events: ChromeEvent[]) => new Map(meta(events, 'process_name').map((e) => [e.pid, e.args!.name as string]));
const runOf = (events: ChromeEvent[]) => new Map(meta(events, 'process_labels').map((e) => [e.pid, e.args!.labels as string]));

describe('exportChrome', () => {
  const runs = [syntheticRun('baseline'), syntheticRun('tuned')];
  const out = exportChrome(runs);
  const pidOf = (run: string, name: string) => [...processes(out.traceEvents)].find(([pid, n]) => n === name && runOf(out.traceEvents).get(pid) === run)![0];

  it('follows the Trace Event rules (independent checker)', () => {
    expect(chromeTraceViolations(out)).toEqual([]);
    expect(out.displayTimeUnit).toBe('ms');
  });

  it('exports a process by its real pid with its real threads, labelled with the run; lanes without a pid under the run', () => {
    expect(pidOf('baseline', 'qemu-system-x86_64')).toBe(100);
    expect(threadName(out.traceEvents, 100, 100)).toBe('qemu-system-x86_64');
    expect(threadName(out.traceEvents, 100, 101)).toBe('CPU 0/TCG');
    const runPid = pidOf('baseline', 'baseline');
    expect(runPid).toBeGreaterThanOrEqual(SYNTHETIC_ID_BASE);
    const phases = meta(out.traceEvents, 'thread_name').find((e) => e.pid === runPid)!;
    expect(phases.args).toEqual({ name: 'phases', hvscope_lane_kind: 'phases' });
    // Every process carries its run's label.
    for (const pid of processes(out.traceEvents).keys()) expect(['baseline', 'tuned']).toContain(runOf(out.traceEvents).get(pid));
  });

  it('gives a pid an earlier run used a fresh id, with the real pid in its name', () => {
    const tuned = pidOf('tuned', 'qemu-system-x86_64 (pid 100)');
    expect(tuned).toBeGreaterThanOrEqual(SYNTHETIC_ID_BASE);
    expect(threadName(out.traceEvents, tuned, 101)).toBe('CPU 0/TCG');
  });

  it('moves the partially overlapping span to an extra thread of its process and keeps ns precision in µs', () => {
    const tap = byName(out.traceEvents, 'X', 'tap_open').find((e) => e.pid === 100)!;
    expect(threadName(out.traceEvents, 100, tap.tid)).toBe('qemu-system-x86_64 (2)');
    const init = byName(out.traceEvents, 'X', 'qemu_init').find((e) => e.pid === 100)!;
    expect(init.tid).toBe(100);
    expect(init.ts).toBe(1.5);
    expect(init.dur).toBe(34_199);
    expect(init.cat).toBe('toolstack');
    expect(init.args).toEqual({ machine: 'microvm', phase: 'toolstack' });
    const zero = byName(out.traceEvents, 'X', 'zero')[0];
    expect(zero.dur).toBe(0);
  });

  it('exports every span, instant and counter once per run with its time', () => {
    const labels = runOf(out.traceEvents);
    for (const run of runs) {
      const mine = out.traceEvents.filter((e) => e.ph !== 'M' && labels.get(e.pid) === run.label);
      const xs = mine.filter((e) => e.ph === 'X');
      expect(xs.map((e) => [e.name, Math.round(e.ts! * 1000), Math.round((e.ts! + e.dur!) * 1000)]).sort()).toEqual(
        run.trace.spans.map((s) => [s.name, s.start, s.end]).sort(),
      );
      expect(mine.filter((e) => e.ph === 'i').map((e) => [e.name, e.s, e.ts, threadName(out.traceEvents, e.pid, e.tid)])).toEqual([
        ['runstate running', 't', 34_200.5, 'qemu-system-x86_64'],
        ['port 0xf4: 6', 't', 43_100, 'CPU 0/TCG'],
      ]);
    }
    // rss_kb is on two lanes of one process: names are kept apart so its counter track does not mix them.
    const counters = out.traceEvents.filter((e) => e.ph === 'C' && e.pid === 100).map((e) => [e.name, e.ts, e.args]);
    expect(counters).toEqual([
      ['qemu-system-x86_64/rss_kb', 0, { value: 1000 }],
      ['CPU 0/TCG/rss_kb', 1, { value: 2000 }],
      ['exits', 1, { value: 7 }],
    ]);
  });

  it('joins a parent process to each child it started, and a request to its reply, with flow events', () => {
    const trace = emptyTrace({ source: 'synthetic-flows', clock: 'monotonic' });
    trace.lanes.push(
      { id: 'pid:10', kind: 'process', name: 'libvirtd [10]', pid: 10 },
      { id: 'pid:10/12', kind: 'thread', name: 'rpc-worker', pid: 10, tid: 12, parent: 'pid:10' },
      { id: 'pid:20', kind: 'process', name: 'qemu [20]', pid: 20 },
    );
    trace.spans.push(
      { lane: 'pid:10', name: 'libvirtd', start: 0, end: 100_000 },
      { lane: 'pid:20', name: 'qemu-system-x86_64', start: 10_000, end: 90_000, args: { pid: 20, ppid: 10 } },
      { lane: 'pid:10/12', name: 'qmp query-status', start: 20_000, end: 30_000, args: { qmpId: 'synthetic-7' } },
      { lane: 'pid:20', name: 'qmp dispatch query-status', start: 22_000, end: 24_000, args: { qmpId: 'synthetic-7' } },
      { lane: 'pid:10/12', name: 'qmp reply query-status', start: 29_000, end: 30_000, args: { qmpId: 'synthetic-7' } },
    );
    const exported = exportChrome([{ label: 'synthetic-flows', trace }]);
    expect(chromeTraceViolations(exported)).toEqual([]);
    const steps = exported.traceEvents.filter((e) => e.ph === 's' || e.ph === 't' || e.ph === 'f');
    const fork = steps.filter((e) => e.cat === 'process').map((e) => [e.ph, e.pid, e.tid, e.ts]);
    expect(fork).toEqual([
      ['s', 10, 10, 10],
      ['f', 20, 20, 10],
    ]);
    const qmp = steps.filter((e) => e.cat === 'qmp').map((e) => [e.ph, e.pid, e.tid, e.ts]);
    expect(qmp).toEqual([
      ['s', 10, 12, 20],
      ['t', 20, 20, 22],
      ['f', 10, 12, 29],
    ]);
    expect(new Set(steps.filter((e) => e.cat === 'qmp').map((e) => e.id)).size).toBe(1);
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
describe('exportChrome of a real Xen domain creation', () => {
  const file = 'fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json';
  const trace = readTrace(file);
  const exported = exportChrome([{ label: 'xl-create', trace }]);

  it('passes the checker: every process and thread named, nested spans stacked, flows bound', () => {
    expect(chromeTraceViolations(exported)).toEqual([]);
  });

  it('has one process per real pid, with its threads, and the run as its label', () => {
    const pids = new Set(trace.lanes.filter((l) => l.pid !== undefined).map((l) => l.pid!));
    const named = processes(exported.traceEvents);
    const real = [...named.keys()].filter((pid) => pid < SYNTHETIC_ID_BASE);
    expect(new Set(real)).toEqual(pids);
    expect(named.get(506)).toBe('xl [506]');
    expect(named.get(525)).toBe('vif-bridge [525]');
    expect(named.get(140)).toBe('pid 140'); // xenconsoled: only its console fd was traced
    for (const pid of named.keys()) expect(runOf(exported.traceEvents).get(pid)).toBe('xl-create');
    // Each process lane's spans are on its main thread (tid = pid) or its extra tracks.
    for (const lane of trace.lanes.filter((l) => l.kind === 'process')) {
      const xs = exported.traceEvents.filter((e) => e.ph === 'X' && e.pid === lane.pid);
      expect(xs.length).toBe(trace.spans.filter((s) => s.lane === lane.id).length);
      expect(xs.some((e) => e.tid === lane.pid)).toBe(xs.length > 0);
    }
    // The phases strip is in the run's own process.
    const phases = meta(exported.traceEvents, 'thread_name').find((e) => e.args!.hvscope_lane_kind === 'phases')!;
    expect(named.get(phases.pid)).toBe('xl-create');
  });

  it('draws a flow from each parent process to each child it started', () => {
    const forks = exported.traceEvents.filter((e) => e.cat === 'process' && e.ph === 'f').map((e) => e.pid);
    const children = trace.spans.filter((s) => typeof s.args?.ppid === 'number' && trace.lanes.some((l) => l.kind === 'process' && l.pid === s.args!.ppid));
    expect(new Set(forks)).toEqual(new Set(children.map((s) => trace.lanes.find((l) => l.id === s.lane)!.pid)));
    expect(forks).toContain(525); // xl → the vif-bridge hotplug script
  });
});

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
